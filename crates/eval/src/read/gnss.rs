//! GNSS logs (NMEA 0183 GGA/RMC and GPX) as tracks. `mapfix_io::gnss` parses them, one
//! epoch a sample; here they become samples: the course over ground is taken as the
//! heading, fix quality 0 (or RMC status V) is no fix and quality 6 (estimated) dead
//! reckoning.

use crate::track::{Format, Location, Sample, SampleSource, Track};
use mapfix_core::FixSource;
use mapfix_io::gnss::{FixQuality, GnssFormat, GnssLog};

pub(super) fn track(log: GnssLog) -> Track<Location> {
    let samples = log
        .fixes
        .iter()
        .map(|fix| Sample {
            line: fix.line,
            time: fix.utc_s,
            position: fix.position.map(|position| Location::Geodetic {
                position,
                height_known: fix.height_known,
            }),
            height_known: fix.height_known,
            heading: fix.course,
            rotation: None,
            sigma: None,
            source: match fix.quality {
                FixQuality::Invalid => SampleSource::NoFix,
                FixQuality::Estimated => SampleSource::Fix(FixSource::DeadReckoning),
                FixQuality::Unknown => SampleSource::Unknown,
                _ => SampleSource::Fix(FixSource::Gnss),
            },
        })
        .collect();
    Track {
        path: log.path,
        format: match log.format {
            GnssFormat::Nmea => Format::Nmea,
            GnssFormat::Gpx => Format::Gpx,
        },
        samples,
    }
}
