//! The HTML report: one self-contained file (inline SVG and CSS, no scripts, nothing
//! fetched from the network) with the comparison table and every plot.

use super::plot::{plots, to_svg, PlotKind, Scene};
use super::{split_table, table, TableRow};
use crate::metrics::EvalOptions;
use crate::EvalError;
use std::fmt::Write;

/// What a caption says under each kind of plot.
fn caption(kind: PlotKind) -> &'static str {
    match kind {
        PlotKind::Map => "The truth (black) and the scored fixes, over the map's lane lines (grey), signs (red) and underground spaces (purple), in the common ENU frame.",
        PlotKind::MapDetail => "The stretch around the largest horizontal error of any estimate; each fix is tied by a thin line to the truth at its time, so the lines are the errors to scale.",
        PlotKind::ErrorOverTime(_) => "Horizontal error of each scored fix, coloured by the source that produced it. Gaps are times without a fix.",
        PlotKind::AlongTrack(_) => "Signed error across (lateral, + to the left of the truth) and along (longitudinal, + ahead) the truth's direction of travel, against the distance driven.",
        PlotKind::Cdf => "Share of scored fixes with a horizontal error up to each value.",
        PlotKind::Sigma(_) => "Each fix's reported σ against its real horizontal error. An honest σ keeps about 39 %, 86 % and 99 % of the points below the 1σ, 2σ and 3σ lines.",
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn write_table(html: &mut String, names: &[String], rows: &[TableRow]) {
    html.push_str("<table>\n<thead><tr><th></th>");
    for name in names {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        let _ = write!(html, "<tr><th>{}</th>", escape(&row.label));
        for cell in &row.cells {
            let _ = write!(html, "<td>{}</td>", escape(cell));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n");
}

const STYLE: &str = "body{font-family:'DejaVu Sans',Verdana,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 12px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
p.meta{color:#555;font-size:14px;line-height:1.5}
.tables{display:flex;flex-wrap:wrap;gap:0 40px}.tables h2{margin-top:20px}
table{border-collapse:collapse;font-size:14px;margin:8px 0}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}
tbody th{text-align:left;font-weight:normal;color:#444}
thead th{border-bottom:2px solid #bbb}
.warn{background:#fff4e0;border-left:4px solid #f0a030;padding:6px 10px;font-size:14px}
figure{margin:16px 0}figcaption{font-size:13px;color:#555;max-width:900px}
svg{max-width:100%;height:auto}
footer{margin-top:40px;font-size:12px;color:#666;line-height:1.5}";

/// The report as one HTML document.
pub fn render(scene: &Scene, options: &EvalOptions) -> Result<String, EvalError> {
    let truth = scene.truth;
    let names: Vec<String> = scene.evaluations.iter().map(|e| e.name.clone()).collect();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>mapfix eval — {}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>mapfix evaluation</h1>\n",
        escape(&names.join(", "))
    );
    let _ = writeln!(
        html,
        "<p class=\"meta\">Truth: <b>{}</b> — {} samples over {:.1} s and {:.0} m.<br>Estimates: {}.<br>Map: {}.<br>Time association: truth interpolated at each fix, within {} s of a truth sample, estimate clock shifted by {} s. APE alignment: {}.</p>",
        escape(&truth.track.path.display().to_string()),
        truth.track.samples.len(),
        truth.end() - truth.start(),
        truth.length(),
        escape(&scene.evaluations.iter().map(|e| e.path.display().to_string()).collect::<Vec<_>>().join(", ")),
        scene.map.map_or_else(|| "none".to_owned(), |m| escape(&m.name)),
        options.assoc.max_dt,
        options.assoc.t_offset,
        options.align,
    );
    for e in scene.evaluations {
        if e.out_of_span > 0 || e.in_truth_gap > 0 {
            let _ = writeln!(
                html,
                "<p class=\"warn\">{}: {} fixes fall outside the truth's time span and {} inside gaps of the truth longer than {} s; they are not scored.</p>",
                escape(&e.name),
                e.out_of_span,
                e.in_truth_gap,
                options.assoc.max_dt
            );
        }
    }
    html.push_str("<div class=\"tables\">\n<section>\n<h2>Summary</h2>\n");
    write_table(&mut html, &names, &table(scene.evaluations));
    html.push_str("</section>\n");
    let splits = split_table(scene.evaluations);
    if !splits.is_empty() {
        html.push_str("<section>\n<h2>By source and map level</h2>\n");
        write_table(&mut html, &names, &splits);
        html.push_str("</section>\n");
    }
    html.push_str("</div>\n");
    for plot in plots(scene) {
        let _ = write!(
            html,
            "<h2>{}</h2>\n<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            escape(&plot.title),
            to_svg(&plot, scene)?,
            caption(plot.kind)
        );
    }
    html.push_str(
        "<footer>Percentiles interpolate linearly between order statistics (numpy's default). \
         Lateral and longitudinal errors are measured against the truth's direction of travel; \
         their table figures are of absolute values, the biases are signed means. \
         APE is the 3-D position error after the alignment above (as evo's APE on the translation part). \
         RPE follows the KITTI odometry devkit (segments of 100 … 800 m from every 10th fix). \
         Availability is the share of the truth's time with a fix within half the estimate's row interval. \
         σ honesty uses the horizontal Mahalanobis distance with the reported east/north σ.</footer>\n</body>\n</html>\n",
    );
    Ok(html)
}
