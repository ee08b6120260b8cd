//! Hand-written SVG line charts: no fonts, no scripts, nothing fetched, so the HTML report is one
//! self-contained file.

// Chart geometry is floating point; no money is drawn here.
#![allow(clippy::float_arithmetic)]

use std::fmt::Write as _;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;
/// Colour-blind-safe palette (Okabe-Ito).
const COLOURS: [&str; 7] = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"];

/// One line on a chart: a value per simulated minute.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

impl Series {
    pub fn new(name: &str, values: Vec<f64>) -> Series {
        Series { name: name.to_owned(), values }
    }
}

/// Escapes text for SVG and HTML.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A round step near `span / 5` (1, 2 or 5 times a power of ten).
fn nice_step(span: f64) -> f64 {
    let raw = (span / 5.0).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    let nice = if normalised <= 1.0 {
        1.0
    } else if normalised <= 2.0 {
        2.0
    } else if normalised <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// A tick label: thousands as k, millions as M.
fn tick_label(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e9 {
        format!("{:.1}G", value / 1e9)
    } else if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// A line chart over simulated minutes (the x axis is labelled in hours).
pub fn line_chart(title: &str, y_label: &str, series: &[Series]) -> String {
    let n_points = series.iter().map(|line| line.values.len()).max().unwrap_or(0).max(2);
    let y_max_data = series
        .iter()
        .flat_map(|line| line.values.iter().copied())
        .filter(|value| value.is_finite())
        .fold(0.0, f64::max);
    let step = nice_step(if y_max_data > 0.0 { y_max_data } else { 1.0 });
    let y_max = (y_max_data / step).ceil().max(1.0) * step;
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let x = |index: usize| LEFT + plot_width * index as f64 / (n_points - 1) as f64;
    let y = |value: f64| TOP + plot_height * (1.0 - (value.max(0.0) / y_max).min(1.0));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{title}" font-family="sans-serif" font-size="11">"#,
        title = escape(title)
    );
    let _ = write!(
        svg,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="{LEFT}" y="18" font-size="13" font-weight="bold">{}</text>"##,
        escape(title)
    );
    // Horizontal grid and y ticks.
    let mut tick = 0.0;
    while tick <= y_max + step / 2.0 {
        let ty = y(tick);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{ty:.1}" y2="{ty:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0,
            tick_label(tick)
        );
        tick += step;
    }
    // Hours on the x axis.
    let hours = (n_points - 1) / 60;
    let hour_step = (hours / 12).max(1);
    for hour in (0..=hours).step_by(hour_step) {
        let tx = x(hour * 60);
        let _ = write!(
            svg,
            r##"<line x1="{tx:.1}" x2="{tx:.1}" y1="{TOP}" y2="{:.1}" stroke="#eee"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle">{hour}h</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 14.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">simulated time</text><text transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"##,
        LEFT + plot_width / 2.0,
        HEIGHT - 6.0,
        TOP + plot_height / 2.0,
        escape(y_label)
    );
    let _ = write!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#888"/>"##
    );
    let mut legend_x = LEFT + 8.0;
    for (index, line) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let mut points = String::new();
        for (at, value) in line.values.iter().enumerate() {
            if value.is_finite() {
                let _ = write!(points, "{:.1},{:.1} ", x(at), y(*value));
            }
        }
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#,
            points.trim_end()
        );
        let _ = write!(
            svg,
            r#"<rect x="{legend_x:.1}" y="{:.1}" width="10" height="10" fill="{colour}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            TOP + 6.0,
            legend_x + 14.0,
            TOP + 15.0,
            escape(&line.name)
        );
        legend_x += 24.0 + 6.5 * line.name.chars().count() as f64;
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_is_well_formed_and_scaled() {
        let svg = line_chart(
            "Orders <per minute>",
            "orders",
            &[
                Series::new("offered", vec![0.0, 50.0, 120.0]),
                Series::new("admitted", vec![0.0, 40.0, f64::NAN]),
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Orders &lt;per minute&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        // 120 rounds the axis up to 150 (steps of 50).
        assert!(svg.contains(">150<"), "{svg}");
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn ticks_are_round() {
        assert!((nice_step(100.0) - 20.0).abs() < 1e-9);
        assert!((nice_step(7.0) - 2.0).abs() < 1e-9);
        assert_eq!(tick_label(2_500_000.0), "2.5M");
        assert_eq!(tick_label(40_000.0), "40k");
    }
}
