//! What the detector reports for one image, in that image's own pixel coordinates.
//!
//! This is the contract between the detector and everything downstream (association,
//! `mapfix detect`'s JSON lines): the tracker reads these and nothing else of the network.

use serde::{Deserialize, Serialize};

/// Every sign and lane line found in one image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detections {
    pub signs: Vec<SignDetection>,
    pub lanes: Vec<Lane>,
}

/// A traffic sign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignDetection {
    /// GTSRB class, 0–42.
    pub class: u8,
    /// Confidence, 0–1.
    pub score: f32,
    /// `[left, top, right, bottom]`, pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// The sign face's centre, pixels, with sub-pixel precision: the point whose
    /// bearing the solver uses.
    pub center: [f32; 2],
}

/// Which lane line, counted from the vehicle's own lane (the simulator's label slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneSlot {
    LeftLeft,
    EgoLeft,
    EgoRight,
    RightRight,
}

impl LaneSlot {
    /// Left to right.
    pub const ALL: [LaneSlot; 4] = [
        LaneSlot::LeftLeft,
        LaneSlot::EgoLeft,
        LaneSlot::EgoRight,
        LaneSlot::RightRight,
    ];

    /// The name used in labels and JSON.
    pub fn name(self) -> &'static str {
        match self {
            LaneSlot::LeftLeft => "left_left",
            LaneSlot::EgoLeft => "ego_left",
            LaneSlot::EgoRight => "ego_right",
            LaneSlot::RightRight => "right_right",
        }
    }

    /// The slot of a label's name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|slot| slot.name() == name)
    }

    /// Position in [`LaneSlot::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A lane line as a polyline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    pub slot: LaneSlot,
    /// Confidence, 0–1.
    pub score: f32,
    /// `[u, v]` pixels from near (bottom of the image) to far.
    pub points: Vec<[f32; 2]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_round_trip_and_match_json() {
        for slot in LaneSlot::ALL {
            assert_eq!(LaneSlot::from_name(slot.name()), Some(slot));
            let json = serde_json::to_string(&slot).unwrap();
            assert_eq!(json, format!("\"{}\"", slot.name()));
            assert_eq!(LaneSlot::ALL[slot.index()], slot);
        }
        assert_eq!(LaneSlot::from_name("ego_centre"), None);
    }

    #[test]
    fn a_sign_serialises_with_the_label_field_names() {
        let sign = SignDetection {
            class: 14,
            score: 0.5,
            bbox: [1.0, 2.0, 3.0, 4.0],
            center: [2.0, 3.0],
        };
        let json = serde_json::to_value(&sign).unwrap();
        assert_eq!(json["box"][3], 4.0);
        assert_eq!(json["center"][0], 2.0);
    }
}
