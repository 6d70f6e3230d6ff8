//! Transverse Mercator (and UTM) in the Krüger series form, and the subset of PROJ strings
//! OpenDRIVE `geoReference` elements use.
//!
//! The series are carried to sixth order in the third flattening n, as in C. F. F. Karney,
//! "Transverse Mercator with an accuracy of a few nanometers", J. Geodesy 85 (2011): within
//! 4000 km of the central meridian the error is below 5 nm, far beyond what a road map needs.

use mapfix_core::Geodetic;

/// An ellipsoid by its semi-major axis (m) and flattening.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipsoid {
    pub a: f64,
    pub f: f64,
}

impl Ellipsoid {
    pub const WGS84: Ellipsoid = Ellipsoid {
        a: 6_378_137.0,
        f: 1.0 / 298.257_223_563,
    };
    pub const GRS80: Ellipsoid = Ellipsoid {
        a: 6_378_137.0,
        f: 1.0 / 298.257_222_101,
    };
}

/// A transverse Mercator projection: easting/northing (m) ↔ WGS84-style geodetic positions.
#[derive(Debug, Clone, PartialEq)]
pub struct TransverseMercator {
    /// Eccentricity.
    e: f64,
    /// k0 times the rectifying radius A: metres per unit of the series' ξ, η.
    scale: f64,
    lon0: f64,
    false_easting: f64,
    /// False northing minus the projected northing of the latitude of origin.
    northing_shift: f64,
    alpha: [f64; 6],
    beta: [f64; 6],
}

impl TransverseMercator {
    /// A projection with latitude and longitude of origin (rad), scale on the central
    /// meridian, false easting and northing (m).
    pub fn new(
        ellipsoid: Ellipsoid,
        lat0: f64,
        lon0: f64,
        k0: f64,
        false_easting: f64,
        false_northing: f64,
    ) -> Self {
        let Ellipsoid { a, f } = ellipsoid;
        let n = f / (2.0 - f);
        let p = [n, n * n, n.powi(3), n.powi(4), n.powi(5), n.powi(6)];
        let rectifying_radius = a / (1.0 + n) * (1.0 + p[1] / 4.0 + p[3] / 64.0 + p[5] / 256.0);
        #[rustfmt::skip]
        let alpha = [
            p[0] / 2.0 - 2.0 * p[1] / 3.0 + 5.0 * p[2] / 16.0 + 41.0 * p[3] / 180.0 - 127.0 * p[4] / 288.0 + 7891.0 * p[5] / 37800.0,
            13.0 * p[1] / 48.0 - 3.0 * p[2] / 5.0 + 557.0 * p[3] / 1440.0 + 281.0 * p[4] / 630.0 - 1983433.0 * p[5] / 1935360.0,
            61.0 * p[2] / 240.0 - 103.0 * p[3] / 140.0 + 15061.0 * p[4] / 26880.0 + 167603.0 * p[5] / 181440.0,
            49561.0 * p[3] / 161280.0 - 179.0 * p[4] / 168.0 + 6601661.0 * p[5] / 7257600.0,
            34729.0 * p[4] / 80640.0 - 3418889.0 * p[5] / 1995840.0,
            212378941.0 * p[5] / 319334400.0,
        ];
        #[rustfmt::skip]
        let beta = [
            p[0] / 2.0 - 2.0 * p[1] / 3.0 + 37.0 * p[2] / 96.0 - p[3] / 360.0 - 81.0 * p[4] / 512.0 + 96199.0 * p[5] / 604800.0,
            p[1] / 48.0 + p[2] / 15.0 - 437.0 * p[3] / 1440.0 + 46.0 * p[4] / 105.0 - 1118711.0 * p[5] / 3870720.0,
            17.0 * p[2] / 480.0 - 37.0 * p[3] / 840.0 - 209.0 * p[4] / 4480.0 + 5569.0 * p[5] / 90720.0,
            4397.0 * p[3] / 161280.0 - 11.0 * p[4] / 504.0 - 830251.0 * p[5] / 7257600.0,
            4583.0 * p[4] / 161280.0 - 108847.0 * p[5] / 3991680.0,
            20648693.0 * p[5] / 638668800.0,
        ];
        let mut projection = Self {
            e: (f * (2.0 - f)).sqrt(),
            scale: k0 * rectifying_radius,
            lon0,
            false_easting,
            northing_shift: false_northing,
            alpha,
            beta,
        };
        let (_, origin_northing) = projection.forward(&Geodetic {
            lat: lat0,
            lon: lon0,
            height: 0.0,
        });
        projection.northing_shift = false_northing - (origin_northing - false_northing);
        projection
    }

    /// Easting and northing (m) of a geodetic position.
    pub fn forward(&self, position: &Geodetic) -> (f64, f64) {
        let lambda = position.lon - self.lon0;
        let tau = position.lat.tan();
        let tau_conformal = self.conformal_tan(tau);
        let (sin_l, cos_l) = lambda.sin_cos();
        let xi_c = tau_conformal.atan2(cos_l);
        let eta_c = (sin_l / tau_conformal.hypot(cos_l)).asinh();
        let (mut xi, mut eta) = (xi_c, eta_c);
        for (j, alpha) in self.alpha.iter().enumerate() {
            let k = 2.0 * (j + 1) as f64;
            xi += alpha * (k * xi_c).sin() * (k * eta_c).cosh();
            eta += alpha * (k * xi_c).cos() * (k * eta_c).sinh();
        }
        (
            self.false_easting + self.scale * eta,
            self.northing_shift + self.scale * xi,
        )
    }

    /// Latitude and longitude (rad) of a projected point.
    pub fn inverse(&self, easting: f64, northing: f64) -> (f64, f64) {
        let xi = (northing - self.northing_shift) / self.scale;
        let eta = (easting - self.false_easting) / self.scale;
        let (mut xi_c, mut eta_c) = (xi, eta);
        for (j, beta) in self.beta.iter().enumerate() {
            let k = 2.0 * (j + 1) as f64;
            xi_c -= beta * (k * xi).sin() * (k * eta).cosh();
            eta_c -= beta * (k * xi).cos() * (k * eta).sinh();
        }
        let (sin_xi, cos_xi) = xi_c.sin_cos();
        let sinh_eta = eta_c.sinh();
        let tau_conformal = sin_xi / sinh_eta.hypot(cos_xi);
        let lambda = sinh_eta.atan2(cos_xi);
        (self.geodetic_tan(tau_conformal).atan(), self.lon0 + lambda)
    }

    /// tan of the conformal latitude from tan of the geodetic latitude (Karney eq. 7–9).
    fn conformal_tan(&self, tau: f64) -> f64 {
        let sigma = (self.e * (self.e * tau / tau.hypot(1.0)).atanh()).sinh();
        tau * sigma.hypot(1.0) - sigma * tau.hypot(1.0)
    }

    /// Inverts [`Self::conformal_tan`] by Newton's method (Karney eq. 19–21); two or three
    /// steps reach machine precision.
    fn geodetic_tan(&self, tau_conformal: f64) -> f64 {
        let e2m = 1.0 - self.e * self.e;
        let mut tau = tau_conformal;
        for _ in 0..5 {
            let residual = tau_conformal - self.conformal_tan(tau);
            let step = residual / self.conformal_tan(tau).hypot(1.0) * (1.0 + e2m * tau * tau)
                / (e2m * tau.hypot(1.0));
            tau += step;
            if step.abs() < 1e-15 * tau.abs().max(1.0) {
                break;
            }
        }
        tau
    }
}

/// What a PROJ string describes, read as far as mapfix understands it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjDefinition {
    pub projection: TransverseMercator,
    /// Plain-language remarks for the import report (parameters interpreted or ignored).
    pub notes: Vec<String>,
}

/// Reads a PROJ string of the `+proj=tmerc` or `+proj=utm` kind. Other projections are
/// an `Err` with the reason, for the caller to report.
pub fn parse_proj(text: &str) -> Result<ProjDefinition, String> {
    let params: Vec<(&str, Option<&str>)> = text
        .split_whitespace()
        .filter_map(|token| token.strip_prefix('+'))
        .map(|token| match token.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (token, None),
        })
        .collect();
    let get = |key: &str| params.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    let number = |key: &str| -> Result<Option<f64>, String> {
        match get(key) {
            None => Ok(None),
            Some(value) => value
                .and_then(|v| v.parse::<f64>().ok())
                .map(Some)
                .ok_or_else(|| format!("+{key} is not a number")),
        }
    };
    let mut notes = Vec::new();
    let ellipsoid = match get("ellps").flatten().or(get("datum").flatten()) {
        None | Some("WGS84") => Ellipsoid::WGS84,
        Some("GRS80") => Ellipsoid::GRS80,
        Some(other) => {
            notes.push(format!("ellipsoid {other} not supported: used WGS84"));
            Ellipsoid::WGS84
        }
    };
    if let Some(units) = get("units").flatten().filter(|u| *u != "m") {
        return Err(format!("+units={units} (only metres are supported)"));
    }
    if get("geoidgrids").is_some() {
        notes.push("geoid grid ignored: heights are taken as ellipsoidal".into());
    }
    let lat0 = number("lat_0")?.unwrap_or(0.0).to_radians();
    let lon0 = number("lon_0")?.map(f64::to_radians);
    let projection = match get("proj").flatten() {
        Some("tmerc") => TransverseMercator::new(
            ellipsoid,
            lat0,
            lon0.unwrap_or(0.0),
            number("k_0")?.or(number("k")?).unwrap_or(1.0),
            number("x_0")?.unwrap_or(0.0),
            number("y_0")?.unwrap_or(0.0),
        ),
        Some("utm") => {
            let zone = match number("zone")? {
                Some(zone) if (1.0..=60.0).contains(&zone) && zone.fract() == 0.0 => zone,
                Some(_) => return Err("+zone must be 1 to 60".into()),
                None => match lon0 {
                    Some(lon0) => {
                        ((lon0.to_degrees() + 180.0) / 6.0).floor().clamp(0.0, 59.0) + 1.0
                    }
                    None => return Err("+proj=utm needs +zone or +lon_0".into()),
                },
            };
            let central = (zone * 6.0 - 183.0).to_radians();
            match lon0.filter(|lon0| (lon0 - central).abs() > 3f64.to_radians()) {
                // PROJ would ignore +lat_0/+lon_0 here and put the map 500 km west of the
                // zone's central meridian; the file's author evidently meant a local
                // transverse Mercator around +lat_0/+lon_0, as other OpenDRIVE readers take it.
                Some(lon0) => {
                    notes.push(format!(
                        "+proj=utm with +zone={zone} contradicts +lon_0={:.6}: used a transverse \
                         Mercator centred on +lat_0/+lon_0",
                        lon0.to_degrees()
                    ));
                    TransverseMercator::new(
                        ellipsoid,
                        lat0,
                        lon0,
                        number("k_0")?.or(number("k")?).unwrap_or(1.0),
                        number("x_0")?.unwrap_or(0.0),
                        number("y_0")?.unwrap_or(0.0),
                    )
                }
                None => {
                    let false_northing = if get("south").is_some() {
                        10_000_000.0
                    } else {
                        0.0
                    };
                    TransverseMercator::new(
                        ellipsoid,
                        0.0,
                        central,
                        0.9996,
                        500_000.0,
                        false_northing,
                    )
                }
            }
        }
        Some(other) => return Err(format!("+proj={other} not supported (tmerc and utm are)")),
        None => return Err("no +proj".into()),
    };
    Ok(ProjDefinition { projection, notes })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utm(zone: f64, south: bool) -> TransverseMercator {
        let text = format!(
            "+proj=utm +zone={zone} {} +datum=WGS84 +units=m",
            if south { "+south" } else { "" }
        );
        parse_proj(&text).unwrap().projection
    }

    /// Reference coordinates from PROJ 9 (pyproj 3.7.2, EPSG:4326 → EPSG:326xx/327xx).
    #[test]
    fn utm_matches_proj() {
        let cases = [
            (56.0, 12.0, 32.0, false, 687071.4391, 6210141.3269),
            (49.0, 8.4, 32.0, false, 456114.5959, 5427629.2039),
            (-33.0, 17.0, 33.0, true, 686847.2228, 6346936.4957),
        ];
        for (lat, lon, zone, south, easting, northing) in cases {
            let tm = utm(zone, south);
            let (e, n) = tm.forward(&Geodetic::from_degrees(lat, lon, 0.0));
            assert!(
                (e - easting).abs() < 1e-3 && (n - northing).abs() < 1e-3,
                "{lat} {lon}: {e} {n}"
            );
            let (back_lat, back_lon) = tm.inverse(easting, northing);
            assert!(
                (back_lat.to_degrees() - lat).abs() < 1e-9
                    && (back_lon.to_degrees() - lon).abs() < 1e-9
            );
        }
    }

    /// A tmerc with its own origin, scale and false origin, against PROJ 9 (pyproj 3.7.2).
    #[test]
    fn tmerc_with_origin_matches_proj() {
        let text =
            "+proj=tmerc +lat_0=37.35 +lon_0=-122.08 +k=0.9996 +x_0=100 +y_0=200 +ellps=WGS84";
        let tm = parse_proj(text).unwrap().projection;
        for (lat, lon, easting, northing) in [
            (37.5, -122.0, 7171.2065, 16844.1898),
            (40.0, -118.0, 348419.1793, 302236.1728),
        ] {
            let (e, n) = tm.forward(&Geodetic::from_degrees(lat, lon, 0.0));
            assert!(
                (e - easting).abs() < 1e-3 && (n - northing).abs() < 1e-3,
                "{e} {n}"
            );
        }
        let (lat0, lon0) = tm.inverse(100.0, 200.0);
        assert!(
            (lat0.to_degrees() - 37.35).abs() < 1e-12 && (lon0.to_degrees() + 122.08).abs() < 1e-12
        );
    }

    #[test]
    fn contradictory_utm_is_centred_on_its_origin() {
        let text = "+proj=utm +lat_0=37.354 +lon_0=-122.086 +k_0=1 +x_0=0 +y_0=0 +datum=WGS84 +zone=32 +ellps=GRS80";
        let definition = parse_proj(text).unwrap();
        let (lat, lon) = definition.projection.inverse(0.0, 0.0);
        assert!(
            (lat.to_degrees() - 37.354).abs() < 1e-12 && (lon.to_degrees() + 122.086).abs() < 1e-12
        );
        assert!(definition.notes.iter().any(|n| n.contains("contradicts")));
    }

    #[test]
    fn unsupported_projections_are_refused() {
        assert!(parse_proj("+proj=lcc +lat_1=49 +lat_2=44")
            .unwrap_err()
            .contains("lcc"));
        assert!(parse_proj("+proj=tmerc +units=ft").is_err());
        assert!(parse_proj("+proj=tmerc +lat_0=abc")
            .unwrap_err()
            .contains("lat_0"));
    }

    proptest! {
        #[test]
        fn forward_inverse_round_trip(lat in -80.0f64..84.0, dlon in -3.5f64..3.5) {
            let tm = utm(31.0, false);
            let position = Geodetic::from_degrees(lat, 3.0 + dlon, 0.0);
            let (e, n) = tm.forward(&position);
            let (back_lat, back_lon) = tm.inverse(e, n);
            // 1e-10 rad is 0.6 mm on the ground.
            prop_assert!((back_lat - position.lat).abs() < 1e-10);
            prop_assert!((back_lon - position.lon).abs() < 1e-10);
        }
    }
}
