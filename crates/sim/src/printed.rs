//! Numbers made ready for fixed-point text fields (`truth.csv`, `gnss.nmea`), so that a
//! reader never meets `-0.000000` or a heading of `360.0`.

/// `value` to print with `decimals` places; one that would print as `-0.00…` becomes `0`.
pub(crate) fn signed(value: f64, decimals: i32) -> f64 {
    if (value * 10f64.powi(decimals)).round() == 0.0 {
        0.0
    } else {
        value
    }
}

/// A heading (rad, any turn) in degrees to print with `decimals` places, in [0, 360): one
/// within a rounding step of 360° prints as `0`, never as `360` or `-0`.
pub(crate) fn heading_deg(heading: f64, decimals: i32) -> f64 {
    // `rem_euclid` itself may round up to exactly 360.0 for a tiny negative input.
    let deg = heading.to_degrees().rem_euclid(360.0);
    if (deg * 10f64.powi(decimals)).round() >= 360.0 * 10f64.powi(decimals) {
        0.0
    } else {
        signed(deg, decimals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    #[test]
    fn headings_print_in_zero_to_360() {
        let print = |heading: f64| format!("{:.6}", heading_deg(heading, 6));
        assert_eq!(print(-1e-12), "0.000000");
        assert_eq!(print(-0.0), "0.000000");
        assert_eq!(print(TAU - 1e-12), "0.000000");
        assert_eq!(print(TAU), "0.000000");
        assert_eq!(print(-90f64.to_radians()), "270.000000");
        assert_eq!(print(359.5f64.to_radians()), "359.500000");
        assert_eq!(
            format!("{:.1}", heading_deg(359.96f64.to_radians(), 1)),
            "0.0"
        );
        assert_eq!(
            format!("{:.1}", heading_deg(359.94f64.to_radians(), 1)),
            "359.9"
        );
    }

    #[test]
    fn signed_values_never_print_as_negative_zero() {
        assert_eq!(format!("{:.4}", signed(-0.00004, 4)), "0.0000");
        assert_eq!(format!("{:.4}", signed(-0.0, 4)), "0.0000");
        assert_eq!(format!("{:.4}", signed(-0.00006, 4)), "-0.0001");
        assert_eq!(format!("{:.6}", signed(1.5, 6)), "1.500000");
    }
}
