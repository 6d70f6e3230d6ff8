//! `mapfix map …`: info, import, demo-town.

use anyhow::{bail, Context};
use clap::Subcommand;
use mapfix_core::{Geodetic, Vec3};
use mapfix_map::{ImportOptions, ImportReport, LineStyle, Map, SignClass, GTSRB_NAMES};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum MapCommand {
    /// Summarise a map (.geojson, .osm or .xodr): counts by kind and sign class, bounds,
    /// origin, levels.
    Info {
        map: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Import a Lanelet2 (.osm), OpenDRIVE (.xodr) or GeoJSON map and write mapfix GeoJSON.
    Import {
        input: PathBuf,
        /// The GeoJSON file to write.
        #[arg(short, long)]
        output: PathBuf,
        /// Height (m) of a sign's centre above the road where the source gives none.
        #[arg(long, value_name = "M", default_value_t = ImportOptions::default().default_sign_height)]
        sign_height: f64,
        /// Origin of the local frame (degrees, metres) for sources without a georeference;
        /// for GeoJSON it re-anchors the frame.
        #[arg(long, value_name = "LAT,LON[,H]", value_parser = parse_origin)]
        origin: Option<Geodetic>,
    },
    /// Generate the seeded demo town (street grid, signs, tunnel into an underground car
    /// park) as GeoJSON.
    DemoTown {
        /// Seed of the generator's random choices; recorded in the map's provenance.
        #[arg(long, default_value_t = mapfix_map::demo_town::SHIPPED_SEED)]
        seed: u64,
        /// The GeoJSON file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
}

pub fn run(command: MapCommand) -> anyhow::Result<()> {
    match command {
        MapCommand::Info { map, json } => info(&map, json),
        MapCommand::Import {
            input,
            output,
            sign_height,
            origin,
        } => {
            if !(sign_height.is_finite() && sign_height > 0.0) {
                bail!("--sign-height must be a positive number of metres, got {sign_height}");
            }
            let options = ImportOptions {
                default_sign_height: sign_height,
                origin,
                ..Default::default()
            };
            import(&input, &output, &options)
        }
        MapCommand::DemoTown { seed, output } => {
            check_geojson_output(&output)?;
            let map = mapfix_map::demo_town::generate(seed);
            mapfix_map::geojson::save(&map, &output)?;
            println!(
                "demo town, seed {seed} → {}: {}",
                output.display(),
                counts(&map)
            );
            Ok(())
        }
    }
}

fn check_geojson_output(output: &Path) -> anyhow::Result<()> {
    let extension = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(extension.as_deref(), Some("geojson" | "json")) {
        bail!(
            "output {} must be a .geojson (or .json) file",
            output.display()
        );
    }
    Ok(())
}

fn counts(map: &Map) -> String {
    format!(
        "{} signs, {} lane lines, {} stop lines, {} road edges, {} poles, {} buildings, {} underground spaces",
        map.signs.len(),
        map.lane_lines.len(),
        map.stop_lines.len(),
        map.road_edges.len(),
        map.poles.len(),
        map.buildings.len(),
        map.underground.len()
    )
}

fn parse_origin(text: &str) -> Result<Geodetic, String> {
    let numbers: Result<Vec<f64>, _> = text
        .split(',')
        .map(|part| part.trim().parse::<f64>())
        .collect();
    match numbers.as_deref() {
        Ok(&[lat, lon]) if valid_lat_lon(lat, lon) => Ok(Geodetic::from_degrees(lat, lon, 0.0)),
        Ok(&[lat, lon, height]) if valid_lat_lon(lat, lon) && height.is_finite() => {
            Ok(Geodetic::from_degrees(lat, lon, height))
        }
        _ => Err(format!(
            "expected LAT,LON or LAT,LON,HEIGHT in degrees and metres, got {text:?}"
        )),
    }
}

fn valid_lat_lon(lat: f64, lon: f64) -> bool {
    (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)
}

fn import(input: &Path, output: &Path, options: &ImportOptions) -> anyhow::Result<()> {
    check_geojson_output(output)?;
    let (map, report) = mapfix_map::load(input, options)?;
    mapfix_map::geojson::save(&map, output)?;
    println!(
        "{} → {}: {}",
        input.display(),
        output.display(),
        counts(&map)
    );
    print_report(&report);
    Ok(())
}

fn print_report(report: &ImportReport) {
    if !report.other_sign_codes.is_empty() {
        let total: usize = report.other_sign_codes.values().sum();
        println!("signs without a GTSRB class, kept as \"other\" ({total}):");
        for (code, count) in &report.other_sign_codes {
            println!("  {code:<16} {count:>5}");
        }
    }
    for note in &report.notes {
        println!("note: {note}");
    }
}

/// What `map info` reports, gathered once for both the text and the JSON form.
struct Summary {
    gtsrb: BTreeMap<u8, usize>,
    other: BTreeMap<String, usize>,
    signs_by_level: BTreeMap<i32, usize>,
    lane_lines_by_style: BTreeMap<&'static str, usize>,
    lane_line_length: f64,
    levels: Vec<i32>,
    /// ENU box and the WGS84 box of its corners.
    bounds: Option<((Vec3, Vec3), (Geodetic, Geodetic))>,
}

impl Summary {
    fn of(map: &Map) -> Self {
        let mut gtsrb = BTreeMap::new();
        let mut other = BTreeMap::new();
        let mut signs_by_level = BTreeMap::new();
        for sign in &map.signs {
            match &sign.class {
                SignClass::Gtsrb(class) => *gtsrb.entry(*class).or_default() += 1,
                SignClass::Other(code) => *other.entry(code.clone()).or_default() += 1,
            }
            *signs_by_level.entry(sign.level).or_default() += 1;
        }
        let mut lane_lines_by_style = BTreeMap::new();
        for lane in &map.lane_lines {
            let style = match lane.style {
                LineStyle::Solid => "solid",
                LineStyle::Dashed => "dashed",
                LineStyle::Double => "double",
            };
            *lane_lines_by_style.entry(style).or_default() += 1;
        }
        Self {
            gtsrb,
            other,
            signs_by_level,
            lane_lines_by_style,
            lane_line_length: map.lane_lines.iter().map(|l| l.line.length()).sum(),
            levels: map.levels(),
            bounds: map
                .bounds()
                .map(|(lo, hi)| ((lo, hi), geodetic_box(map, &lo, &hi))),
        }
    }
}

/// The latitude/longitude/height box around the corners of an ENU box.
fn geodetic_box(map: &Map, lo: &Vec3, hi: &Vec3) -> (Geodetic, Geodetic) {
    let corners = [lo.x, hi.x]
        .into_iter()
        .flat_map(|x| [lo.y, hi.y].map(|y| (x, y)))
        .flat_map(|(x, y)| [lo.z, hi.z].map(|z| map.frame.to_geodetic(&Vec3::new(x, y, z))));
    let start = (
        Geodetic::from_degrees(90.0, 180.0, f64::INFINITY),
        Geodetic::from_degrees(-90.0, -180.0, f64::NEG_INFINITY),
    );
    corners.fold(start, |(min, max), g| {
        (
            Geodetic {
                lat: min.lat.min(g.lat),
                lon: min.lon.min(g.lon),
                height: min.height.min(g.height),
            },
            Geodetic {
                lat: max.lat.max(g.lat),
                lon: max.lon.max(g.lon),
                height: max.height.max(g.height),
            },
        )
    })
}

fn info(path: &Path, as_json: bool) -> anyhow::Result<()> {
    let (map, _) = mapfix_map::load(path, &ImportOptions::default())?;
    let summary = Summary::of(&map);
    if as_json {
        let text = serde_json::to_string_pretty(&info_json(&map, &summary))
            .with_context(|| format!("cannot describe map {} as JSON", path.display()))?;
        println!("{text}");
    } else {
        print_info(path, &map, &summary);
    }
    Ok(())
}

fn info_json(map: &Map, summary: &Summary) -> serde_json::Value {
    let origin = map.frame.origin();
    let classes: Vec<_> = summary
        .gtsrb
        .iter()
        .map(|(class, count)| json!({"class": class, "name": GTSRB_NAMES[*class as usize], "count": count}))
        .collect();
    let bounds = summary.bounds.map(|((lo, hi), (south_west, north_east))| {
        json!({
            "east_m": [lo.x, hi.x],
            "north_m": [lo.y, hi.y],
            "up_m": [lo.z, hi.z],
            "lat_deg": [south_west.lat_deg(), north_east.lat_deg()],
            "lon_deg": [south_west.lon_deg(), north_east.lon_deg()],
            "height_m": [south_west.height, north_east.height],
        })
    });
    let signs_by_level: BTreeMap<String, usize> = summary
        .signs_by_level
        .iter()
        .map(|(level, count)| (level.to_string(), *count))
        .collect();
    json!({
        "name": map.name,
        "provenance": map.provenance,
        "origin": {"lat_deg": origin.lat_deg(), "lon_deg": origin.lon_deg(), "height_m": origin.height},
        "signs": map.signs.len(),
        "lane_lines": map.lane_lines.len(),
        "stop_lines": map.stop_lines.len(),
        "road_edges": map.road_edges.len(),
        "poles": map.poles.len(),
        "buildings": map.buildings.len(),
        "underground": map.underground.len(),
        "classes": summary.gtsrb.len(),
        "signs_by_class": classes,
        "other_sign_codes": summary.other,
        "signs_by_level": signs_by_level,
        "lane_lines_by_style": summary.lane_lines_by_style,
        "lane_line_length_m": summary.lane_line_length,
        "levels": summary.levels,
        "bounds": bounds,
    })
}

fn print_info(path: &Path, map: &Map, summary: &Summary) {
    let origin = map.frame.origin();
    println!(
        "map {} ({})",
        path.display(),
        if map.name.is_empty() {
            "unnamed"
        } else {
            &map.name
        }
    );
    if !map.provenance.is_empty() {
        println!("provenance: {}", map.provenance);
    }
    println!(
        "origin: {:.7}° N, {:.7}° E, {:.2} m",
        origin.lat_deg(),
        origin.lon_deg(),
        origin.height
    );
    let levels: Vec<String> = summary.levels.iter().map(i32::to_string).collect();
    println!(
        "levels: {}",
        if levels.is_empty() {
            "none".to_owned()
        } else {
            levels.join(", ")
        }
    );
    println!("signs:        {:>6}", map.signs.len());
    let styles: Vec<String> = summary
        .lane_lines_by_style
        .iter()
        .map(|(style, n)| format!("{n} {style}"))
        .collect();
    println!(
        "lane lines:   {:>6}  ({:.1} m{}{})",
        map.lane_lines.len(),
        summary.lane_line_length,
        if styles.is_empty() { "" } else { "; " },
        styles.join(", ")
    );
    for (label, count) in [
        ("stop lines", map.stop_lines.len()),
        ("road edges", map.road_edges.len()),
        ("poles", map.poles.len()),
        ("buildings", map.buildings.len()),
        ("underground", map.underground.len()),
    ] {
        println!("{:<13} {count:>6}", format!("{label}:"));
    }
    if !summary.gtsrb.is_empty() {
        println!("signs by GTSRB class ({} distinct):", summary.gtsrb.len());
        for (class, count) in &summary.gtsrb {
            println!(
                "  {class:>2} {:<38} {count:>5}",
                GTSRB_NAMES[*class as usize]
            );
        }
    }
    if !summary.other.is_empty() {
        println!("other sign codes:");
        for (code, count) in &summary.other {
            println!("  {code:<41} {count:>5}");
        }
    }
    if summary.signs_by_level.len() > 1 {
        let by_level: Vec<String> = summary
            .signs_by_level
            .iter()
            .map(|(l, n)| format!("{n} on level {l}"))
            .collect();
        println!("signs by level: {}", by_level.join(", "));
    }
    if let Some(((lo, hi), (south_west, north_east))) = summary.bounds {
        println!(
            "bounds (ENU): east {:.1} … {:.1} m, north {:.1} … {:.1} m, up {:.1} … {:.1} m",
            lo.x, hi.x, lo.y, hi.y, lo.z, hi.z
        );
        println!(
            "bounds (WGS84): lat {:.6} … {:.6}°, lon {:.6} … {:.6}°",
            south_west.lat_deg(),
            north_east.lat_deg(),
            south_west.lon_deg(),
            north_east.lon_deg()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_argument() {
        let g = parse_origin("49.0069, 8.4037,115").unwrap();
        assert!(
            (g.lat_deg() - 49.0069).abs() < 1e-12
                && (g.lon_deg() - 8.4037).abs() < 1e-12
                && g.height == 115.0
        );
        assert_eq!(parse_origin("49,8").unwrap().height, 0.0);
        assert!(parse_origin("95,8").is_err());
        assert!(parse_origin("49").is_err());
        assert!(parse_origin("49,8,x").is_err());
    }
}
