//! Routes: the path the simulated vehicle follows through the lane network, the speed it
//! drives it at, and its pose at any time.
//!
//! A route is a dense centre path (an automatic one of a given length from a seed, or one
//! through waypoints from a route file), with lane changes blended in over 30–45 m and
//! junctions crossed on their connectors. The speed profile respects the posted speed limit,
//! the lateral acceleration in bends and acceleration and braking limits, and stops for a
//! few seconds at every stop line the path crosses. The posted limit is that of the last
//! speed-limit sign (GTSRB classes 0–8) the path passed that faces it (within 10 m to the
//! side, on the same level); "end of 80" (class 6) and a change of level return to the
//! default limit (lower underground). The profile brakes before a lower limit so as to
//! reach it at the sign, and accelerates after a higher one. The pose adds what a
//! suspension does: the body pitches nose-down when braking, rolls outwards in bends, and
//! follows the road's grade and small bumps.

use crate::lanes::{horizontal_unit, left_normal, LaneNetwork, Polyline3};
use crate::SimError;
use mapfix_core::{Attitude, Geodetic, Pose, Vec3};
use mapfix_map::Map;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BinaryHeap;
use std::path::Path;

/// Spacing (m) of the route's path nodes.
const NODE_STEP: f64 = 0.5;
/// Where the vehicle's reference point stops, before the stop line (m): its bumper is at
/// the line.
const STOP_SETBACK: f64 = 2.5;
/// Chance of a lane change on each lane long enough for one.
const LANE_CHANGE_CHANCE: f64 = 0.35;
/// Starts an automatic route tries before it settles for the longest path it found.
const AUTO_START_ATTEMPTS: usize = 32;
/// Body pitch (rad) per m/s² of longitudinal acceleration (nose down when braking).
const PITCH_PER_ACCEL: f64 = 0.005;
/// Body roll (rad) per m/s² of lateral acceleration (outwards in a bend).
const ROLL_PER_ACCEL: f64 = 0.008;
/// Amplitude (rad) of each of the road-roughness waves in pitch and roll.
const BUMP_AMPLITUDE: f64 = 0.0012;
/// Farthest a speed-limit sign stands to the side of the path it applies to (m).
const SIGN_REACH: f64 = 10.0;

/// What the driver respects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrivingLimits {
    /// Speed limit (m/s) on streets where no sign posts one.
    pub street_speed: f64,
    /// Speed limit (m/s) underground where no sign posts one.
    pub underground_speed: f64,
    /// The share of the limit driven at (1: at the limit).
    pub limit_share: f64,
    pub max_accel: f64,
    pub max_decel: f64,
    /// Largest lateral acceleration (m/s²) in bends.
    pub max_lateral_accel: f64,
    /// Shortest and longest wait (s) at a stop line.
    pub stop_wait: (f64, f64),
}

impl Default for DrivingLimits {
    fn default() -> Self {
        Self {
            street_speed: 50.0 / 3.6,
            underground_speed: 30.0 / 3.6,
            limit_share: 1.0,
            max_accel: 1.5,
            max_decel: 2.5,
            max_lateral_accel: 2.0,
            stop_wait: (1.5, 4.0),
        }
    }
}

/// A point the route must pass, from a route file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Waypoint {
    /// World position (ENU, m); only east and north are used.
    pub position: Vec3,
    pub level: i32,
}

/// Where the vehicle is and how it moves at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VehicleState {
    pub time: f64,
    /// world ← vehicle; the position is on the road surface.
    pub pose: Pose,
    /// Speed (m/s) along the path.
    pub speed: f64,
    /// Longitudinal acceleration (m/s²).
    pub accel: f64,
    /// Distance (m) driven along the path.
    pub distance: f64,
}

/// A speed-profile node: the vehicle passes path node `i` at `speed`, arriving at `arrive`
/// and leaving at `depart` (later only where it waits at a stop line).
#[derive(Debug, Clone, Copy)]
struct ProfileNode {
    speed: f64,
    arrive: f64,
    depart: f64,
}

/// A drivable route with its speed profile.
#[derive(Debug, Clone)]
pub struct Route {
    path: Polyline3,
    /// Signed curvature (1/m, left positive) at each path node.
    curvature: Vec<f64>,
    profile: Vec<ProfileNode>,
    /// (wavelength m, phase rad) of the road-roughness waves for pitch, then roll.
    bumps: Vec<(f64, f64)>,
    /// Distances (m) along the path where the vehicle waits at a stop line.
    pub stops: Vec<f64>,
}

impl Route {
    /// A random route of about `length` metres through the lanes, from a random start on
    /// street level. It ends early only at a dead end.
    pub fn auto(
        network: &LaneNetwork,
        map: &Map,
        length: f64,
        limits: &DrivingLimits,
        seed: u64,
    ) -> Result<Route, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let street: Vec<usize> = (0..network.lanes.len())
            .filter(|&i| network.lanes[i].level == 0)
            .collect();
        let candidates = if street.is_empty() {
            (0..network.lanes.len()).collect()
        } else {
            street
        };
        let total: f64 = candidates
            .iter()
            .map(|&i| network.lanes[i].centre.length())
            .sum();
        if candidates.is_empty() || total <= 0.0 {
            return Err(SimError::Route(
                "the map has no drivable lanes (lane lines 2.2–5.5 m apart)".into(),
            ));
        }
        // Where lanes connect badly (a dead end a few metres on), draw other starts and
        // keep the longest path.
        let mut best = PathBuilder::default();
        for _ in 0..AUTO_START_ATTEMPTS {
            let mut pick = rng.random_range(0.0..total);
            let mut lane = candidates[candidates.len() - 1];
            for &i in &candidates {
                let len = network.lanes[i].centre.length();
                if pick < len {
                    lane = i;
                    break;
                }
                pick -= len;
            }
            let s = rng.random_range(0.0..0.5) * network.lanes[lane].centre.length();
            let path = wander(network, lane, s, length, &mut rng);
            if path.length > best.length {
                best = path;
            }
            if best.length >= length {
                break;
            }
        }
        Route::along(best.points, map, limits, &mut rng)
    }

    /// The shortest route along the lanes through `waypoints` in order.
    pub fn through(
        network: &LaneNetwork,
        map: &Map,
        waypoints: &[Waypoint],
        limits: &DrivingLimits,
        seed: u64,
    ) -> Result<Route, SimError> {
        if waypoints.len() < 2 {
            return Err(SimError::Route(format!(
                "a route needs at least two waypoints, got {}",
                waypoints.len()
            )));
        }
        let snapped = waypoints
            .iter()
            .enumerate()
            .map(|(k, w)| match network.nearest(&w.position, Some(w.level)) {
                Some((lane, s, d)) if d < 25.0 => Ok((lane, s)),
                Some((_, _, d)) => Err(SimError::Route(format!(
                    "waypoint {} is {d:.0} m from the nearest lane on level {}",
                    k + 1,
                    w.level
                ))),
                None => Err(SimError::Route(format!(
                    "waypoint {}: no lane on level {}",
                    k + 1,
                    w.level
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut path = PathBuilder::default();
        for (k, pair) in snapped.windows(2).enumerate() {
            let lanes = shortest_lanes(network, pair[0], pair[1]).ok_or_else(|| {
                SimError::Route(format!(
                    "waypoint {} cannot be reached from waypoint {} along the lanes",
                    k + 2,
                    k + 1
                ))
            })?;
            for (n, &(lane, link)) in lanes.iter().enumerate() {
                let centre = &network.lanes[lane].centre;
                let from = if n == 0 { pair[0].1 } else { 0.0 };
                let to = if n + 1 == lanes.len() {
                    pair[1].1
                } else {
                    centre.length()
                };
                path.extend(centre.slice(from, to));
                if let Some(link) = link {
                    path.extend(network.links[lane][link].connector.iter().copied());
                }
            }
        }
        Route::along(
            path.points,
            map,
            limits,
            &mut ChaCha8Rng::seed_from_u64(seed),
        )
    }

    /// Resamples `points` into path nodes, finds the stops and builds the speed profile.
    pub(crate) fn along(
        points: Vec<Vec3>,
        map: &Map,
        limits: &DrivingLimits,
        rng: &mut ChaCha8Rng,
    ) -> Result<Route, SimError> {
        let raw = Polyline3::new(points);
        if raw.length() < 2.0 * NODE_STEP {
            return Err(SimError::Route("the route is shorter than a metre".into()));
        }
        let count = (raw.length() / NODE_STEP).floor() as usize;
        let path = Polyline3::new(
            (0..=count)
                .map(|k| raw.point_at(k as f64 * NODE_STEP))
                .collect(),
        );
        let nodes = path.points();
        let curvature: Vec<f64> = (0..nodes.len())
            .map(|i| {
                let (a, b) = (i.saturating_sub(4), (i + 4).min(nodes.len() - 1));
                signed_curvature(&nodes[a], &nodes[i], &nodes[b])
            })
            .collect();
        let stops = stops_on(&path, map);
        let levels: Vec<i32> = nodes.iter().map(|p| map.level_at(p)).collect();
        let mut limit: Vec<f64> = posted_limits(&path, &levels, map)
            .into_iter()
            .zip(&levels)
            .zip(&curvature)
            .map(|((posted, &level), k)| {
                let default = if level < 0 {
                    limits.underground_speed
                } else {
                    limits.street_speed
                };
                let cruise = posted.unwrap_or(default) * limits.limit_share;
                cruise.min((limits.max_lateral_accel / k.abs().max(1e-9)).sqrt())
            })
            .collect();
        let mut wait = vec![0.0; nodes.len()];
        for &s in &stops {
            let i = (s / NODE_STEP).round() as usize;
            limit[i] = 0.0;
            wait[i] = rng.random_range(limits.stop_wait.0..=limits.stop_wait.1);
        }
        *limit.last_mut().expect("at least two nodes") = 0.0;
        let speed = speed_profile(&limit, limits);
        let mut profile = Vec::with_capacity(nodes.len());
        let mut time = 0.0;
        for i in 0..nodes.len() {
            if i > 0 {
                time += 2.0 * NODE_STEP / (speed[i - 1] + speed[i]).max(1e-9);
            }
            profile.push(ProfileNode {
                speed: speed[i],
                arrive: time,
                depart: time + wait[i],
            });
            time += wait[i];
        }
        let bumps = (0..6)
            .map(|_| {
                (
                    rng.random_range(2.5..15.0),
                    rng.random_range(0.0..std::f64::consts::TAU),
                )
            })
            .collect();
        Ok(Route {
            path,
            curvature,
            profile,
            bumps,
            stops,
        })
    }

    /// The path's length (m).
    pub fn length(&self) -> f64 {
        self.path.length()
    }

    /// The time (s) at which the vehicle reaches the end of the path and stops.
    pub fn duration(&self) -> f64 {
        self.profile.last().map_or(0.0, |n| n.arrive)
    }

    /// The path's nodes, every half metre.
    pub fn path(&self) -> &[Vec3] {
        self.path.points()
    }

    /// The vehicle's state at `time` (s from the start); past the end it stands there.
    pub fn state_at(&self, time: f64) -> VehicleState {
        let i = self.profile.partition_point(|n| n.arrive <= time).max(1) - 1;
        let node = self.profile[i];
        let (distance, speed, accel) = match self.profile.get(i + 1) {
            Some(next) if time > node.depart => {
                let accel = (next.speed.powi(2) - node.speed.powi(2)) / (2.0 * NODE_STEP);
                let tau = time - node.depart;
                let s = (node.speed * tau + 0.5 * accel * tau * tau).clamp(0.0, NODE_STEP);
                (
                    i as f64 * NODE_STEP + s,
                    (node.speed + accel * tau).max(0.0),
                    accel,
                )
            }
            _ => (
                i as f64 * NODE_STEP,
                if time > node.depart { 0.0 } else { node.speed },
                0.0,
            ),
        };
        VehicleState {
            time,
            pose: self.pose_at(distance, speed, accel),
            speed,
            accel,
            distance,
        }
    }

    /// The pose at `distance` along the path, with the body's pitch and roll for the given
    /// speed and longitudinal acceleration.
    fn pose_at(&self, distance: f64, speed: f64, accel: f64) -> Pose {
        const HALF_BASE: f64 = 1.4;
        let position = self.path.point_at(distance);
        let ahead = self.path.point_at(distance + HALF_BASE);
        let behind = self.path.point_at(distance - HALF_BASE);
        let along = ahead - behind;
        let yaw = along.y.atan2(along.x);
        let grade = along.z.atan2(along.xy().norm());
        let k = self.curvature(distance);
        let wave = |offset: usize| -> f64 {
            self.bumps[offset..offset + 3]
                .iter()
                .map(|(wavelength, phase)| {
                    BUMP_AMPLITUDE * (std::f64::consts::TAU * distance / wavelength + phase).sin()
                })
                .sum()
        };
        let pitch = -grade - PITCH_PER_ACCEL * accel + wave(0);
        let roll = ROLL_PER_ACCEL * speed * speed * k + wave(3);
        Pose::new(position, Attitude { roll, pitch, yaw })
    }

    /// Signed curvature (1/m, left positive) at `distance` along the path.
    pub fn curvature(&self, distance: f64) -> f64 {
        let x = (distance / NODE_STEP).clamp(0.0, (self.curvature.len() - 1) as f64);
        let i = (x.floor() as usize).min(self.curvature.len() - 2);
        let t = x - i as f64;
        self.curvature[i] * (1.0 - t) + self.curvature[i + 1] * t
    }
}

/// Reads a route file: one waypoint a line as `lat,lon` (degrees) or, after a header line
/// `east_m,north_m`, as map coordinates; an optional third column is the level (0 street,
/// −1 underground). Blank lines and lines starting with `#` are skipped.
pub fn load_waypoints(path: &Path, map: &Map) -> Result<Vec<Waypoint>, SimError> {
    let text = std::fs::read_to_string(path).map_err(SimError::reading(path))?;
    let error = |line: usize, message: String| SimError::RouteFile {
        path: path.to_owned(),
        line,
        message,
    };
    let mut local = false;
    let mut waypoints = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields[0].parse::<f64>().is_err() && waypoints.is_empty() {
            local = match (fields.first(), fields.get(1)) {
                (Some(&"lat"), Some(&"lon")) => false,
                (Some(&"east_m"), Some(&"north_m")) => true,
                _ => {
                    return Err(error(
                        n + 1,
                        format!("expected a header `lat,lon` or `east_m,north_m`, got `{line}`"),
                    ))
                }
            };
            continue;
        }
        if !(2..=3).contains(&fields.len()) {
            return Err(error(
                n + 1,
                format!("expected 2 or 3 comma-separated numbers, got `{line}`"),
            ));
        }
        let number = |i: usize| -> Result<f64, SimError> {
            fields[i]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| error(n + 1, format!("`{}` is not a number", fields[i])))
        };
        let (a, b) = (number(0)?, number(1)?);
        let level = match fields.get(2) {
            Some(text) => text
                .parse::<i32>()
                .map_err(|_| error(n + 1, format!("level `{text}` is not an integer")))?,
            None => 0,
        };
        let position = if local {
            Vec3::new(a, b, 0.0)
        } else {
            if !(-90.0..=90.0).contains(&a) || !(-180.0..=180.0).contains(&b) {
                return Err(error(
                    n + 1,
                    format!("latitude {a} / longitude {b} out of range"),
                ));
            }
            map.frame
                .to_enu(&Geodetic::from_degrees(a, b, map.frame.origin().height))
        };
        waypoints.push(Waypoint { position, level });
    }
    Ok(waypoints)
}

/// Collects path points, skipping repeats.
#[derive(Default)]
pub(crate) struct PathBuilder {
    pub(crate) points: Vec<Vec3>,
    pub(crate) length: f64,
}

impl PathBuilder {
    fn extend(&mut self, points: impl IntoIterator<Item = Vec3>) {
        for p in points {
            match self.points.last() {
                Some(last) if (p - last).norm() < 0.05 => {}
                Some(last) => {
                    self.length += (p - last).norm();
                    self.points.push(p);
                }
                None => self.points.push(p),
            }
        }
    }
}

/// A random path of about `length` metres from arc `s` on `lane`: lane changes where a
/// neighbour allows, a random link at each lane's end, stopping early at a dead end.
pub(crate) fn wander(
    network: &LaneNetwork,
    mut lane: usize,
    mut s: f64,
    length: f64,
    rng: &mut ChaCha8Rng,
) -> PathBuilder {
    let mut path = PathBuilder::default();
    // Bounded: a network of very short lanes cannot loop forever.
    for _ in 0..10_000 {
        if path.length >= length {
            break;
        }
        let centre = &network.lanes[lane].centre;
        if let Some(change) = try_lane_change(network, lane, s, rng) {
            path.extend(centre.slice(s, change.start));
            let target = &network.lanes[change.target].centre;
            path.extend((0..=(change.length / NODE_STEP) as usize).map(|k| {
                let x = k as f64 * NODE_STEP;
                let w = smoothstep(x / change.length);
                centre
                    .point_at(change.start + x)
                    .lerp(&target.point_at(change.target_start + x), w)
            }));
            (lane, s) = (change.target, change.target_start + change.length);
            continue;
        }
        path.extend(centre.slice(s, centre.length()));
        let links = &network.links[lane];
        if links.is_empty() {
            break;
        }
        let link = &links[rng.random_range(0..links.len())];
        path.extend(link.connector.iter().copied());
        (lane, s) = (link.to, 0.0);
    }
    path
}

/// A lane change from `lane` at arc `s`, if one is drawn and possible.
fn try_lane_change(
    network: &LaneNetwork,
    lane: usize,
    s: f64,
    rng: &mut ChaCha8Rng,
) -> Option<LaneChange> {
    let length = network.lanes[lane].centre.length();
    let change_length = rng.random_range(30.0..45.0);
    let left = rng.random_bool(0.5);
    if length - s < change_length + 40.0 || !rng.random_bool(LANE_CHANGE_CHANCE) {
        return None;
    }
    let start = rng.random_range(s + 10.0..length - change_length - 20.0);
    let (target, target_s) = network.neighbour(lane, start, left)?;
    (target_s + change_length <= network.lanes[target].centre.length()).then_some(LaneChange {
        target,
        start,
        length: change_length,
        target_start: target_s,
    })
}

/// A lane change: from arc `start` on the current lane over `length` metres onto lane
/// `target`, joined at arc `target_start`.
struct LaneChange {
    target: usize,
    start: f64,
    length: f64,
    target_start: f64,
}

/// The lanes (each with the link taken out of it, the last with none) from `from` to
/// `to`, by Dijkstra over the distance driven to reach each lane's start.
fn shortest_lanes(
    network: &LaneNetwork,
    from: (usize, f64),
    to: (usize, f64),
) -> Option<Vec<(usize, Option<usize>)>> {
    if from.0 == to.0 && to.1 >= from.1 {
        return Some(vec![(from.0, None)]);
    }
    struct Entry(f64, usize);
    impl PartialEq for Entry {
        fn eq(&self, other: &Self) -> bool {
            self.0 == other.0
        }
    }
    impl Eq for Entry {}
    impl PartialOrd for Entry {
        fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
            Some(self.cmp(other))
        }
    }
    impl Ord for Entry {
        // Reversed: the heap pops the cheapest.
        fn cmp(&self, other: &Self) -> std::cmp::Ordering {
            other.0.total_cmp(&self.0)
        }
    }
    // best[j]: shortest distance to the start of lane j; came_from[j]: the lane and link
    // it was entered from, and whether that was the route's first lane.
    let mut best = vec![f64::INFINITY; network.lanes.len()];
    let mut came_from: Vec<Option<(usize, usize, bool)>> = vec![None; network.lanes.len()];
    let mut heap = BinaryHeap::new();
    let relax = |heap: &mut BinaryHeap<Entry>,
                 best: &mut [f64],
                 came_from: &mut [Option<(usize, usize, bool)>],
                 lane: usize,
                 at_end: f64,
                 first: bool| {
        for (k, link) in network.links[lane].iter().enumerate() {
            let cost = at_end + Polyline3::new(link.connector.clone()).length();
            if cost < best[link.to] {
                best[link.to] = cost;
                came_from[link.to] = Some((lane, k, first));
                heap.push(Entry(cost, link.to));
            }
        }
    };
    relax(
        &mut heap,
        &mut best,
        &mut came_from,
        from.0,
        network.lanes[from.0].centre.length() - from.1,
        true,
    );
    while let Some(Entry(cost, lane)) = heap.pop() {
        if cost > best[lane] {
            continue;
        }
        if lane == to.0 {
            let mut lanes = vec![(to.0, None)];
            let mut at = lane;
            loop {
                let (prev, link, first) = came_from[at]?;
                lanes.push((prev, Some(link)));
                if first {
                    break;
                }
                at = prev;
            }
            lanes.reverse();
            return Some(lanes);
        }
        relax(
            &mut heap,
            &mut best,
            &mut came_from,
            lane,
            cost + network.lanes[lane].centre.length(),
            false,
        );
    }
    None
}

/// Distances along the path where it crosses a stop line on the same surface, less the
/// setback; stops closer than 10 m to each other or to the start are dropped.
fn stops_on(path: &Polyline3, map: &Map) -> Vec<f64> {
    let nodes = path.points();
    let mut stops: Vec<f64> = Vec::new();
    for line in &map.stop_lines {
        for w in line.points.windows(2) {
            for (i, seg) in nodes.windows(2).enumerate() {
                let Some((t, u)) = segment_cross(&seg[0], &seg[1], &w[0], &w[1]) else {
                    continue;
                };
                let z = w[0].z + u * (w[1].z - w[0].z);
                if (seg[0].z - z).abs() < 2.0 {
                    stops.push((i as f64 + t) * NODE_STEP - STOP_SETBACK);
                }
            }
        }
    }
    stops.sort_by(f64::total_cmp);
    let mut kept: Vec<f64> = Vec::new();
    for s in stops {
        if s > 10.0
            && kept.last().is_none_or(|&last| s - last > 10.0)
            && s < path.length() - NODE_STEP
        {
            kept.push(s);
        }
    }
    kept
}

/// The speed limit (m/s) a speed-limit sign posts, `None` for "end of 80" (back to the
/// default); not a speed-limit sign: no entry.
fn posted_by(class: u8) -> Option<Option<f64>> {
    let km_h = match class {
        0 => 20.0,
        1 => 30.0,
        2 => 50.0,
        3 => 60.0,
        4 => 70.0,
        5 => 80.0,
        6 => return Some(None),
        7 => 100.0,
        8 => 120.0,
        _ => return None,
    };
    Some(Some(km_h / 3.6))
}

/// The posted limit (m/s) at each path node (`levels`: each node's level): that of the
/// last speed-limit sign passed that faces the path, until another one, an "end of 80"
/// sign or a change of level; `None` where no sign has posted one.
fn posted_limits(path: &Polyline3, levels: &[i32], map: &Map) -> Vec<Option<f64>> {
    let nodes = path.points();
    // (node from which it applies, posted limit) for every sign the path passes.
    let mut passed: Vec<(usize, Option<f64>)> = Vec::new();
    for sign in &map.signs {
        let Some(posted) = sign.class.gtsrb().and_then(posted_by) else {
            continue;
        };
        let normal = sign.normal();
        for (i, w) in nodes.windows(2).enumerate() {
            let direction = horizontal_unit(&(w[1] - w[0]));
            let (to_a, to_b) = (sign.position - w[0], sign.position - w[1]);
            let abreast = to_a.dot(&direction) > 0.0 && to_b.dot(&direction) <= 0.0;
            if abreast
                && direction.dot(&normal) < -0.5
                && left_normal(&direction).dot(&to_a).abs() <= SIGN_REACH
                && levels[i] == sign.level
            {
                passed.push((i + 1, posted));
            }
        }
    }
    passed.sort_by_key(|&(i, _)| i);
    let mut passed = passed.into_iter().peekable();
    let mut current = None;
    (0..nodes.len())
        .map(|i| {
            if i > 0 && levels[i] != levels[i - 1] {
                current = None;
            }
            while let Some((_, posted)) = passed.next_if(|&(at, _)| at == i) {
                current = posted;
            }
            current
        })
        .collect()
}

/// Where segments p0→p1 and q0→q1 cross in plan: (fraction along p, fraction along q).
fn segment_cross(p0: &Vec3, p1: &Vec3, q0: &Vec3, q1: &Vec3) -> Option<(f64, f64)> {
    let (d, e) = ((p1 - p0).xy(), (q1 - q0).xy());
    let denom = d.perp(&e);
    if denom.abs() < 1e-12 {
        return None;
    }
    let w = (q0 - p0).xy();
    let (t, u) = (w.perp(&e) / denom, w.perp(&d) / denom);
    ((0.0..1.0).contains(&t) && (0.0..=1.0).contains(&u)).then_some((t, u))
}

/// The fastest speeds at the nodes that respect each node's limit and the acceleration
/// and braking limits between nodes (a forward then a backward pass).
fn speed_profile(limit: &[f64], limits: &DrivingLimits) -> Vec<f64> {
    let mut speed = limit.to_vec();
    for i in 1..speed.len() {
        speed[i] = speed[i].min((speed[i - 1].powi(2) + 2.0 * limits.max_accel * NODE_STEP).sqrt());
    }
    for i in (0..speed.len() - 1).rev() {
        speed[i] = speed[i].min((speed[i + 1].powi(2) + 2.0 * limits.max_decel * NODE_STEP).sqrt());
    }
    speed
}

/// Signed curvature of the circle through three points in plan (left turns positive).
fn signed_curvature(a: &Vec3, b: &Vec3, c: &Vec3) -> f64 {
    let (ab, bc, ca) = ((b - a).xy(), (c - b).xy(), (a - c).xy());
    let denom = ab.norm() * bc.norm() * ca.norm();
    if denom < 1e-12 {
        0.0
    } else {
        2.0 * ab.perp(&bc) / denom
    }
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::lanes::tests::crossroads;
    use mapfix_map::Polyline;

    /// The route along the lanes from the lane nearest `from` to the one nearest `to`
    /// (east, north on street level).
    pub(crate) fn route_between(map: &Map, from: (f64, f64), to: (f64, f64), seed: u64) -> Route {
        let network = LaneNetwork::from_map(map);
        let waypoints = [from, to].map(|(east, north)| Waypoint {
            position: Vec3::new(east, north, 0.0),
            level: 0,
        });
        Route::through(&network, map, &waypoints, &DrivingLimits::default(), seed).unwrap()
    }

    /// The crossroads with a stop line across the eastbound approach, 13 m west of the
    /// junction's centre.
    fn crossroads_with_stop_line() -> Map {
        let mut map = crossroads();
        map.stop_lines.push(Polyline {
            id: "stop-west".into(),
            level: 0,
            points: vec![Vec3::new(-13.0, 0.0, 0.0), Vec3::new(-13.0, -3.5, 0.0)],
        });
        map
    }

    fn sampled(route: &Route, fps: f64) -> Vec<VehicleState> {
        let frames = (route.duration() * fps).ceil() as usize + 10;
        (0..frames)
            .map(|k| route.state_at(k as f64 / fps))
            .collect()
    }

    #[test]
    fn auto_routes_keep_to_the_speed_and_acceleration_limits() {
        let map = crossroads();
        let network = LaneNetwork::from_map(&map);
        let limits = DrivingLimits::default();
        for seed in 0..12 {
            let route = Route::auto(&network, &map, 400.0, &limits, seed).unwrap();
            let states = sampled(&route, 50.0);
            for pair in states.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                let dt = b.time - a.time;
                assert!(
                    b.speed <= limits.street_speed + 1e-9,
                    "seed {seed}: {} m/s",
                    b.speed
                );
                let accel = (b.speed - a.speed) / dt;
                assert!(
                    accel <= limits.max_accel + 1e-6 && accel >= -limits.max_decel - 1e-6,
                    "seed {seed}: {accel} m/s²"
                );
                let moved = (b.pose.position - a.pose.position).norm();
                assert!(
                    moved <= (a.speed.max(b.speed)) * dt + 1e-6,
                    "positions follow the speeds"
                );
                let lateral = b.speed.powi(2) * route.curvature(b.distance).abs();
                assert!(
                    lateral <= limits.max_lateral_accel * 1.1,
                    "seed {seed}: lateral {lateral} m/s²"
                );
                assert!(
                    b.pose.attitude().roll.abs() < 2f64.to_radians()
                        && b.pose.attitude().pitch.abs() < 2f64.to_radians()
                );
            }
            let last = states.last().unwrap();
            assert_eq!(last.speed, 0.0, "the vehicle stops at the end of its route");
        }
    }

    #[test]
    fn auto_route_is_repeatable_for_a_seed() {
        let map = crossroads();
        let network = LaneNetwork::from_map(&map);
        let a = Route::auto(&network, &map, 300.0, &DrivingLimits::default(), 7).unwrap();
        let b = Route::auto(&network, &map, 300.0, &DrivingLimits::default(), 7).unwrap();
        assert_eq!(a.path(), b.path());
        assert_eq!(a.state_at(9.3), b.state_at(9.3));
    }

    #[test]
    fn waypoint_route_turns_left_and_stops_at_the_stop_line() {
        let map = crossroads_with_stop_line();
        let route = route_between(&map, (-150.0, -2.0), (2.0, 120.0), 1);
        let end = *route.path().last().unwrap();
        assert!(
            (end - Vec3::new(1.75, 120.0, 0.0)).norm() < 0.6,
            "ends abreast the last waypoint: {end:?}"
        );
        assert_eq!(route.stops.len(), 1);
        assert!(
            (route.stops[0] - (150.0 - 13.0 - STOP_SETBACK)).abs() < 0.5,
            "{:?}",
            route.stops
        );
        let states = sampled(&route, 10.0);
        let waiting = states
            .iter()
            .filter(|s| s.speed == 0.0 && (s.distance - route.stops[0]).abs() < 0.5)
            .count();
        assert!(
            waiting >= 15,
            "waits at least 1.5 s at the stop line, waited {waiting} frames"
        );
        let heading_east = states[5].pose.attitude().yaw;
        let heading_end = states.last().unwrap().pose.attitude().yaw;
        assert!(
            heading_east.abs() < 0.02 && (heading_end - std::f64::consts::FRAC_PI_2).abs() < 0.02
        );
    }

    #[test]
    fn speed_limit_signs_facing_the_lane_set_the_speed() {
        use crate::labels::tests::sign;
        use std::f64::consts::PI;
        let mut map = crossroads();
        // A 30 sign for eastbound traffic at x = −100 (facing west, towards it), and a 20
        // sign for westbound traffic at x = −150 that eastbound traffic ignores.
        map.signs.push(sign("thirty", 1, -100.0, -5.5, 1.5 * PI));
        map.signs.push(sign("twenty", 0, -150.0, 5.5, 0.5 * PI));
        let route = route_between(&map, (-190.0, -2.0), (100.0, -2.0), 2);
        let states = sampled(&route, 20.0);
        let kmh = |s: &VehicleState| s.speed * 3.6;
        let fastest_before = states
            .iter()
            .filter(|s| s.pose.position.x < -110.0)
            .map(kmh)
            .fold(0.0, f64::max);
        assert!(
            (49.9..=50.0 + 1e-6).contains(&fastest_before),
            "{fastest_before} km/h before the sign"
        );
        let after: Vec<f64> = states
            .iter()
            .filter(|s| s.pose.position.x > -99.5)
            .map(kmh)
            .collect();
        assert!(after.iter().all(|&v| v <= 30.0 + 1e-6), "{after:?}");
        let cruising = states
            .iter()
            .filter(|s| (-90.0..40.0).contains(&s.pose.position.x));
        assert!(
            cruising.map(kmh).all(|v| v > 29.9),
            "drives at the new limit"
        );
        // Braking for the sign starts before it, within the braking limit.
        let braking_from = states
            .iter()
            .find(|s| s.accel < -1.0)
            .map(|s| s.pose.position.x)
            .unwrap();
        let needed = ((50.0f64 / 3.6).powi(2) - (30.0f64 / 3.6).powi(2))
            / (2.0 * DrivingLimits::default().max_decel);
        assert!(
            (braking_from - (-100.0 - needed)).abs() < 2.0,
            "brakes from x = {braking_from}, {needed} m before the sign"
        );
    }

    #[test]
    fn braking_pitches_the_nose_down() {
        let route = route_between(
            &crossroads_with_stop_line(),
            (-190.0, -2.0),
            (100.0, -2.0),
            3,
        );
        let states = sampled(&route, 20.0);
        let braking: Vec<_> = states.iter().filter(|s| s.accel < -1.0).collect();
        let accelerating: Vec<_> = states.iter().filter(|s| s.accel > 1.0).collect();
        assert!(!braking.is_empty() && !accelerating.is_empty());
        let mean = |states: &[&VehicleState]| {
            states.iter().map(|s| s.pose.attitude().pitch).sum::<f64>() / states.len() as f64
        };
        assert!(mean(&braking) > 0.005 && mean(&accelerating) < -0.003);
    }

    #[test]
    fn route_file_errors_name_the_line() {
        let map = crossroads();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("route.csv");
        std::fs::write(&path, "# test\nlat,lon\n49.0,8.4\n49.001,eight\n").unwrap();
        let error = load_waypoints(&path, &map).unwrap_err().to_string();
        assert!(
            error.contains("route.csv, line 4") && error.contains("`eight` is not a number"),
            "{error}"
        );
        std::fs::write(&path, "east_m,north_m,level\n-150,-2,0\n-2,120,0\n").unwrap();
        let waypoints = load_waypoints(&path, &map).unwrap();
        assert_eq!(
            waypoints[1],
            Waypoint {
                position: Vec3::new(-2.0, 120.0, 0.0),
                level: 0
            }
        );
        std::fs::write(&path, "49.0,8.4\n49.001,8.401\n").unwrap();
        let waypoints = load_waypoints(&path, &map).unwrap();
        assert!(
            waypoints[0].position.norm() < 1e-6,
            "lat/lon by default, the map origin is 0"
        );
        assert!((waypoints[1].position.y - 111.2).abs() < 0.5);
    }
}
