//! Lighting, weather and sensor settings for one rendered frame, as named presets or drawn
//! at random for domain randomisation.

use rand::Rng;
use std::str::FromStr;

/// Named condition sets for drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionsPreset {
    Day,
    Dusk,
    Night,
    Rain,
    Fog,
}

#[derive(Debug, thiserror::Error)]
#[error("unknown conditions {0:?}: expected day, dusk, night, rain or fog")]
pub struct UnknownPreset(pub String);

impl FromStr for ConditionsPreset {
    type Err = UnknownPreset;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().as_str() {
            "day" => Ok(Self::Day),
            "dusk" => Ok(Self::Dusk),
            "night" => Ok(Self::Night),
            "rain" => Ok(Self::Rain),
            "fog" => Ok(Self::Fog),
            _ => Err(UnknownPreset(name.to_owned())),
        }
    }
}

/// Everything about a frame's look that is not geometry. Colours are linear RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// Compass direction of the sun (radians from north, clockwise).
    pub sun_azimuth: f64,
    /// Sun elevation above the horizon (radians); at or below 0 the sun adds no light.
    pub sun_elevation: f64,
    /// Direct sunlight on a surface facing the sun.
    pub sun_light: [f32; 3],
    /// Light from the whole sky on an upward-facing surface.
    pub sky_light: [f32; 3],
    pub sky_zenith: [f32; 3],
    pub sky_horizon: [f32; 3],
    /// Amount of cloud texture in the sky, 0–1.
    pub clouds: f32,
    /// Multiplier before tone mapping.
    pub exposure: f32,
    /// Extinction coefficient of fog or haze (1/m).
    pub fog_density: f32,
    pub fog_colour: [f32; 3],
    /// 0 dry … 1 downpour: wet, darker, reflective road; streaks and droplets on the lens.
    pub rain: f32,
    /// Own headlight intensity (0 off); street lamps and lit windows glow when the sun is down.
    pub headlights: f32,
    /// Ambient light level in underground spaces (their ceiling lights are always on).
    pub underground_light: [f32; 3],
    /// Length (pixels) and direction (radians, image x axis to image y axis) of motion blur.
    pub motion_blur_px: f32,
    pub motion_blur_angle: f32,
    /// Lens softness, Gaussian sigma in pixels (0 sharp).
    pub lens_blur_px: f32,
    /// Sensor noise, standard deviation in 8-bit levels.
    pub noise: f32,
    /// Re-encode the frame as JPEG at this quality (1–100) to get compression artefacts.
    pub jpeg_quality: Option<u8>,
    /// Darkening of the image corners, 0–1.
    pub vignetting: f32,
    /// Largest random tilt of sign boards (radians) about their vertical and normal axes.
    pub sign_tilt: f32,
    /// Largest fading of sign faces, 0–1 (0 factory new, 1 washed out).
    pub sign_fading: f32,
    /// Seeds the per-sign tilt and fading, so that they stay put over a drive.
    pub sign_seed: u64,
}

impl Conditions {
    pub fn preset(name: ConditionsPreset) -> Conditions {
        let day = Conditions {
            sun_azimuth: 200f64.to_radians(),
            sun_elevation: 40f64.to_radians(),
            sun_light: [2.3, 2.15, 1.95],
            sky_light: [0.55, 0.62, 0.75],
            sky_zenith: [0.16, 0.33, 0.72],
            sky_horizon: [0.62, 0.72, 0.85],
            clouds: 0.35,
            exposure: 1.0,
            fog_density: 0.0015,
            fog_colour: [0.62, 0.70, 0.80],
            rain: 0.0,
            headlights: 0.0,
            underground_light: [0.30, 0.30, 0.28],
            motion_blur_px: 0.0,
            motion_blur_angle: 0.0,
            lens_blur_px: 0.5,
            noise: 2.0,
            jpeg_quality: None,
            vignetting: 0.25,
            sign_tilt: 0.05,
            sign_fading: 0.15,
            sign_seed: 1,
        };
        match name {
            ConditionsPreset::Day => day,
            ConditionsPreset::Dusk => Conditions {
                sun_azimuth: 280f64.to_radians(),
                sun_elevation: 4f64.to_radians(),
                sun_light: [1.3, 0.75, 0.4],
                sky_light: [0.22, 0.2, 0.25],
                sky_zenith: [0.10, 0.14, 0.32],
                sky_horizon: [0.85, 0.50, 0.30],
                clouds: 0.3,
                exposure: 1.4,
                fog_colour: [0.5, 0.4, 0.38],
                headlights: 1.0,
                noise: 3.5,
                ..day
            },
            ConditionsPreset::Night => Conditions {
                sun_elevation: -20f64.to_radians(),
                sun_light: [0.0; 3],
                sky_light: [0.012, 0.014, 0.02],
                sky_zenith: [0.004, 0.006, 0.014],
                sky_horizon: [0.03, 0.03, 0.04],
                clouds: 0.2,
                exposure: 1.6,
                fog_density: 0.003,
                fog_colour: [0.02, 0.02, 0.03],
                headlights: 1.0,
                lens_blur_px: 0.7,
                noise: 5.0,
                motion_blur_px: 2.0,
                ..day
            },
            ConditionsPreset::Rain => Conditions {
                sun_light: [0.25, 0.25, 0.26],
                sky_light: [0.45, 0.47, 0.5],
                sky_zenith: [0.35, 0.37, 0.40],
                sky_horizon: [0.55, 0.56, 0.58],
                clouds: 0.9,
                exposure: 1.1,
                fog_density: 0.012,
                fog_colour: [0.45, 0.47, 0.5],
                rain: 0.8,
                headlights: 0.5,
                lens_blur_px: 0.8,
                noise: 3.0,
                ..day
            },
            ConditionsPreset::Fog => Conditions {
                sun_light: [0.3, 0.3, 0.3],
                sky_light: [0.6, 0.6, 0.62],
                sky_zenith: [0.6, 0.62, 0.64],
                sky_horizon: [0.7, 0.71, 0.72],
                clouds: 0.0,
                fog_density: 0.03,
                fog_colour: [0.66, 0.67, 0.69],
                headlights: 0.5,
                ..day
            },
        }
    }

    /// A random mix of time of day, weather and sensor defects for detector training.
    pub fn random(rng: &mut impl Rng) -> Conditions {
        let base = match rng.random_range(0..10) {
            0..=4 => ConditionsPreset::Day,
            5 => ConditionsPreset::Dusk,
            6 => ConditionsPreset::Night,
            7 | 8 => ConditionsPreset::Rain,
            _ => ConditionsPreset::Fog,
        };
        let mut c = Conditions::preset(base);
        let jitter = |colour: [f32; 3], spread: f32, rng: &mut dyn rand::RngCore| {
            let gain: f32 = rng.random_range(1.0 - spread..1.0 + spread);
            colour.map(|v| v * gain * rng.random_range(0.93..1.07))
        };
        c.sun_azimuth = rng.random_range(0.0..std::f64::consts::TAU);
        if c.sun_elevation > 0.1 {
            c.sun_elevation = rng.random_range(8f64..65.0).to_radians();
        }
        c.sun_light = jitter(c.sun_light, 0.3, rng);
        c.sky_light = jitter(c.sky_light, 0.3, rng);
        c.sky_zenith = jitter(c.sky_zenith, 0.2, rng);
        c.sky_horizon = jitter(c.sky_horizon, 0.15, rng);
        c.clouds = (c.clouds + rng.random_range(-0.3..0.4)).clamp(0.0, 1.0);
        c.exposure *= rng.random_range(0.7..1.4);
        c.fog_density *= rng.random_range(0.5..2.0);
        c.underground_light = jitter(c.underground_light, 0.4, rng);
        c.motion_blur_px = if rng.random_bool(0.3) {
            rng.random_range(0.0..6.0)
        } else {
            0.0
        };
        c.motion_blur_angle = rng.random_range(-0.3..0.3);
        c.lens_blur_px = rng.random_range(0.3..1.2);
        c.noise = rng.random_range(1.0..8.0);
        c.jpeg_quality = rng.random_bool(0.5).then(|| rng.random_range(35..95));
        c.vignetting = rng.random_range(0.0..0.5);
        c.sign_tilt = rng.random_range(0.0..0.2);
        c.sign_fading = rng.random_range(0.0..0.5);
        c.sign_seed = rng.random();
        c
    }

    /// Unit vector (ENU) towards the sun.
    pub fn sun_direction(&self) -> [f64; 3] {
        let (el, az) = (self.sun_elevation, self.sun_azimuth);
        [el.cos() * az.sin(), el.cos() * az.cos(), el.sin()]
    }

    /// Whether street lamps, lit windows and headlight glare belong in the picture.
    pub fn is_dark(&self) -> bool {
        self.sun_elevation < 2f64.to_radians()
    }
}
