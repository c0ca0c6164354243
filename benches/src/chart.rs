//! The chart of a run, an SVG the book includes: for each workload (the disk's raw appends
//! aside), a bar per store of its
//! time (or size on disk) over KanthorKV's, on a log scale so that "twice as fast" and "twice
//! as slow" are bars of one length, up and down from the line at 1 that is KanthorKV.
//!
//! Drawn with plotters' SVG backend alone: text is written as SVG `<text>` for the viewer's
//! fonts, so building it needs no font library (plotters' `ttf` feature, which links
//! fontconfig and freetype, is off); text widths are estimated, which is all the layout needs.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::{ratio, Results};
use crate::workloads::RAW;

/// Size of the picture, in pixels.
const SIZE: (u32, u32) = (1400, 640);

/// Bounds of the y axis: a ratio beyond them is drawn at the bound (its label says how far).
const BOUNDS: (f64, f64) = (0.01, 100.0);

/// A colour per store after KanthorKV: Okabe and Ito's palette, told apart by the colour-blind.
const COLOURS: [RGBColor; 6] = [
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(213, 94, 0),
    RGBColor(0, 114, 178),
];

/// Characters in one line of a workload's name under its bars.
const LINE: usize = 18;

/// Draws the chart of `results` (the first store is the base) into `path`.
pub fn draw(path: &Path, results: &Results) -> Result<(), Box<dyn std::error::Error>> {
    let Some(((base_name, base), others)) = results.split_first() else {
        return Ok(());
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    // The workloads, less the disk's own figure (a ratio of disks, not of stores).
    let shown: Vec<usize> = (0..base.len())
        .filter(|&i| base[i].workload != RAW)
        .collect();
    // ratios[s][w]: the s-th other store's ratio on shown workload w, if both were measured.
    let ratios: Vec<Vec<Option<f64>>> = others
        .iter()
        .map(|(_, figures)| {
            shown
                .iter()
                .map(|&i| ratio(&figures[i], &base[i]))
                .collect()
        })
        .collect();
    let measured = || ratios.iter().flatten().flatten().copied();
    let lo = (measured().fold(1.0, f64::min) / 1.6).max(BOUNDS.0);
    let hi = (measured().fold(1.0, f64::max) * 1.6).min(BOUNDS.1);
    let n = shown.len() as f64;
    let ticks: Vec<f64> = [0.01, 0.1, 1.0, 10.0, 100.0]
        .iter()
        .flat_map(|decade| [1.0, 2.0, 5.0].map(|m| m * decade))
        .filter(|t| (lo..=hi).contains(t))
        .collect();
    let width = 0.8 / others.len().max(1) as f64;

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!(
        "each store's time (or size on disk) ÷ {base_name}'s, log scale: above 1, {base_name} \
         is faster (or smaller)"
    );
    let body = root.titled(&title, ("sans-serif", 22))?;
    let (legend, body) = body.split_vertically(30);
    let mut chart = ChartBuilder::on(&body)
        .margin(20)
        .margin_top(10)
        .x_label_area_size(60)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5..n - 0.5, (lo..hi).log_scale().with_key_points(ticks))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(format!("÷ {base_name}'s"))
        .y_label_formatter(&|v| format!("{v}"))
        .draw()?;

    // Above the bars, not among them: a colour per store, and the line that is the base.
    let key_style =
        TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let mut x = 100;
    for (s, (name, _)) in others.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        legend.draw(&Rectangle::new([(x, 9), (x + 14, 23)], colour.filled()))?;
        legend.draw(&Text::new(
            name.to_string(),
            (x + 20, 16),
            key_style.clone(),
        ))?;
        x += 40 + 9 * name.len() as i32;
    }
    legend.draw(&PathElement::new(
        vec![(x, 16), (x + 14, 16)],
        BLACK.stroke_width(2),
    ))?;
    legend.draw(&Text::new(
        format!("{base_name} = 1"),
        (x + 20, 16),
        key_style,
    ))?;

    let label = |above: bool| {
        let v = if above { VPos::Bottom } else { VPos::Top };
        TextStyle::from(("sans-serif", 11).into_font()).pos(Pos::new(HPos::Center, v))
    };
    for (s, ratios) in ratios.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let left = |w: usize| w as f64 - 0.4 + s as f64 * width;
        chart.draw_series(ratios.iter().enumerate().filter_map(|(w, r)| {
            let top = (*r)?.clamp(lo, hi);
            Some(Rectangle::new(
                [(left(w), 1.0), (left(w) + width, top)],
                colour.filled(),
            ))
        }))?;
        chart.draw_series(ratios.iter().enumerate().map(|(w, r)| {
            let x = left(w) + width / 2.0;
            match r {
                Some(r) => Text::new(short(*r), (x, r.clamp(lo, hi)), label(*r >= 1.0)),
                None => Text::new("n/a".to_string(), (x, 1.0), label(true)),
            }
        }))?;
    }
    let line = vec![(-0.5, 1.0), (n - 0.5, 1.0)];
    chart.draw_series(std::iter::once(PathElement::new(
        line,
        BLACK.stroke_width(2),
    )))?;

    // The workloads' names under their bars, a few words a line.
    let name_style =
        TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    for (w, &i) in shown.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(w as f64, lo));
        for (l, text) in wrap(base[i].workload).into_iter().enumerate() {
            root.draw(&Text::new(
                text,
                (x, y + 8 + 16 * l as i32),
                name_style.clone(),
            ))?;
        }
    }
    root.present()?;
    Ok(())
}

/// A ratio in two or three significant digits.
fn short(r: f64) -> String {
    match r {
        r if r < 10.0 => format!("{r:.2}"),
        r if r < 100.0 => format!("{r:.1}"),
        r => format!("{r:.0}"),
    }
}

/// `text` in lines: a line after each comma, and the rest broken at spaces into lines of at
/// most [`LINE`] characters (or one word, if longer).
fn wrap(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for clause in text.split_inclusive(", ") {
        let mut fresh = true;
        for word in clause.split_whitespace() {
            match lines.last_mut() {
                Some(line) if !fresh && line.chars().count() + 1 + word.chars().count() <= LINE => {
                    line.push(' ');
                    line.push_str(word);
                }
                _ => lines.push(word.to_string()),
            }
            fresh = false;
        }
    }
    lines
}
