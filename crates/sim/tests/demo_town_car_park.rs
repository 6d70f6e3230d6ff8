//! The shipped demo town's car park aisle is one-way counter-clockwise, as the signs over
//! it say (its paint, a yellow line on each side, does not): the simulator drives it that
//! way round, and so sees those signs from the front.

use mapfix_core::Vec3;
use mapfix_map::Map;
use mapfix_sim::drive::dashcam;
use mapfix_sim::labels::render_labelled;
use mapfix_sim::lanes::LaneNetwork;
use mapfix_sim::render::{Conditions, ConditionsPreset, Scene};
use mapfix_sim::route::{DrivingLimits, Route, Waypoint};
use std::collections::BTreeSet;
use std::path::Path;

/// The car park's floor, and east of the tunnel's end.
const CAR_PARK_LEVEL: i32 = -1;
const CAR_PARK_WEST_M: f64 = 690.0;

fn demo_town() -> Map {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../maps/demo-town.geojson");
    mapfix_map::geojson::load(&path).unwrap()
}

#[test]
fn the_aisle_runs_counter_clockwise() {
    let network = LaneNetwork::from_map(&demo_town());
    let mut aisle = None;
    // (a point beside each side of the aisle, the way traffic runs there)
    for ((x, y), (east, north)) in [
        ((783.0, 240.0), (0.0, 1.0)),
        ((740.0, 268.0), (-1.0, 0.0)),
        ((697.0, 200.0), (0.0, -1.0)),
        ((740.0, 182.0), (1.0, 0.0)),
    ] {
        let (lane, s, d) = network
            .nearest(&Vec3::new(x, y, -6.0), Some(CAR_PARK_LEVEL))
            .unwrap();
        assert!(d < 3.0, "({x}, {y}) is {d:.1} m from the aisle");
        let direction = network.lanes[lane].centre.direction_at(s);
        assert!(
            direction.dot(&Vec3::new(east, north, 0.0)) > 0.9,
            "at ({x}, {y}) the aisle runs {direction:?}"
        );
        assert!(aisle.is_none_or(|a| a == lane), "one lane all round");
        aisle = Some(lane);
    }
    // Past the tunnel's mouth the aisle goes on round.
    let aisle = aisle.unwrap();
    assert!(network.links[aisle].iter().any(|link| link.to == aisle));
}

#[test]
fn a_drive_round_the_car_park_sees_its_signs() {
    let map = demo_town();
    let network = LaneNetwork::from_map(&map);
    // From the tunnel round three sides of the aisle.
    let waypoints: Vec<Waypoint> = [(600.0, 223.0), (785.0, 240.0), (730.0, 270.0)]
        .into_iter()
        .map(|(x, y)| Waypoint {
            position: Vec3::new(x, y, 0.0),
            level: CAR_PARK_LEVEL,
        })
        .collect();
    let route = Route::through(&network, &map, &waypoints, &DrivingLimits::default(), 1).unwrap();
    let scene = Scene::build(&map, 1);
    let camera = dashcam(320, 180, 1.0);
    let day = Conditions::preset(ConditionsPreset::Day);
    let mut seen = BTreeSet::new();
    let mut car_park_frames = 0;
    for k in 0..route.duration().ceil() as usize {
        let pose = route.state_at(k as f64).pose;
        if pose.position.x < CAR_PARK_WEST_M {
            continue;
        }
        car_park_frames += 1;
        let (_, labels) = render_labelled(&map, &scene, &camera, &pose, &day, 1, &[], k);
        seen.extend(labels.signs.into_iter().map(|label| label.id));
    }
    let car_park_signs: BTreeSet<String> = map
        .signs
        .iter()
        .filter(|s| s.level == CAR_PARK_LEVEL && s.position.x > CAR_PARK_WEST_M)
        .map(|s| s.id.clone())
        .collect();
    let seen_there: Vec<&String> = seen.intersection(&car_park_signs).collect();
    assert!(
        car_park_frames > 20,
        "{car_park_frames} frames in the car park"
    );
    assert!(
        seen_there.len() >= 4,
        "car park signs labelled: {seen_there:?} of {car_park_signs:?}"
    );
}
