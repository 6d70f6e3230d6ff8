//! Sign classes: the 43 GTSRB classes, and German road-sign codes (StVO "Zeichen")
//! as Lanelet2 (`de205`) and OpenDRIVE (`country="DE" type="205"`) name them.
//!
//! A code with no GTSRB counterpart becomes [`SignClass::Other`] with the code kept, so an
//! import can count it; nothing is dropped silently.

use std::fmt;

/// Names of the 43 GTSRB classes, indexed by class id (as in the GTSDB read-me).
pub const GTSRB_NAMES: [&str; 43] = [
    "speed limit 20",
    "speed limit 30",
    "speed limit 50",
    "speed limit 60",
    "speed limit 70",
    "speed limit 80",
    "restriction ends 80",
    "speed limit 100",
    "speed limit 120",
    "no overtaking",
    "no overtaking (trucks)",
    "priority at next intersection",
    "priority road",
    "give way",
    "stop",
    "no traffic both ways",
    "no trucks",
    "no entry",
    "danger",
    "bend left",
    "bend right",
    "bend",
    "uneven road",
    "slippery road",
    "road narrows",
    "construction",
    "traffic signal",
    "pedestrian crossing",
    "school crossing",
    "cycles crossing",
    "snow",
    "animals",
    "restriction ends",
    "go right",
    "go left",
    "go straight",
    "go right or straight",
    "go left or straight",
    "keep right",
    "keep left",
    "roundabout",
    "restriction ends (overtaking)",
    "restriction ends (overtaking trucks)",
];

/// What a sign says.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SignClass {
    /// One of the 43 GTSRB classes (0–42).
    Gtsrb(u8),
    /// A sign with no GTSRB class, keeping its source code (for example `de1020-30`).
    Other(String),
}

impl SignClass {
    pub fn gtsrb(&self) -> Option<u8> {
        match self {
            SignClass::Gtsrb(id) => Some(*id),
            SignClass::Other(_) => None,
        }
    }

    /// The class of a German sign code such as `de205`, `205`, `274-53` or `DE274`, with an
    /// optional OpenDRIVE `subtype` and a `value` (a speed limit's km/h).
    pub fn from_german_code(code: &str, subtype: Option<&str>, value: Option<f64>) -> SignClass {
        let code = code.trim();
        let bare = code
            .strip_prefix("de")
            .or_else(|| code.strip_prefix("DE"))
            .unwrap_or(code);
        let (main, inline_sub) = match bare.split_once(['-', '.', '_']) {
            Some((main, sub)) => (main, Some(sub)),
            None => (bare, None),
        };
        let sub = subtype
            .filter(|s| !s.is_empty() && *s != "-1" && *s != "none")
            .or(inline_sub);
        match german_to_gtsrb(main, sub, value) {
            Some(id) => SignClass::Gtsrb(id),
            None => SignClass::Other(format!(
                "de{bare}{}",
                subtype.map(|s| format!("-{s}")).unwrap_or_default()
            )),
        }
    }
}

impl fmt::Display for SignClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignClass::Gtsrb(id) => write!(f, "{id} ({})", GTSRB_NAMES[*id as usize]),
            SignClass::Other(code) => write!(f, "other ({code})"),
        }
    }
}

/// A speed in km/h from an explicit value, else from a StVO 274/278 subtype: 274-51 is
/// 10 km/h and each step adds 10 (274-53 is 30 km/h).
fn speed_of(sub: Option<&str>, value: Option<f64>) -> Option<u32> {
    if let Some(v) = value.filter(|v| v.is_finite() && *v > 0.0) {
        return Some(v.round() as u32);
    }
    let n: u32 = sub?.parse().ok()?;
    match n {
        51..=63 => Some((n - 50) * 10),
        // Some maps write the limit itself as the subtype.
        5..=130 if n.is_multiple_of(10) => Some(n),
        _ => None,
    }
}

fn german_to_gtsrb(main: &str, sub: Option<&str>, value: Option<f64>) -> Option<u8> {
    let limit_class = |kmh| match kmh {
        20 => Some(0),
        30 => Some(1),
        50 => Some(2),
        60 => Some(3),
        70 => Some(4),
        80 => Some(5),
        100 => Some(7),
        120 => Some(8),
        _ => None,
    };
    let side = sub.unwrap_or("");
    match main {
        "274" => limit_class(speed_of(sub, value)?),
        "278" => (speed_of(sub, value)? == 80).then_some(6),
        "276" => Some(9),
        "277" => Some(10),
        "301" => Some(11),
        "306" => Some(12),
        "205" => Some(13),
        "206" => Some(14),
        "250" => Some(15),
        "253" => Some(16),
        "267" => Some(17),
        "101" if side == "51" => Some(30),
        "101" => Some(18),
        "103" if side == "10" => Some(19),
        "103" => Some(20),
        "105" => Some(21),
        "112" => Some(22),
        "114" => Some(23),
        "120" | "121" => Some(24),
        "123" => Some(25),
        "131" => Some(26),
        "133" | "350" => Some(27),
        "136" => Some(28),
        "138" => Some(29),
        "142" => Some(31),
        "282" => Some(32),
        "209" if side == "10" => Some(34),
        "209" if side == "30" => Some(35),
        "209" => Some(33),
        "211" if side == "10" => Some(34),
        "211" => Some(33),
        "214" if side == "10" => Some(37),
        "214" => Some(36),
        "222" if side == "20" => Some(39),
        "222" => Some(38),
        "215" => Some(40),
        "280" => Some(41),
        "281" => Some(42),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_codes() {
        assert_eq!(
            SignClass::from_german_code("de205", None, None),
            SignClass::Gtsrb(13)
        );
        assert_eq!(
            SignClass::from_german_code("de206", None, None),
            SignClass::Gtsrb(14)
        );
        assert_eq!(
            SignClass::from_german_code("de301", None, None),
            SignClass::Gtsrb(11)
        );
        assert_eq!(
            SignClass::from_german_code("274", Some("53"), None),
            SignClass::Gtsrb(1)
        );
        assert_eq!(
            SignClass::from_german_code("274", None, Some(50.0)),
            SignClass::Gtsrb(2)
        );
        assert_eq!(
            SignClass::from_german_code("de274-57", None, None),
            SignClass::Gtsrb(4)
        );
        assert_eq!(
            SignClass::from_german_code("103", Some("10"), None),
            SignClass::Gtsrb(19)
        );
        assert_eq!(
            SignClass::from_german_code("103", Some("20"), None),
            SignClass::Gtsrb(20)
        );
    }

    #[test]
    fn unknown_codes_are_kept() {
        assert_eq!(
            SignClass::from_german_code("de274", None, None),
            SignClass::Other("de274".into())
        );
        assert_eq!(
            SignClass::from_german_code("1000", Some("10"), None),
            SignClass::Other("de1000-10".into())
        );
        assert_eq!(
            SignClass::from_german_code("274", None, Some(40.0)).gtsrb(),
            None
        );
    }

    #[test]
    fn every_class_has_a_name_and_display() {
        assert_eq!(GTSRB_NAMES.len(), 43);
        assert_eq!(SignClass::Gtsrb(14).to_string(), "14 (stop)");
    }
}
