//! Calendar time from Unix seconds, for the formats that write dates (NMEA, GPX, GeoJSON).

/// A UTC calendar time to the millisecond (proleptic Gregorian, no leap seconds, as Unix
/// time counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct UtcTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
}

const MS_PER_DAY: i64 = 86_400_000;

impl UtcTime {
    /// The time `unix_s` rounded to a multiple of `step_ms` milliseconds (so that a
    /// rounded 59.999 s becomes the next minute, never a 60th second).
    pub fn from_unix_s(unix_s: f64, step_ms: i64) -> UtcTime {
        // Saturating: a camera clock or file can claim any time, and a date far off is
        // written as such rather than overflowing.
        let ms = ((unix_s * 1000.0 / step_ms as f64).round() as i64).saturating_mul(step_ms);
        let days = ms.div_euclid(MS_PER_DAY);
        let of_day = ms.rem_euclid(MS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month,
            day,
            hour: (of_day / 3_600_000) as u32,
            minute: (of_day / 60_000 % 60) as u32,
            second: (of_day / 1000 % 60) as u32,
            millisecond: (of_day % 1000) as u32,
        }
    }

    /// ISO 8601 with milliseconds and `Z`, as GPX and GeoJSON properties carry it.
    pub fn iso8601(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second, self.millisecond
        )
    }
}

/// Year, month and day of a day counted from 1970-01-01 (Howard Hinnant's algorithm on
/// 400-year eras starting in March).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(
            UtcTime::from_unix_s(0.0, 1).iso8601(),
            "1970-01-01T00:00:00.000Z"
        );
        // The demo drive's GNSS start (sim.json start_unix_s).
        assert_eq!(
            UtcTime::from_unix_s(1_718_964_000.25, 10).iso8601(),
            "2024-06-21T10:00:00.250Z"
        );
        assert_eq!(
            UtcTime::from_unix_s(951_782_400.0, 1).iso8601(),
            "2000-02-29T00:00:00.000Z"
        );
        assert_eq!(
            UtcTime::from_unix_s(-1.0, 1).iso8601(),
            "1969-12-31T23:59:59.000Z"
        );
    }

    #[test]
    fn times_past_the_range_of_milliseconds_saturate() {
        for unix_s in [1e300, -1e300, f64::INFINITY, 1.8e19] {
            let t = UtcTime::from_unix_s(unix_s, 10);
            assert!(
                (1..=12).contains(&t.month) && (1..=31).contains(&t.day),
                "{t:?}"
            );
            assert!(t.year.abs() > 100_000_000, "{t:?}");
        }
    }

    #[test]
    fn rounding_carries_into_the_next_day() {
        let t = UtcTime::from_unix_s(86_399.996, 10);
        assert_eq!(t.iso8601(), "1970-01-02T00:00:00.000Z");
    }
}
