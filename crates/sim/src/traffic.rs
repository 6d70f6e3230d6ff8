//! Other traffic: cars driving the lanes both ways while the camera films.
//!
//! Cars are spawned 25–70 m apart along every lane (both directions, every level) and each
//! drives its own random route by the rules the filmed vehicle follows ([`Route`]: posted
//! limits, bends, stop lines, lane changes), at 85–105 % of the limit. Nobody drives
//! through anybody: every car claims its body plus a headway of 1.5 m + 0.8 s of its
//! speed ahead of it, and a car whose claim or body would ever overlap the body or claim of
//! a car already kept (the filmed vehicle first) during the time window is left out
//! altogether, so that no car appears or vanishes mid-drive. A car reaching a dead end
//! (the edge of the map) stops there and leaves the road.

use crate::lanes::LaneNetwork;
use crate::render::OtherVehicle;
use crate::route::{wander, DrivingLimits, Route, VehicleState};
use mapfix_core::{Pose, Vec3};
use mapfix_map::Map;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Distance (m) between cars spawned along a lane, and before the first.
const SPAWN_GAP: std::ops::Range<f64> = 25.0..70.0;
/// Share of the posted limit a driver keeps to.
const LIMIT_SHARE: std::ops::Range<f64> = 0.85..1.05;
/// Speed (m/s) routes are made long enough for over the window.
const ROUTE_SPEED: f64 = 20.0;
/// Half the length and width (m) of the road space a car's body takes, with a margin.
const HALF_LENGTH: f64 = 2.5;
const HALF_WIDTH: f64 = 1.0;
/// The headway a car claims ahead of its body: a minimum (m) plus time (s) at its speed.
const HEADWAY: (f64, f64) = (1.5, 0.8);
/// Time step (s) at which cars are checked against each other.
const CHECK_STEP: f64 = 0.1;
/// Bodies farther apart vertically (m) are on different levels.
const SAME_LEVEL_DZ: f64 = 2.5;

/// Cars on the road over a time window starting at 0.
pub struct Traffic {
    cars: Vec<Car>,
}

struct Car {
    route: Route,
    model: usize,
}

impl Traffic {
    /// Spawns cars on the lanes of `network` that keep out of each other's way, and out of
    /// the way of the filmed vehicle driving `ego`, for `window` seconds from time 0.
    pub fn spawn(
        network: &LaneNetwork,
        map: &Map,
        window: f64,
        ego: Option<&Route>,
        seed: u64,
    ) -> Traffic {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut candidates = Vec::new();
        for (lane, centre) in network.lanes.iter().map(|l| &l.centre).enumerate() {
            let mut s = rng.random_range(0.0..SPAWN_GAP.end);
            while s < centre.length() {
                let limits = DrivingLimits {
                    limit_share: rng.random_range(LIMIT_SHARE),
                    ..DrivingLimits::default()
                };
                let path = wander(network, lane, s, ROUTE_SPEED * window + 30.0, &mut rng);
                if let Ok(route) = Route::along(path.points, map, &limits, &mut rng) {
                    candidates.push(Car {
                        route,
                        model: rng.random_range(0..1 << 16),
                    });
                }
                s += rng.random_range(SPAWN_GAP);
            }
        }
        let steps = (window / CHECK_STEP).ceil() as usize + 1;
        let times: Vec<f64> = (0..steps).map(|k| k as f64 * CHECK_STEP).collect();
        let states = |route: &Route| -> Vec<Option<Footprint>> {
            times
                .iter()
                .map(|&t| Footprint::on_road(route, &route.state_at(t)))
                .collect()
        };
        // The filmed vehicle stays on the road where its route ends.
        let mut kept_states: Vec<Vec<Option<Footprint>>> = ego
            .map(|route| {
                times
                    .iter()
                    .map(|&t| {
                        let state = route.state_at(t);
                        Some(Footprint::new(&state.pose, state.speed))
                    })
                    .collect()
            })
            .into_iter()
            .collect();
        let mut cars = Vec::new();
        for car in candidates {
            let mine = states(&car.route);
            let clear = kept_states.iter().all(|other| {
                mine.iter()
                    .zip(other)
                    .all(|pair| !matches!(pair, (Some(a), Some(b)) if a.conflicts(b)))
            });
            if clear {
                kept_states.push(mine);
                cars.push(car);
            }
        }
        Traffic { cars }
    }

    /// Number of cars kept.
    pub fn len(&self) -> usize {
        self.cars.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cars.is_empty()
    }

    /// The cars on the road at `time`.
    pub fn at(&self, time: f64) -> Vec<OtherVehicle> {
        self.cars
            .iter()
            .filter_map(|car| {
                let state = car.route.state_at(time);
                Footprint::on_road(&car.route, &state)?;
                Some(OtherVehicle {
                    pose: state.pose,
                    model: car.model,
                })
            })
            .collect()
    }

    /// The cars on the road at `time` but for any in the way of a vehicle standing at
    /// `vehicle` (for independent frames, where the filmed vehicle has no route).
    pub fn at_clear_of(&self, time: f64, vehicle: &Pose) -> Vec<OtherVehicle> {
        let standing = Footprint::new(vehicle, 0.0);
        self.at(time)
            .into_iter()
            .filter(|other| !Footprint::new(&other.pose, 0.0).conflicts(&standing))
            .collect()
    }
}

/// The road space a car takes at one instant: its body and the headway it claims.
#[derive(Debug, Clone, Copy)]
struct Footprint {
    centre: Vec3,
    /// Horizontal unit vector forward.
    forward: Vec3,
    headway: f64,
}

impl Footprint {
    fn new(pose: &Pose, speed: f64) -> Self {
        let forward = pose.rotation * Vec3::x();
        Footprint {
            centre: pose.position,
            forward: Vec3::new(forward.x, forward.y, 0.0)
                .try_normalize(1e-9)
                .unwrap_or_else(Vec3::x),
            headway: HEADWAY.0 + HEADWAY.1 * speed,
        }
    }

    /// The footprint of a car on `route` in `state`; `None` once it has arrived at the end
    /// of its route and left the road.
    fn on_road(route: &Route, state: &VehicleState) -> Option<Self> {
        (state.time < route.duration()).then(|| Footprint::new(&state.pose, state.speed))
    }

    /// Whether either car's body overlaps the other's claim (body plus headway).
    fn conflicts(&self, other: &Footprint) -> bool {
        // Cheap test first: no part of a claim or body lies farther from its car's centre
        // than a body's length and width plus the headway.
        let reach = 2.0 * (HALF_LENGTH + HALF_WIDTH) + self.headway.max(other.headway);
        (self.centre.z - other.centre.z).abs() < SAME_LEVEL_DZ
            && (self.centre - other.centre).xy().norm() < reach
            && (self.claim().overlaps(&other.body()) || self.body().overlaps(&other.claim()))
    }

    fn body(&self) -> Rect {
        Rect {
            centre: self.centre,
            forward: self.forward,
            half: [HALF_LENGTH, HALF_WIDTH],
        }
    }

    fn claim(&self) -> Rect {
        Rect {
            centre: self.centre + self.forward * (self.headway / 2.0),
            forward: self.forward,
            half: [HALF_LENGTH + self.headway / 2.0, HALF_WIDTH],
        }
    }
}

/// An oriented rectangle in plan.
struct Rect {
    centre: Vec3,
    forward: Vec3,
    /// Half extents along `forward` and across it.
    half: [f64; 2],
}

impl Rect {
    fn axes(&self) -> [Vec3; 2] {
        [
            self.forward,
            Vec3::new(-self.forward.y, self.forward.x, 0.0),
        ]
    }

    /// Separating-axis test over both rectangles' axes.
    fn overlaps(&self, other: &Rect) -> bool {
        let d = Vec3::new(
            other.centre.x - self.centre.x,
            other.centre.y - self.centre.y,
            0.0,
        );
        let radius = |rect: &Rect, axis: &Vec3| {
            let [u, v] = rect.axes();
            rect.half[0] * u.dot(axis).abs() + rect.half[1] * v.dot(axis).abs()
        };
        self.axes()
            .iter()
            .chain(other.axes().iter())
            .all(|axis| d.dot(axis).abs() < radius(self, axis) + radius(other, axis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lanes::tests::crossroads;
    use crate::route::tests::route_between;

    #[test]
    fn cars_drive_both_ways_at_plausible_speeds_and_never_meet() {
        let map = crossroads();
        let network = LaneNetwork::from_map(&map);
        let ego = route_between(&map, (-190.0, -2.0), (100.0, -2.0), 1);
        let window = 20.0;
        let traffic = Traffic::spawn(&network, &map, window, Some(&ego), 5);
        assert_eq!(
            traffic.len(),
            Traffic::spawn(&network, &map, window, Some(&ego), 5).len()
        );
        assert!(traffic.len() >= 8, "{} cars", traffic.len());
        let (mut eastbound, mut westbound) = (0, 0);
        for k in 0..=(window * 10.0) as usize {
            let t = k as f64 / 10.0;
            let cars = traffic.at(t);
            let ego_state = ego.state_at(t);
            let ego_body = Footprint::new(&ego_state.pose, 0.0).body();
            for (i, a) in cars.iter().enumerate() {
                let body = Footprint::new(&a.pose, 0.0).body();
                assert!(
                    !body.overlaps(&ego_body),
                    "a car in the filmed vehicle at {t} s"
                );
                for b in &cars[i + 1..] {
                    assert!(
                        !body.overlaps(&Footprint::new(&b.pose, 0.0).body()),
                        "two cars overlap at {t} s"
                    );
                }
                let heading = a.pose.rotation * Vec3::x();
                // Right-hand traffic on the east–west street: eastbound south of y = 0.
                if a.pose.position.x.abs() > 20.0 {
                    if heading.x > 0.9 {
                        eastbound += 1;
                        assert!(a.pose.position.y < 0.0);
                    } else if heading.x < -0.9 {
                        westbound += 1;
                        assert!(a.pose.position.y > 0.0);
                    }
                }
            }
        }
        assert!(eastbound > 0 && westbound > 0, "{eastbound} / {westbound}");
        for car in &traffic.cars {
            for k in 0..(window * 10.0) as usize {
                let speed = car.route.state_at(k as f64 / 10.0).speed;
                assert!(speed <= 50.0 / 3.6 * LIMIT_SHARE.end + 1e-9, "{speed} m/s");
            }
        }
    }

    #[test]
    fn a_standing_vehicle_has_no_car_inside_it() {
        let map = crossroads();
        let network = LaneNetwork::from_map(&map);
        let traffic = Traffic::spawn(&network, &map, 10.0, None, 2);
        let first = traffic.at(3.0)[0];
        let all = traffic.at(3.0);
        let clear = traffic.at_clear_of(3.0, &first.pose);
        assert_eq!(clear.len() + 1, all.len());
        assert!(clear.iter().all(|c| c.pose != first.pose));
    }
}
