//! What users read: a text table of several estimates side by side, one JSON object per
//! estimate, SVG/PNG plots ([`plot`]) and a self-contained HTML page ([`html`]).

pub mod html;
pub mod plot;

use crate::metrics::{Evaluation, GroupStats, EXPECTED_WITHIN};
use crate::stats::Summary;
use serde_json::{json, Map as JsonMap, Value};

/// One field of a [`Summary`].
type SummaryField = fn(&Summary) -> f64;
/// One figure of an evaluation, absent where the data do not give it.
type Figure = fn(&Evaluation) -> Option<f64>;

const DEG: f64 = 180.0 / std::f64::consts::PI;

/// Adds `<prefix>_{mean,median,rmse,p68,p95,p99,max}<unit>` (null when there is no data).
fn put_summary(
    object: &mut JsonMap<String, Value>,
    prefix: &str,
    unit: &str,
    summary: Option<&Summary>,
    scale: f64,
) {
    let fields: [(&str, SummaryField); 7] = [
        ("mean", |s| s.mean),
        ("median", |s| s.median),
        ("rmse", |s| s.rmse),
        ("p68", |s| s.p68),
        ("p95", |s| s.p95),
        ("p99", |s| s.p99),
        ("max", |s| s.max),
    ];
    for (name, field) in fields {
        object.insert(
            format!("{prefix}_{name}{unit}"),
            json!(summary.map(|s| field(s) * scale)),
        );
    }
}

fn group_json(group: &GroupStats) -> Value {
    let mut object = JsonMap::new();
    object.insert("fixes".into(), json!(group.fixes));
    object.insert("availability".into(), json!(group.availability));
    put_summary(
        &mut object,
        "horizontal",
        "_m",
        group.horizontal.as_ref(),
        1.0,
    );
    put_summary(&mut object, "lateral", "_m", group.lateral.as_ref(), 1.0);
    put_summary(
        &mut object,
        "longitudinal",
        "_m",
        group.longitudinal.as_ref(),
        1.0,
    );
    Value::Object(object)
}

/// One flat JSON object with every figure of an evaluation (degrees for angles).
pub fn to_json(evaluation: &Evaluation) -> Value {
    let e = evaluation;
    let mut object = JsonMap::new();
    let mut put = |key: &str, value: Value| object.insert(key.to_owned(), value);
    put("estimate", json!(e.path.display().to_string()));
    put("name", json!(e.name));
    put("rows", json!(e.rows));
    put("fixes", json!(e.fixes));
    put("scored", json!(e.errors.len()));
    put("no_fix", json!(e.no_fix));
    put("out_of_span", json!(e.out_of_span));
    put("in_truth_gap", json!(e.in_truth_gap));
    put("availability", json!(e.availability));
    put("lateral_bias_m", json!(e.lateral_bias));
    put("longitudinal_bias_m", json!(e.longitudinal_bias));
    let ape = e.ape.as_ref();
    put("ape_align", json!(ape.map(|a| a.align)));
    put("ape_rmse_m", json!(ape.map(|a| a.stats.rmse)));
    put("ape_mean_m", json!(ape.map(|a| a.stats.mean)));
    put("ape_median_m", json!(ape.map(|a| a.stats.median)));
    put("ape_std_m", json!(ape.map(|a| a.stats.std)));
    put("ape_min_m", json!(ape.map(|a| a.stats.min)));
    put("ape_max_m", json!(ape.map(|a| a.stats.max)));
    put("ape_scale", json!(ape.map(|a| a.transform.scale)));
    let rpe = e.rpe.as_ref();
    put("rpe_translation_pct", json!(rpe.map(|r| r.translation_pct)));
    put(
        "rpe_rotation_deg_per_m",
        json!(rpe.map(|r| r.rotation_per_m * DEG)),
    );
    put(
        "rpe",
        json!(rpe.map_or(Vec::new(), |r| r
            .windows
            .iter()
            .map(|w| json!({
                "length_m": w.length,
                "segments": w.segments,
                "translation_pct": w.translation_pct,
                "rotation_deg_per_m": w.rotation_per_m * DEG,
            }))
            .collect())),
    );
    let honesty = e.honesty.as_ref();
    put("sigma_fixes", json!(honesty.map_or(0, |h| h.fixes)));
    put("within_1sigma", json!(honesty.map(|h| h.within[0])));
    put("within_2sigma", json!(honesty.map(|h| h.within[1])));
    put("within_3sigma", json!(honesty.map(|h| h.within[2])));
    put("nees_mean", json!(honesty.map(|h| h.nees_mean)));
    put(
        "by_source",
        Value::Object(
            e.by_source
                .iter()
                .map(|(s, g)| (s.name().to_owned(), group_json(g)))
                .collect(),
        ),
    );
    put(
        "by_level",
        Value::Object(
            e.by_level
                .iter()
                .map(|(l, g)| (l.to_string(), group_json(g)))
                .collect(),
        ),
    );
    put_summary(&mut object, "horizontal", "_m", e.horizontal.as_ref(), 1.0);
    put_summary(&mut object, "vertical", "_m", e.vertical.as_ref(), 1.0);
    put_summary(&mut object, "lateral", "_m", e.lateral.as_ref(), 1.0);
    put_summary(
        &mut object,
        "longitudinal",
        "_m",
        e.longitudinal.as_ref(),
        1.0,
    );
    put_summary(&mut object, "heading", "_deg", e.heading.as_ref(), DEG);
    Value::Object(object)
}

/// One row of the comparison table: a label and a cell per evaluation.
pub struct TableRow {
    pub label: String,
    pub cells: Vec<String>,
}

fn metres(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.3}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{:.1} %", 100.0 * v))
}

/// Two figures in metres in one cell.
fn both(first: Option<f64>, second: Option<f64>) -> String {
    format!("{} / {}", metres(first), metres(second))
}

/// The comparison table's rows (text and HTML render the same rows).
pub fn table(evaluations: &[Evaluation]) -> Vec<TableRow> {
    let mut rows = Vec::new();
    let mut row = |label: &str, cell: &dyn Fn(&Evaluation) -> String| {
        rows.push(TableRow {
            label: label.to_owned(),
            cells: evaluations.iter().map(cell).collect(),
        });
    };
    row("rows / fixes / scored", &|e| {
        format!("{} / {} / {}", e.rows, e.fixes, e.errors.len())
    });
    row("outside truth span / in truth gap", &|e| {
        format!("{} / {}", e.out_of_span, e.in_truth_gap)
    });
    row("availability", &|e| percent(Some(e.availability)));
    let stat_rows: [(&str, Figure); 14] = [
        ("horizontal median (m)", |e| e.horizontal.map(|s| s.median)),
        ("horizontal p68 (m)", |e| e.horizontal.map(|s| s.p68)),
        ("horizontal p95 (m)", |e| e.horizontal.map(|s| s.p95)),
        ("horizontal p99 (m)", |e| e.horizontal.map(|s| s.p99)),
        ("horizontal RMSE (m)", |e| e.horizontal.map(|s| s.rmse)),
        ("horizontal max (m)", |e| e.horizontal.map(|s| s.max)),
        ("vertical median (m)", |e| e.vertical.map(|s| s.median)),
        ("vertical p95 (m)", |e| e.vertical.map(|s| s.p95)),
        ("lateral median (m)", |e| e.lateral.map(|s| s.median)),
        ("lateral p95 (m)", |e| e.lateral.map(|s| s.p95)),
        ("lateral bias, + left (m)", |e| e.lateral_bias),
        ("longitudinal median (m)", |e| {
            e.longitudinal.map(|s| s.median)
        }),
        ("longitudinal p95 (m)", |e| e.longitudinal.map(|s| s.p95)),
        ("longitudinal bias, + ahead (m)", |e| e.longitudinal_bias),
    ];
    for (label, value) in stat_rows {
        row(label, &|e| metres(value(e)));
    }
    row("heading median (°)", &|e| {
        metres(e.heading.map(|s| s.median * DEG))
    });
    row("heading p95 (°)", &|e| {
        metres(e.heading.map(|s| s.p95 * DEG))
    });
    let align = evaluations
        .first()
        .and_then(|e| e.ape.as_ref())
        .map_or("none".to_owned(), |a| a.align.to_string());
    row(&format!("APE RMSE, align {align} (m)"), &|e| {
        metres(e.ape.as_ref().map(|a| a.stats.rmse))
    });
    row("RPE translation (%)", &|e| {
        metres(e.rpe.as_ref().map(|r| r.translation_pct))
    });
    row("RPE rotation (°/100 m)", &|e| {
        metres(e.rpe.as_ref().map(|r| r.rotation_per_m * DEG * 100.0))
    });
    for (k, expected) in EXPECTED_WITHIN.iter().enumerate() {
        let label = format!("within {}σ (consistent: {:.1} %)", k + 1, 100.0 * expected);
        row(&label, &|e| percent(e.honesty.map(|h| h.within[k])));
    }
    row("mean NEES (consistent: 2)", &|e| {
        metres(e.honesty.map(|h| h.nees_mean))
    });
    rows
}

/// Per-source and per-level rows: `group` names the split, then one row per figure.
pub fn split_table(evaluations: &[Evaluation]) -> Vec<TableRow> {
    let mut groups: Vec<String> = Vec::new();
    for e in evaluations {
        let names = e
            .by_source
            .iter()
            .map(|(s, _)| format!("source {s}"))
            .chain(e.by_level.iter().map(|(l, _)| format!("level {l}")));
        for name in names {
            if !groups.contains(&name) {
                groups.push(name);
            }
        }
    }
    let find = |e: &Evaluation, name: &str| -> Option<GroupStats> {
        e.by_source
            .iter()
            .map(|(s, g)| (format!("source {s}"), g))
            .chain(e.by_level.iter().map(|(l, g)| (format!("level {l}"), g)))
            .find(|(n, _)| n == name)
            .map(|(_, g)| g.clone())
    };
    let mut rows = Vec::new();
    for name in groups {
        let cell = |f: &dyn Fn(&GroupStats) -> String| {
            evaluations
                .iter()
                .map(|e| find(e, &name).map_or("–".to_owned(), |g| f(&g)))
                .collect()
        };
        rows.push(TableRow {
            label: format!("{name}: fixes, availability"),
            cells: cell(&|g| format!("{}, {}", g.fixes, percent(Some(g.availability)))),
        });
        rows.push(TableRow {
            label: format!("{name}: horizontal median / p95 (m)"),
            cells: cell(&|g| both(g.horizontal.map(|s| s.median), g.horizontal.map(|s| s.p95))),
        });
        rows.push(TableRow {
            label: format!("{name}: lateral / longitudinal median (m)"),
            cells: cell(&|g| {
                both(
                    g.lateral.map(|s| s.median),
                    g.longitudinal.map(|s| s.median),
                )
            }),
        });
    }
    rows
}

/// The comparison as aligned plain text, one column per estimate.
pub fn text(evaluations: &[Evaluation]) -> String {
    let header = TableRow {
        label: "estimate".to_owned(),
        cells: evaluations.iter().map(|e| e.name.clone()).collect(),
    };
    let mut rows = vec![header];
    rows.extend(table(evaluations));
    let splits = split_table(evaluations);
    let label_width = rows
        .iter()
        .chain(&splits)
        .map(|r| r.label.chars().count())
        .max()
        .unwrap_or(0);
    let widths: Vec<usize> = (0..evaluations.len())
        .map(|c| {
            rows.iter()
                .chain(&splits)
                .map(|r| r.cells[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |row: &TableRow| {
        let mut line = format!("{:<label_width$}", row.label);
        for (cell, width) in row.cells.iter().zip(&widths) {
            line.push_str(&format!("  {cell:>width$}"));
        }
        line.trim_end().to_owned() + "\n"
    };
    let mut out: String = rows.iter().map(render).collect();
    if !splits.is_empty() {
        out.push('\n');
        out.extend(splits.iter().map(render));
    }
    out
}
