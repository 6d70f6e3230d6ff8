//! NMEA 0183 GGA and RMC sentences; other sentences are skipped.
//!
//! Sentences with the same UTC time form one sample: GGA gives the position and height
//! (ellipsoidal = altitude + geoid separation), RMC the date and the course over ground
//! (taken as the heading). GGA fix quality 6 (estimated) counts as dead reckoning and 0
//! (invalid), like RMC status V, as no fix.

use crate::track::{Format, Location, Sample, Source, Track};
use crate::EvalError;
use chrono::{Datelike, Timelike};
use mapfix_core::Geodetic;
use nmea::sentences::FixType;
use nmea::ParseResult;
use std::path::Path;

const SECONDS_PER_DAY: f64 = 86_400.0;
/// 1970-01-01 counted in days from 0001-01-01 (chrono's `num_days_from_ce`).
const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// One epoch while it is being put together from its sentences.
struct Epoch {
    line: usize,
    /// Seconds since midnight of the first day, counting on past midnight.
    seconds: f64,
    fix: Option<(f64, f64, Option<f64>)>,
    course: Option<f64>,
    source: Source,
}

pub(super) fn read(path: &Path, text: &str) -> Result<Track<Location>, EvalError> {
    let mut epochs: Vec<Epoch> = Vec::new();
    // The first date seen, and the epoch seconds it belongs to.
    let mut first_date: Option<(chrono::NaiveDate, f64)> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let sentence = raw.trim();
        let kind = sentence.get(3..6).unwrap_or("");
        if sentence.is_empty() || !(kind == "GGA" || kind == "RMC") {
            continue;
        }
        let parsed = nmea::parse_str(sentence).map_err(|e| {
            EvalError::invalid(
                path,
                format!("line {line}"),
                format!("bad {kind} sentence: {e:?}"),
            )
        })?;
        let mut date = None;
        let (time, fix, course, source) = match parsed {
            ParseResult::GGA(gga) => {
                let source = match gga.fix_type {
                    None | Some(FixType::Invalid) => Source::None,
                    Some(FixType::Estimated) => Source::DeadReckoning,
                    Some(_) => Source::Gnss,
                };
                let height = gga
                    .altitude
                    .map(|a| f64::from(a) + gga.geoid_separation.map_or(0.0, f64::from));
                let fix = gga
                    .latitude
                    .zip(gga.longitude)
                    .map(|(lat, lon)| (lat, lon, height));
                (gga.fix_time, fix, None, source)
            }
            ParseResult::RMC(rmc) => {
                date = rmc.fix_date;
                let valid = rmc.status_of_fix != nmea::sentences::rmc::RmcStatusOfFix::Invalid;
                let source = if valid { Source::Gnss } else { Source::None };
                let fix = rmc.lat.zip(rmc.lon).map(|(lat, lon)| (lat, lon, None));
                (
                    rmc.fix_time,
                    fix,
                    rmc.true_course.map(|c| f64::from(c).to_radians()),
                    source,
                )
            }
            _ => continue,
        };
        let time = time.ok_or_else(|| {
            EvalError::invalid(
                path,
                format!("line {line}"),
                format!("{kind} sentence has no time"),
            )
        })?;
        let of_day =
            f64::from(time.num_seconds_from_midnight()) + f64::from(time.nanosecond()) * 1e-9;
        merge(&mut epochs, line, of_day, fix, course, source);
        if let (Some(date), None, Some(epoch)) = (date, first_date, epochs.last()) {
            first_date = Some((date, epoch.seconds));
        }
    }
    let start = match first_date {
        // Unix seconds at midnight of the first date, moved back by the midnights counted
        // before the first dated sentence.
        Some((date, seconds)) => {
            let days_before = (seconds / SECONDS_PER_DAY).floor();
            (f64::from(date.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE) - days_before)
                * SECONDS_PER_DAY
        }
        None => 0.0,
    };
    let samples: Vec<_> = epochs
        .into_iter()
        .map(|e| {
            let source = if e.fix.is_none() {
                Source::None
            } else {
                e.source
            };
            let position = e
                .fix
                .filter(|_| source != Source::None)
                .map(|(lat, lon, height)| Location::Geodetic {
                    position: Geodetic::from_degrees(lat, lon, height.unwrap_or(0.0)),
                    height_known: height.is_some(),
                });
            let height_known = matches!(
                position,
                Some(Location::Geodetic {
                    height_known: true,
                    ..
                })
            );
            Sample {
                line: e.line,
                time: start + e.seconds,
                position,
                height_known,
                heading: e.course,
                rotation: None,
                sigma: None,
                source,
            }
        })
        .collect();
    if samples.is_empty() {
        return Err(EvalError::file(path, "no GGA or RMC sentences"));
    }
    Ok(Track {
        path: path.into(),
        format: Format::Nmea,
        samples,
    })
}

/// Adds a sentence to the epoch at its time, or starts a new epoch.
fn merge(
    epochs: &mut Vec<Epoch>,
    line: usize,
    of_day: f64,
    fix: Option<(f64, f64, Option<f64>)>,
    course: Option<f64>,
    source: Source,
) {
    let mut seconds = of_day;
    if let Some(last) = epochs.last_mut() {
        let day = (last.seconds / SECONDS_PER_DAY).floor();
        seconds += day * SECONDS_PER_DAY;
        // A time far behind the last one is the next day, not a step back.
        if seconds < last.seconds - SECONDS_PER_DAY / 2.0 {
            seconds += SECONDS_PER_DAY;
        }
        if (seconds - last.seconds).abs() < 1e-6 {
            // GGA's height wins over RMC's none; RMC's course fills in.
            last.fix = match (last.fix, fix) {
                (Some((_, _, Some(h))), Some((lat, lon, None))) => Some((lat, lon, Some(h))),
                (old, new) => new.or(old),
            };
            last.course = course.or(last.course);
            if last.source == Source::Gnss || source == Source::None {
                last.source = source;
            }
            return;
        }
    }
    epochs.push(Epoch {
        line,
        seconds,
        fix,
        course,
        source,
    });
}
