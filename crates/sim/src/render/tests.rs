use super::*;
use mapfix_core::{Attitude, Distortion, Geodetic, Intrinsics, LocalFrame, Mount};
use mapfix_map::{
    Building, LaneLine, LineColor, LineStyle, Mounting, Pole, Polyline, Sign, SignClass,
    Underground,
};

fn line(id: &str, level: i32, points: &[[f64; 3]]) -> Polyline {
    Polyline {
        id: id.into(),
        level,
        points: points.iter().map(|p| Vec3::new(p[0], p[1], p[2])).collect(),
    }
}

fn sign(id: &str, class: u8, at: [f64; 3], facing_deg: f64, mounting: Mounting) -> Sign {
    Sign {
        id: id.into(),
        level: if at[2] < -1.0 { -1 } else { 0 },
        class: SignClass::Gtsrb(class),
        position: Vec3::new(at[0], at[1], at[2]),
        width: 0.6,
        height: if matches!(class, 11 | 13 | 18..=31) {
            0.53
        } else {
            0.6
        },
        facing: facing_deg.to_radians(),
        mounting,
    }
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64, z: f64) -> Vec<Vec3> {
    vec![
        Vec3::new(x0, y0, z),
        Vec3::new(x1, y0, z),
        Vec3::new(x1, y1, z),
        Vec3::new(x0, y1, z),
    ]
}

/// A straight two-lane street running east with parking strips, signs facing westbound
/// readers (drivers heading east), buildings on both sides and an underground car park.
pub(super) fn street_map() -> Map {
    let mut map = Map::new(
        "test street",
        LocalFrame::new(Geodetic::from_degrees(49.0, 8.4, 110.0)),
    );
    let (x0, x1) = (-100.0, 180.0);
    map.lane_lines.push(LaneLine {
        line: line("centre", 0, &[[x0, 0.0, 0.0], [x1, 0.0, 0.0]]),
        style: LineStyle::Dashed,
        color: LineColor::White,
    });
    for (id, y) in [("left", 3.4), ("right", -3.4)] {
        map.lane_lines.push(LaneLine {
            line: line(id, 0, &[[x0, y, 0.0], [x1, y, 0.0]]),
            style: LineStyle::Solid,
            color: LineColor::White,
        });
    }
    map.road_edges
        .push(line("edge-n", 0, &[[x0, 5.8, 0.0], [x1, 5.8, 0.0]]));
    map.road_edges
        .push(line("edge-s", 0, &[[x0, -5.8, 0.0], [x1, -5.8, 0.0]]));
    map.stop_lines
        .push(line("stop", 0, &[[120.0, -3.4, 0.0], [120.0, 0.0, 0.0]]));
    let classes = [2u8, 14, 13, 12, 25, 38, 1, 17];
    for (k, class) in classes.iter().enumerate() {
        let x = 20.0 + 14.0 * k as f64;
        map.signs.push(sign(
            &format!("s{k}"),
            *class,
            [x, -6.6, 2.2],
            270.0,
            Mounting::Pole,
        ));
    }
    map.signs.push(sign(
        "gantry",
        35,
        [70.0, -1.7, 5.2],
        270.0,
        Mounting::Overhead,
    ));
    for k in 0..8 {
        let x = -60.0 + 30.0 * k as f64;
        map.poles.push(Pole {
            id: format!("lamp{k}"),
            level: 0,
            base: Vec3::new(x, 6.5, 0.0),
            height: 7.0,
        });
        for (side, y0, y1) in [("n", 9.0, 20.0), ("s", -20.0, -9.0)] {
            map.buildings.push(Building {
                id: format!("b{k}{side}"),
                footprint: rect(x - 12.0, y0, x + 12.0, y1, 0.0),
                height: 9.0 + 3.0 * (k % 3) as f64,
            });
        }
    }
    // Underground car park far east with its own lanes, pillars and a ceiling-hung sign.
    map.underground.push(Underground {
        id: "park".into(),
        level: -1,
        outline: rect(300.0, -12.0, 400.0, 12.0, -6.0),
        ceiling: -2.5,
    });
    map.lane_lines.push(LaneLine {
        line: line("park-lane", -1, &[[300.0, 0.0, -6.0], [400.0, 0.0, -6.0]]),
        style: LineStyle::Dashed,
        color: LineColor::Yellow,
    });
    for k in 0..6 {
        for y in [-5.0, 5.0] {
            map.poles.push(Pole {
                id: format!("pillar{k}{y}"),
                level: -1,
                base: Vec3::new(310.0 + 16.0 * k as f64, y, -6.0),
                height: 3.5,
            });
        }
    }
    map.signs.push(sign(
        "park-sign",
        3,
        [330.0, -1.5, -3.2],
        270.0,
        Mounting::Ceiling,
    ));
    map
}

pub(super) fn camera(distortion: Distortion) -> CameraModel {
    CameraModel {
        intrinsics: Intrinsics {
            width: 640,
            height: 360,
            fx: 520.0,
            fy: 520.0,
            cx: 319.5,
            cy: 179.5,
        },
        distortion,
        mount: Mount {
            position: Vec3::new(1.5, 0.0, 1.35),
            attitude: Attitude {
                roll: 0.0,
                pitch: 2f64.to_radians(),
                yaw: 0.0,
            },
        },
        fps: 30.0,
    }
}

pub(super) fn pose_east(x: f64, y: f64, z: f64) -> Pose {
    Pose::new(
        Vec3::new(x, y, z),
        Attitude::from_heading(90f64.to_radians(), 0.0, 0.0),
    )
}

fn pixel_hash(image: &image::RgbImage) -> u64 {
    image.as_raw().iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn same_seed_same_pixels() {
    let scene = Scene::build(&street_map(), 7);
    let conditions = Conditions::preset(ConditionsPreset::Rain);
    let cam = camera(Distortion::default());
    let pose = pose_east(0.0, -1.7, 0.0);
    let a = scene.render(&cam, &pose, &conditions, 42);
    let b = Scene::build(&street_map(), 7).render(&cam, &pose, &conditions, 42);
    let c = scene.render(&cam, &pose, &conditions, 43);
    assert_eq!(pixel_hash(&a.image), pixel_hash(&b.image));
    assert_eq!(a.signs, b.signs);
    assert_ne!(
        pixel_hash(&a.image),
        pixel_hash(&c.image),
        "frame seed drives noise and rain"
    );
}

/// Finds where the face's texture centre (s, t) = (½, ½) is drawn in the output image:
/// an affine fit of texture coordinates over the output pixels around `guess` that show
/// the face, inverted.
fn drawn_face_centre(buf: &FrameBuffers, slot: u32, width: usize, guess: [f64; 2]) -> [f64; 2] {
    let lens = buf.lens.as_ref().unwrap();
    let lookup = lens
        .lookup
        .as_ref()
        .expect("a distorting camera uses the lookup table");
    // Normal equations of [s, t] = A·[u, v, 1].
    let mut ata = nalgebra::Matrix3::<f64>::zeros();
    let mut atb = nalgebra::Matrix3x2::<f64>::zeros();
    let mut used = 0;
    for dv in -4..=4 {
        for du in -4..=4 {
            let (u, v) = (guess[0].round() as i64 + du, guess[1].round() as i64 + dv);
            let [x, y] = lookup[v as usize * width + u as usize];
            let i = y.round() as usize * lens.width + x.round() as usize;
            let id = buf.ids[i];
            if id == 0 || buf.shades[id as usize - 1].sign_slot != slot {
                continue;
            }
            let tri = &buf.shades[id as usize - 1];
            let ray_at = |x: f32, y: f32| {
                [
                    ((x - lens.cx) / lens.fx) as f64,
                    ((y - lens.cy) / lens.fy) as f64,
                    1.0,
                ]
            };
            let n = tri.normal.map(|c| c as f64);
            let near = ray_at(x.round(), y.round());
            let k = (n[0] * near[0] + n[1] * near[1] + n[2]) / buf.depth[i] as f64;
            let ray = ray_at(x, y);
            let t = k / (n[0] * ray[0] + n[1] * ray[1] + n[2]);
            let p = ray.map(|c| c * t);
            let map = |m: [f32; 4]| {
                m[0] as f64 * p[0] + m[1] as f64 * p[1] + m[2] as f64 * p[2] + m[3] as f64
            };
            let row = nalgebra::Vector3::new(u as f64, v as f64, 1.0);
            ata += row * row.transpose();
            atb += row * nalgebra::RowVector2::new(map(tri.u_map), map(tri.v_map));
            used += 1;
        }
    }
    assert!(
        used > 20,
        "the face covers the neighbourhood of its centre ({used} pixels)"
    );
    let a = ata.try_inverse().unwrap() * atb; // 3×2: columns s and t
    let m = nalgebra::Matrix2::new(a[(0, 0)], a[(1, 0)], a[(0, 1)], a[(1, 1)]);
    let rhs = nalgebra::Vector2::new(0.5 - a[(2, 0)], 0.5 - a[(2, 1)]);
    let uv = m.try_inverse().unwrap() * rhs;
    [uv.x, uv.y]
}

#[test]
fn sign_centres_land_on_their_projection_through_strong_distortion() {
    let mut map = street_map();
    map.signs.retain(|s| s.level == 0);
    for s in &mut map.signs {
        s.width = 1.2;
        s.height = 1.2;
    }
    let scene = Scene::build(&map, 1);
    let cam = camera(Distortion {
        k1: -0.32,
        k2: 0.11,
        p1: 0.002,
        p2: -0.0015,
        k3: -0.015,
    });
    let mut conditions = Conditions::preset(ConditionsPreset::Day);
    conditions.sign_tilt = 0.15;
    let mut checked = 0;
    for x in [0.0, 8.0, 15.0] {
        let pose = pose_east(x, -1.7, 0.0);
        let mut buf = FrameBuffers::default();
        let frame = scene.render_with(
            &mut buf,
            &cam,
            &pose,
            &conditions,
            1,
            &FrameExtras::default(),
        );
        for sv in &frame.signs {
            let Some(centre) = cam.project(&pose, &scene.drawn().signs[sv.sign_index].position)
            else {
                continue;
            };
            let inside =
                centre[0] > 10.0 && centre[1] > 10.0 && centre[0] < 629.0 && centre[1] < 349.0;
            if !inside || sv.visible < 0.99 || sv.bbox[2] - sv.bbox[0] < 14.0 {
                continue;
            }
            let slot = buf
                .frame_signs
                .iter()
                .position(|f| scene.world.signs[f.board].sign_index == sv.sign_index)
                .unwrap() as u32;
            let drawn = drawn_face_centre(&buf, slot, 640, centre);
            let error = ((drawn[0] - centre[0]).powi(2) + (drawn[1] - centre[1]).powi(2)).sqrt();
            assert!(
                error < 0.5,
                "sign {} drawn at {drawn:?}, projects to {centre:?} ({error:.3} px)",
                sv.sign_index
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "checked {checked} signs");
}

#[test]
fn occluded_signs_are_partly_visible_and_hidden_ones_absent() {
    let mut map = street_map();
    map.signs.truncate(2);
    // A wall half across the first sign's line of sight, and a building hiding the second.
    let s0 = map.signs[0].position;
    let pose = pose_east(0.0, -1.7, 0.0);
    let eye = camera(Distortion::default())
        .world_from_camera(&pose)
        .position;
    let wall_x = s0.x - 5.0;
    let sight_y = eye.y + (s0.y - eye.y) * (wall_x - eye.x) / (s0.x - eye.x);
    map.buildings.push(Building {
        id: "half".into(),
        footprint: rect(wall_x, sight_y, wall_x + 0.2, sight_y + 2.0, 0.0),
        height: 4.0,
    });
    let s1 = map.signs[1].position;
    map.buildings.push(Building {
        id: "hide".into(),
        footprint: rect(s1.x - 6.0, -9.0, s1.x - 5.0, 0.5, 0.0),
        height: 6.0,
    });
    let scene = Scene::build(&map, 3);
    let cam = camera(Distortion::default());
    let frame = scene.render(&cam, &pose, &Conditions::preset(ConditionsPreset::Day), 0);
    let first = frame
        .signs
        .iter()
        .find(|s| s.sign_index == 0)
        .expect("the half-hidden sign is listed");
    assert!(
        first.visible > 0.05 && first.visible < 0.95,
        "visible share {}",
        first.visible
    );
    assert!(
        frame.signs.iter().all(|s| s.sign_index != 1),
        "the hidden sign is not listed: {:?}",
        frame.signs
    );

    // Without the occluders, the same sign is fully visible.
    let open = Scene::build(&street_map(), 3).render(
        &cam,
        &pose,
        &Conditions::preset(ConditionsPreset::Day),
        0,
    );
    let first = open.signs.iter().find(|s| s.sign_index == 0).unwrap();
    assert!(first.visible > 0.98, "unoccluded share {}", first.visible);
}

#[test]
fn other_vehicles_are_drawn_where_placed_and_hide_what_is_behind_them() {
    let mut map = street_map();
    map.signs.truncate(1);
    // A low sign, so that a car's body can stand in front of it.
    map.signs[0].position.z = 1.0;
    let scene = Scene::build(&map, 3);
    let cam = camera(Distortion::default());
    let pose = pose_east(0.0, -1.7, 0.0);
    let day = Conditions::preset(ConditionsPreset::Day);
    let eye = cam.world_from_camera(&pose).position;
    let sign = scene.drawn().signs[0].position;
    // Halfway along the line of sight, driving east.
    let mid = eye.lerp(&sign, 0.5);
    let car = OtherVehicle {
        pose: Pose::new(
            Vec3::new(mid.x, mid.y, 0.0),
            Attitude::from_heading(90f64.to_radians(), 0.0, 0.0),
        ),
        model: 5,
    };
    let probes = [sign, Vec3::new(40.0, -1.7, 0.0)];
    let render = |traffic: &[OtherVehicle]| {
        let extras = FrameExtras {
            traffic,
            probes: &probes,
        };
        scene.render_frame(&cam, &pose, &day, 0, &extras)
    };
    let (open, blocked) = (render(&[]), render(&[car]));
    let seen = |frame: &RenderedFrame| {
        frame
            .signs
            .iter()
            .find(|s| s.sign_index == 0)
            .map_or(0.0, |s| s.visible)
    };
    // Partly behind a parked car already; wholly behind the other vehicle.
    assert!(seen(&open) > 0.3, "{}", seen(&open));
    assert_eq!(seen(&blocked), 0.0);
    assert_eq!(open.probes_visible, [true, true]);
    assert_eq!(blocked.probes_visible, [false, true]);
    // The car shows where it stands: its pixel differs from the open view.
    let [u, v] = cam.project(&pose, &Vec3::new(mid.x, mid.y, 0.7)).unwrap();
    let (a, b) = (
        open.image.get_pixel(u as u32, v as u32),
        blocked.image.get_pixel(u as u32, v as u32),
    );
    assert_ne!(a, b);
}

#[test]
fn all_43_pictograms_differ() {
    let textures = pictograms::all_textures();
    assert_eq!(textures.len(), 43);
    for a in 0..43 {
        for b in a + 1..43 {
            let diff: f32 = textures[a]
                .texels()
                .iter()
                .zip(textures[b].texels())
                .map(|(p, q)| (0..3).map(|c| (p[c] - q[c]).abs()).sum::<f32>())
                .sum::<f32>()
                / textures[a].texels().len() as f32;
            assert!(
                diff > 0.01,
                "classes {a} and {b} look alike (mean difference {diff})"
            );
        }
    }
}

#[test]
fn night_is_darker_than_day() {
    let scene = Scene::build(&street_map(), 5);
    let cam = camera(Distortion::default());
    let pose = pose_east(10.0, -1.7, 0.0);
    let mean = |preset| {
        let frame = scene.render(&cam, &pose, &Conditions::preset(preset), 9);
        frame.image.as_raw().iter().map(|&b| b as f64).sum::<f64>()
            / frame.image.as_raw().len() as f64
    };
    let (day, night) = (mean(ConditionsPreset::Day), mean(ConditionsPreset::Night));
    assert!(night < day * 0.5, "day {day:.1}, night {night:.1}");
}

#[test]
fn preset_names_parse() {
    assert_eq!(
        "Night".parse::<ConditionsPreset>().unwrap(),
        ConditionsPreset::Night
    );
    assert!("noon"
        .parse::<ConditionsPreset>()
        .unwrap_err()
        .to_string()
        .contains("noon"));
}

/// Regenerates the example frames in `docs/img/` (run with `--ignored`), among them two
/// with other traffic (`sim-traffic*.png`).
#[test]
#[ignore = "writes docs/img/sim-*.png"]
fn write_example_frames() {
    let town = mapfix_map::demo_town::build(mapfix_map::demo_town::SHIPPED_SEED);
    let scene = Scene::build(&town.map, 1);
    let cam = camera(Distortion {
        k1: -0.12,
        k2: 0.03,
        ..Default::default()
    });
    let points: Vec<Vec3> = town
        .demo_route()
        .iter()
        .flat_map(|&l| town.lanes[l].points.clone())
        .collect();
    // A pose every 5 m along the demo route.
    let mut poses = Vec::new();
    let mut walked = 0.0;
    for w in points.windows(2) {
        let d = w[1] - w[0];
        if d.norm() > 0.01 && walked >= 5.0 * poses.len() as f64 {
            poses.push(Pose::new(
                w[0],
                Attitude::from_heading(d.x.atan2(d.y), 0.0, 0.0),
            ));
        }
        walked += d.norm();
    }
    // Little sensor noise keeps the PNGs small.
    let day = Conditions {
        noise: 0.7,
        ..Conditions::preset(ConditionsPreset::Day)
    };
    let street: Vec<&Pose> = poses.iter().filter(|p| p.position.z > -0.5).collect();
    let most_signs = street
        .iter()
        .max_by_key(|p| {
            scene
                .render(&cam, p, &day, 1)
                .signs
                .iter()
                .filter(|s| s.bbox[2] - s.bbox[0] > 8.0)
                .count()
        })
        .unwrap();
    let underground = poses.iter().rev().find(|p| p.position.z < -5.9).unwrap();
    let night_rain = Conditions {
        rain: 0.7,
        noise: 1.0,
        ..Conditions::preset(ConditionsPreset::Night)
    };
    // Traffic: the street pose and time with the most other cars close ahead.
    let network = crate::lanes::LaneNetwork::from_map(&town.map);
    let traffic = crate::traffic::Traffic::spawn(&network, &town.map, 30.0, None, 1);
    let close_ahead = |pose: &Pose, time: f64| {
        traffic
            .at_clear_of(time, pose)
            .iter()
            .filter(|car| {
                let local = pose.inverse_transform_point(&car.pose.position);
                (10.0..60.0).contains(&local.x) && local.y.abs() < 0.5 * local.x
            })
            .count()
    };
    let (busy, busy_time) = street
        .iter()
        .flat_map(|p| (0..10).map(move |k| (*p, 3.0 * k as f64)))
        .max_by_key(|(p, t)| close_ahead(p, *t))
        .unwrap();
    let busy_traffic = traffic.at_clear_of(busy_time, busy);
    let with_traffic = FrameExtras {
        traffic: &busy_traffic,
        probes: &[],
    };
    let night = Conditions {
        noise: 1.0,
        ..Conditions::preset(ConditionsPreset::Night)
    };
    let img = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/img");
    std::fs::create_dir_all(&img).unwrap();
    let none = FrameExtras::default();
    for (name, pose, conditions, extras) in [
        ("street", street[8], &day, &none),
        ("signs", *most_signs, &day, &none),
        ("underground", underground, &day, &none),
        ("night-rain", street[20], &night_rain, &none),
        ("traffic", busy, &day, &with_traffic),
        ("traffic-night", busy, &night, &with_traffic),
    ] {
        let frame = scene.render_frame(&cam, pose, conditions, 1, extras).image;
        let file = std::fs::File::create(img.join(format!("sim-{name}.png"))).unwrap();
        let encoder = image::codecs::png::PngEncoder::new_with_quality(
            file,
            image::codecs::png::CompressionType::Best,
            image::codecs::png::FilterType::Adaptive,
        );
        frame.write_with_encoder(encoder).unwrap();
    }
}
