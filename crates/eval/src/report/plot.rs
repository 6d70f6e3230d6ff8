//! The plots of an evaluation, drawn with plotters on any backend: SVG text for the HTML
//! report and `--plots`, PNG files (text from the bundled DejaVu Sans, no system fonts).

use crate::assoc::Truth;
use crate::metrics::{Evaluation, FixError};
use crate::track::SampleSource;
use crate::EvalError;
use mapfix_core::{FixSource, Vec3};
use mapfix_map::{LineStyle, Map};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans-subset.ttf");
const FONT_FAMILY: &str = "sans-serif";

/// What a report draws from.
pub struct Scene<'a> {
    pub truth: &'a Truth,
    pub evaluations: &'a [Evaluation],
    pub map: Option<&'a Map>,
}

/// The kinds of plot; the per-estimate ones carry the estimate's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotKind {
    /// Track and truth over the map's lane lines and signs (east/north).
    Map,
    /// The map around the largest horizontal error, with each fix tied to its truth.
    MapDetail,
    /// Horizontal error over time, coloured by source.
    ErrorOverTime(usize),
    /// Signed lateral and longitudinal error along the truth's distance.
    AlongTrack(usize),
    /// Cumulative distribution of the horizontal error, all estimates.
    Cdf,
    /// Reported σ against the real horizontal error.
    Sigma(usize),
}

/// One plot: what it shows, its file name (without extension) and size in pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    pub kind: PlotKind,
    pub title: String,
    pub file_stem: String,
    pub size: (u32, u32),
}

/// The plots a scene calls for, in report order.
pub fn plots(scene: &Scene) -> Vec<Plot> {
    let wide = (960, 380);
    // The map plot's height follows the drive's shape, within reason.
    let (lo, hi) = drive_bounds(scene);
    let aspect = ((hi.1 - lo.1 + 20.0) / (hi.0 - lo.0 + 20.0)).clamp(0.45, 1.1);
    let mut plots = vec![Plot {
        kind: PlotKind::Map,
        title: "Track and truth on the map".into(),
        file_stem: "map".into(),
        size: (960, (860.0 * aspect) as u32 + 100),
    }];
    if scene.evaluations.iter().any(|e| !e.errors.is_empty()) {
        plots.push(Plot {
            kind: PlotKind::MapDetail,
            title: "Around the largest error".into(),
            file_stem: "map-detail".into(),
            size: (960, 560),
        });
    }
    let several = scene.evaluations.len() > 1;
    for (k, e) in scene.evaluations.iter().enumerate() {
        let stem = if several {
            format!("{}-", file_safe(&e.name))
        } else {
            String::new()
        };
        let of = if several {
            format!(" — {}", e.name)
        } else {
            String::new()
        };
        plots.push(Plot {
            kind: PlotKind::ErrorOverTime(k),
            title: format!("Horizontal error over time{of}"),
            file_stem: format!("{stem}error-time"),
            size: wide,
        });
        plots.push(Plot {
            kind: PlotKind::AlongTrack(k),
            title: format!("Lateral and longitudinal error along the drive{of}"),
            file_stem: format!("{stem}lateral-longitudinal"),
            size: wide,
        });
        if e.honesty.is_some() {
            plots.push(Plot {
                kind: PlotKind::Sigma(k),
                title: format!("Reported σ against horizontal error{of}"),
                file_stem: format!("{stem}sigma"),
                size: (620, 460),
            });
        }
    }
    plots.push(Plot {
        kind: PlotKind::Cdf,
        title: "Horizontal error CDF".into(),
        file_stem: "cdf".into(),
        size: (620, 460),
    });
    plots
}

fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A plot as SVG text.
pub fn to_svg(plot: &Plot, scene: &Scene) -> Result<String, EvalError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, plot.size).into_drawing_area();
        draw(plot, scene, &root)?;
        root.present().map_err(fail(plot))?;
    }
    Ok(svg)
}

/// Writes every plot of the scene into `dir` as `<stem>.svg` and `<stem>.png`.
pub fn write_all(scene: &Scene, dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    std::fs::create_dir_all(dir).map_err(|source| EvalError::Write {
        path: dir.into(),
        source,
    })?;
    let mut written = Vec::new();
    for plot in plots(scene) {
        let svg_path = dir.join(format!("{}.svg", plot.file_stem));
        std::fs::write(&svg_path, to_svg(&plot, scene)?).map_err(|source| EvalError::Write {
            path: svg_path.clone(),
            source,
        })?;
        let png_path = dir.join(format!("{}.png", plot.file_stem));
        {
            let root = BitMapBackend::new(&png_path, plot.size).into_drawing_area();
            draw(&plot, scene, &root)?;
            root.present().map_err(|e| EvalError::Write {
                path: png_path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        written.extend([svg_path, png_path]);
    }
    Ok(written)
}

fn fail<E: std::fmt::Display>(plot: &Plot) -> impl Fn(E) -> EvalError + '_ {
    move |e| EvalError::Plot {
        plot: plot.file_stem.clone(),
        message: e.to_string(),
    }
}

/// Draws one plot onto any plotters backend.
pub fn draw<DB: DrawingBackend>(
    plot: &Plot,
    scene: &Scene,
    root: &DrawingArea<DB, Shift>,
) -> Result<(), EvalError> {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The bundled font is known to be valid; a failure would show as missing text.
        let _ = plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT);
    });
    let result = match plot.kind {
        PlotKind::Map => draw_map(scene, root, false),
        PlotKind::MapDetail => draw_map(scene, root, true),
        PlotKind::ErrorOverTime(k) => draw_error_over_time(scene, &scene.evaluations[k], root),
        PlotKind::AlongTrack(k) => draw_along_track(&scene.evaluations[k], root),
        PlotKind::Cdf => draw_cdf(scene, root),
        PlotKind::Sigma(k) => draw_sigma(&scene.evaluations[k], root),
    };
    result.map_err(fail(plot))
}

/// One signed error of a fix, for plotting.
type Measure = fn(&FixError) -> f64;

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// The chart every plot uses: margins, axis labels with as many decimals as the range
/// needs, and a light grid.
type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Space around the plotting area: outer margin, right margin (room for the last tick
/// label), and the label areas below and left of it.
const MARGIN: u32 = 12;
const RIGHT_MARGIN: u32 = 32;
const X_LABELS: u32 = 44;
const Y_LABELS: u32 = 64;

fn axes<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    x: std::ops::Range<f64>,
    y: std::ops::Range<f64>,
    x_desc: &str,
    y_desc: &str,
) -> Result<Chart<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (x_decimals, y_decimals) = (decimals(&x), decimals(&y));
    let mut chart = ChartBuilder::on(area)
        .margin(MARGIN)
        .margin_right(RIGHT_MARGIN)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x, y)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(label_font())
        .x_label_formatter(&|v| format!("{v:.x_decimals$}"))
        .y_label_formatter(&|v| format!("{v:.y_decimals$}"))
        .light_line_style(RGBColor(244, 244, 244))
        .bold_line_style(RGBColor(222, 222, 222))
        .draw()?;
    Ok(chart)
}

/// Decimals for tick labels over a range: none for tens of metres, more for less.
fn decimals(range: &std::ops::Range<f64>) -> usize {
    match range.end - range.start {
        span if span >= 20.0 => 0,
        span if span >= 2.0 => 1,
        _ => 2,
    }
}

fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut Chart<'a, DB>,
    position: SeriesLabelPosition,
) -> Drawn<DB> {
    chart
        .configure_series_labels()
        .label_font(label_font())
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
}

/// Tableau colours: estimates in order, and fixed ones per source.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn source_color(source: SampleSource) -> RGBColor {
    match source {
        SampleSource::Fix(FixSource::Vision) => PALETTE[0],
        SampleSource::Fix(FixSource::Fused) => PALETTE[4],
        SampleSource::Fix(FixSource::Gnss) => PALETTE[1],
        SampleSource::Fix(FixSource::DeadReckoning) => PALETTE[3],
        SampleSource::NoFix | SampleSource::Unknown => RGBColor(90, 90, 90),
    }
}

fn label_font() -> TextStyle<'static> {
    (FONT_FAMILY, 14).into_font().into()
}

/// Sources present among the errors, in a fixed order.
fn sources_of(errors: &[FixError]) -> Vec<SampleSource> {
    SampleSource::all()
        .filter(|s| errors.iter().any(|e| e.source == *s))
        .collect()
}

fn legend_dot(color: RGBColor) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x + 8, y), 4, color.filled())
}

fn legend_line(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style)
}

/// The plot area below a title, with the margins every chart uses.
fn titled<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> Result<DrawingArea<DB, Shift>, DrawingAreaErrorKind<DB::ErrorType>> {
    root.fill(&WHITE)?;
    root.titled(title, (FONT_FAMILY, 18).into_font())
}

/// Smallest and largest east/north of the truth and every scored fix.
fn drive_bounds(scene: &Scene) -> ((f64, f64), (f64, f64)) {
    let truth = scene.truth.positions().iter().map(|p| (p.x, p.y));
    let estimates = scene
        .evaluations
        .iter()
        .flat_map(|e| e.errors.iter().map(|f| (f.estimate.x, f.estimate.y)));
    let (mut lo, mut hi) = (
        (f64::INFINITY, f64::INFINITY),
        (f64::NEG_INFINITY, f64::NEG_INFINITY),
    );
    for (x, y) in truth.chain(estimates) {
        lo = (lo.0.min(x), lo.1.min(y));
        hi = (hi.0.max(x), hi.1.max(y));
    }
    (lo, hi)
}

/// The worst scored fix over all estimates.
fn largest_error<'a>(scene: &Scene<'a>) -> Option<&'a FixError> {
    scene
        .evaluations
        .iter()
        .flat_map(|e| &e.errors)
        .max_by(|a, b| a.horizontal.total_cmp(&b.horizontal))
}

/// The whole drive, or (`detail`) the surroundings of the largest error.
fn draw_map<DB: DrawingBackend>(
    scene: &Scene,
    root: &DrawingArea<DB, Shift>,
    detail: bool,
) -> Drawn<DB> {
    let worst = largest_error(scene).filter(|_| detail);
    let title = match worst {
        Some(w) => format!(
            "Around the largest error: {:.2} m at {:.1} s, east/north (m)",
            w.horizontal,
            w.time - scene.truth.start()
        ),
        None => "Track and truth, east/north (m)".to_owned(),
    };
    let area = titled(root, &title)?;
    let (lo, hi, pad) = match worst {
        Some(w) => {
            let centre = (
                (w.estimate.x + w.truth.x) / 2.0,
                (w.estimate.y + w.truth.y) / 2.0,
            );
            let reach = (4.0 * w.horizontal).max(15.0);
            (
                (centre.0 - reach, centre.1 - reach),
                (centre.0 + reach, centre.1 + reach),
                0.0,
            )
        }
        None => {
            let (lo, hi) = drive_bounds(scene);
            (lo, hi, 0.05 * (hi.0 - lo.0).max(hi.1 - lo.1) + 10.0)
        }
    };
    let (width, height) = area.dim_in_pixel();
    let pixels = (
        (width - MARGIN - RIGHT_MARGIN - Y_LABELS) as f64,
        (height - 2 * MARGIN - X_LABELS) as f64,
    );
    let (x_range, y_range) =
        equal_aspect((lo.0 - pad, hi.0 + pad), (lo.1 - pad, hi.1 + pad), pixels);
    let mut chart = axes(
        &area,
        x_range.0..x_range.1,
        y_range.0..y_range.1,
        "east (m)",
        "north (m)",
    )?;
    let bounds = (x_range.0, y_range.0, x_range.1, y_range.1);
    if let Some(map) = scene.map {
        let space = RGBColor(150, 110, 200);
        let outlines: Vec<Vec<(f64, f64)>> = map
            .underground
            .iter()
            .flat_map(|u| clip(&closed(&u.outline), bounds))
            .collect();
        if !outlines.is_empty() {
            chart
                .draw_series(
                    outlines
                        .into_iter()
                        .map(|run| PathElement::new(run, space.stroke_width(1))),
                )?
                .label("underground space")
                .legend(legend_line(space.stroke_width(2)));
        }
        let edges: Vec<Vec<(f64, f64)>> = map
            .road_edges
            .iter()
            .flat_map(|l| clip(&l.points, bounds))
            .collect();
        chart.draw_series(
            edges
                .into_iter()
                .map(|run| PathElement::new(run, RGBColor(200, 200, 200).stroke_width(1))),
        )?;
        let lane = RGBColor(120, 120, 120);
        let lanes: Vec<(Vec<(f64, f64)>, LineStyle)> = map
            .lane_lines
            .iter()
            .flat_map(|l| {
                clip(&l.line.points, bounds)
                    .into_iter()
                    .map(move |run| (run, l.style))
            })
            .collect();
        if !lanes.is_empty() {
            chart
                .draw_series(lanes.into_iter().map(|(run, style)| {
                    let color = if style == LineStyle::Dashed {
                        RGBColor(170, 170, 170)
                    } else {
                        lane
                    };
                    PathElement::new(run, color.stroke_width(1))
                }))?
                .label("lane lines")
                .legend(legend_line(lane.stroke_width(1)));
        }
        let stops: Vec<Vec<(f64, f64)>> = map
            .stop_lines
            .iter()
            .flat_map(|l| clip(&l.points, bounds))
            .collect();
        chart.draw_series(
            stops
                .into_iter()
                .map(|run| PathElement::new(run, BLACK.stroke_width(2))),
        )?;
        let sign_color = RGBColor(200, 30, 30);
        let signs: Vec<(f64, f64)> = map
            .signs
            .iter()
            .map(|s| (s.position.x, s.position.y))
            .filter(|p| inside(*p, bounds))
            .collect();
        if !signs.is_empty() {
            chart
                .draw_series(
                    signs
                        .into_iter()
                        .map(|p| TriangleMarker::new(p, 5, sign_color.filled())),
                )?
                .label("signs")
                .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, sign_color.filled()));
        }
    }
    let several = scene.evaluations.len() > 1;
    for (k, evaluation) in scene.evaluations.iter().enumerate() {
        // One estimate: colours tell the source; several: they tell the estimates apart.
        let groups: Vec<(String, RGBColor, Vec<&FixError>)> = if several {
            vec![(
                evaluation.name.clone(),
                PALETTE[k % PALETTE.len()],
                evaluation.errors.iter().collect(),
            )]
        } else {
            sources_of(&evaluation.errors)
                .into_iter()
                .map(|s| {
                    (
                        s.to_string(),
                        source_color(s),
                        evaluation.errors.iter().filter(|e| e.source == s).collect(),
                    )
                })
                .collect()
        };
        for (label, color, errors) in groups {
            let visible: Vec<&FixError> = errors
                .into_iter()
                .filter(|e| inside((e.estimate.x, e.estimate.y), bounds))
                .collect();
            if detail {
                // Tie each fix to the truth at its time: the error itself, to scale.
                chart.draw_series(visible.iter().map(|e| {
                    PathElement::new(
                        vec![(e.estimate.x, e.estimate.y), (e.truth.x, e.truth.y)],
                        color.mix(0.5).stroke_width(1),
                    )
                }))?;
            }
            let (radius, alpha) = if detail { (3, 0.9) } else { (2, 0.55) };
            chart
                .draw_series(visible.into_iter().map(|e| {
                    Circle::new(
                        (e.estimate.x, e.estimate.y),
                        radius,
                        color.mix(alpha).filled(),
                    )
                }))?
                .label(label)
                .legend(legend_dot(color));
        }
    }
    // The truth on top, so that the fixes around it do not hide it.
    let truth = clip(scene.truth.positions(), bounds);
    chart
        .draw_series(
            truth
                .into_iter()
                .map(|run| PathElement::new(run, BLACK.stroke_width(1))),
        )?
        .label("truth")
        .legend(legend_line(BLACK.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

/// Widens one of the ranges so that a metre is as long east as north on `pixels`.
fn equal_aspect(x: (f64, f64), y: (f64, f64), pixels: (f64, f64)) -> ((f64, f64), (f64, f64)) {
    let (dx, dy) = (x.1 - x.0, y.1 - y.0);
    let scale = (dx / pixels.0).max(dy / pixels.1);
    let (cx, cy) = ((x.0 + x.1) / 2.0, (y.0 + y.1) / 2.0);
    let (hx, hy) = (scale * pixels.0 / 2.0, scale * pixels.1 / 2.0);
    ((cx - hx, cx + hx), (cy - hy, cy + hy))
}

fn closed(ring: &[Vec3]) -> Vec<Vec3> {
    ring.iter().chain(ring.first()).copied().collect()
}

fn inside((x, y): (f64, f64), (x0, y0, x1, y1): (f64, f64, f64, f64)) -> bool {
    x >= x0 && x <= x1 && y >= y0 && y <= y1
}

/// The parts of a polyline inside the box (min x, min y, max x, max y), as runs of points
/// (Liang–Barsky clipping of each segment).
fn clip(points: &[Vec3], bounds: (f64, f64, f64, f64)) -> Vec<Vec<(f64, f64)>> {
    let (x0, y0, x1, y1) = bounds;
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for segment in points.windows(2) {
        let (a, b) = ((segment[0].x, segment[0].y), (segment[1].x, segment[1].y));
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        let mut visible = true;
        for (p, q) in [
            (-dx, a.0 - x0),
            (dx, x1 - a.0),
            (-dy, a.1 - y0),
            (dy, y1 - a.1),
        ] {
            if p == 0.0 {
                visible &= q >= 0.0;
            } else if p < 0.0 {
                t0 = t0.max(q / p);
            } else {
                t1 = t1.min(q / p);
            }
        }
        if !visible || t0 > t1 {
            if current.len() > 1 {
                runs.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        let start = (a.0 + t0 * dx, a.1 + t0 * dy);
        let end = (a.0 + t1 * dx, a.1 + t1 * dy);
        if current.last() != Some(&start) {
            if current.len() > 1 {
                runs.push(std::mem::take(&mut current));
            }
            current = vec![start];
        }
        current.push(end);
        if t1 < 1.0 {
            runs.push(std::mem::take(&mut current));
        }
    }
    if current.len() > 1 {
        runs.push(current);
    }
    runs
}

/// Upper end of an axis for non-negative values: a little above the largest.
fn upper(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0f64, f64::max).max(1e-3) * 1.05
}

fn draw_error_over_time<DB: DrawingBackend>(
    scene: &Scene,
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
) -> Drawn<DB> {
    let area = titled(root, &format!("Horizontal error over time — {}", e.name))?;
    let start = scene.truth.start();
    let top = upper(e.errors.iter().map(|f| f.horizontal));
    let mut chart = axes(
        &area,
        0.0..(scene.truth.end() - start).max(1e-3),
        0.0..top,
        "time since truth start (s)",
        "horizontal error (m)",
    )?;
    for source in sources_of(&e.errors) {
        let color = source_color(source);
        chart
            .draw_series(
                e.errors
                    .iter()
                    .filter(|f| f.source == source)
                    .map(|f| Circle::new((f.time - start, f.horizontal), 2, color.filled())),
            )?
            .label(source.to_string())
            .legend(legend_dot(color));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_along_track<DB: DrawingBackend>(
    e: &Evaluation,
    root: &DrawingArea<DB, Shift>,
) -> Drawn<DB> {
    let area = titled(
        root,
        &format!(
            "Lateral (+ left) and longitudinal (+ ahead) error — {}",
            e.name
        ),
    )?;
    let reach = upper(
        e.errors
            .iter()
            .flat_map(|f| [f.lateral.abs(), f.longitudinal.abs()]),
    );
    let end = e
        .errors
        .iter()
        .map(|f| f.distance)
        .fold(0.0f64, f64::max)
        .max(1.0);
    let mut chart = axes(
        &area,
        0.0..end,
        -reach..reach,
        "distance along the truth (m)",
        "error (m)",
    )?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(0.0, 0.0), (end, 0.0)],
        BLACK.stroke_width(1),
    )))?;
    let series: [(&str, RGBColor, Measure); 2] = [
        // Lateral last, on top: the smaller error, and the one lane keeping needs.
        ("longitudinal", PALETTE[1], |f| f.longitudinal),
        ("lateral", PALETTE[0], |f| f.lateral),
    ];
    for (label, color, value) in series {
        chart
            .draw_series(
                e.errors
                    .iter()
                    .map(|f| Circle::new((f.distance, value(f)), 2, color.mix(0.8).filled())),
            )?
            .label(label)
            .legend(legend_dot(color));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

fn draw_cdf<DB: DrawingBackend>(scene: &Scene, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
    let area = titled(root, "Horizontal error CDF")?;
    let right = upper(
        scene
            .evaluations
            .iter()
            .flat_map(|e| e.errors.iter().map(|f| f.horizontal)),
    );
    let mut chart = axes(
        &area,
        0.0..right,
        0.0..1.0,
        "horizontal error (m)",
        "share of scored fixes",
    )?;
    for (k, e) in scene.evaluations.iter().enumerate() {
        let mut sorted: Vec<f64> = e.errors.iter().map(|f| f.horizontal).collect();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        // A step function: the share jumps at each error value.
        let mut steps = vec![(0.0, 0.0)];
        for (i, &v) in sorted.iter().enumerate() {
            steps.push((v, i as f64 / n));
            steps.push((v, (i + 1) as f64 / n));
        }
        steps.push((right, if sorted.is_empty() { 0.0 } else { 1.0 }));
        let color = PALETTE[k % PALETTE.len()];
        chart
            .draw_series(std::iter::once(PathElement::new(
                steps,
                color.stroke_width(2),
            )))?
            .label(e.name.clone())
            .legend(legend_line(color.stroke_width(2)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

fn draw_sigma<DB: DrawingBackend>(e: &Evaluation, root: &DrawingArea<DB, Shift>) -> Drawn<DB> {
    let area = titled(
        root,
        &format!("Reported σ against horizontal error — {}", e.name),
    )?;
    let points: Vec<(f64, f64, SampleSource)> = e
        .errors
        .iter()
        .filter_map(|f| f.sigma.map(|s| (s, f.horizontal, f.source)))
        .collect();
    let right = upper(points.iter().map(|p| p.0));
    let top = upper(points.iter().map(|p| p.1));
    let mut chart = axes(
        &area,
        0.0..right,
        0.0..top,
        "reported σ, RMS of east and north (m)",
        "horizontal error (m)",
    )?;
    for k in 1..=3 {
        let shade = RGBColor(100, 100, 100).mix(0.3 * k as f64);
        let end = right.min(top / k as f64);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(0.0, 0.0), (end, k as f64 * end)],
                shade.stroke_width(1),
            )))?
            .label(format!("error = {k}σ"))
            .legend(legend_line(shade.stroke_width(1)));
    }
    for source in SampleSource::all().filter(|s| points.iter().any(|p| p.2 == *s)) {
        let color = source_color(source);
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| p.2 == source)
                    .map(|p| Circle::new((p.0, p.1), 2, color.mix(0.8).filled())),
            )?
            .label(source.to_string())
            .legend(legend_dot(color));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clipping_keeps_the_inside_parts() {
        let line = [
            Vec3::new(-10.0, 5.0, 0.0),
            Vec3::new(20.0, 5.0, 0.0),
            Vec3::new(20.0, 50.0, 0.0),
        ];
        let runs = clip(&line, (0.0, 0.0, 10.0, 10.0));
        assert_eq!(runs, vec![vec![(0.0, 5.0), (10.0, 5.0)]]);
        let inside_only = [
            Vec3::new(1.0, 1.0, 0.0),
            Vec3::new(2.0, 2.0, 0.0),
            Vec3::new(3.0, 1.0, 0.0),
        ];
        assert_eq!(
            clip(&inside_only, (0.0, 0.0, 10.0, 10.0)),
            vec![vec![(1.0, 1.0), (2.0, 2.0), (3.0, 1.0)]]
        );
        assert!(clip(
            &[Vec3::new(20.0, 20.0, 0.0), Vec3::new(30.0, 20.0, 0.0)],
            (0.0, 0.0, 10.0, 10.0)
        )
        .is_empty());
    }

    #[test]
    fn equal_aspect_makes_metres_square() {
        let (x, y) = equal_aspect((0.0, 100.0), (0.0, 10.0), (500.0, 250.0));
        assert!(((x.1 - x.0) / 500.0 - (y.1 - y.0) / 250.0).abs() < 1e-12);
        assert_eq!(x, (0.0, 100.0));
        assert_eq!((y.0 + y.1) / 2.0, 5.0);
    }
}
