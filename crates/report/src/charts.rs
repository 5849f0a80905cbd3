//! The report's charts, drawn with plotters into SVG strings (text is laid out by the browser, so
//! no font files are needed).

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::{Error, Result};

/// Colours of successive series: restock first, in a blue that stands out.
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn chart_err<E: std::fmt::Debug>(e: E) -> Error {
    Error::Chart(format!("{e:?}"))
}

/// A white SVG canvas of `size` pixels drawing into `svg`.
fn canvas(svg: &mut String, size: (u32, u32)) -> Result<DrawingArea<SVGBackend<'_>, Shift>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE).map_err(chart_err)?;
    Ok(root)
}

/// A chart drawn on an area borrowed for `'a` of an SVG backend writing for `'s`.
type Chart<'a, 's> = ChartContext<'a, SVGBackend<'s>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Title, margins and axes of every chart: x over `x`, y from 0 to `ymax`, label areas
/// `(x, y)` in pixels.
fn axes<'a, 's>(
    root: &'a DrawingArea<SVGBackend<'s>, Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    ymax: f64,
    areas: (u32, u32),
) -> Result<Chart<'a, 's>> {
    ChartBuilder::on(root)
        .caption(title, ("sans-serif", 15))
        .margin(8)
        .x_label_area_size(areas.0)
        .y_label_area_size(areas.1)
        .build_cartesian_2d(x, 0f64..ymax)
        .map_err(chart_err)
}

/// The label of position `x` on a weekly axis.
fn week_label(weeks: &[String], x: f64) -> String {
    weeks
        .get(x.round().max(0.0) as usize)
        .cloned()
        .unwrap_or_default()
}

/// The legend of every chart: small labels on a translucent box at `position`.
fn legend<'a, 's: 'a>(chart: &mut Chart<'a, 's>, position: SeriesLabelPosition) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 11))
        .draw()
        .map_err(chart_err)
}

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Upper end of a value axis: a little above the largest finite value, 1 when there is none.
fn top(values: impl Iterator<Item = f64>) -> f64 {
    let m = values.filter(|v| v.is_finite()).fold(0.0, f64::max);
    if m > 0.0 { m * 1.08 } else { 1.0 }
}

/// A forecast fan: history, the forecast's outer band and median, and what happened.
pub(crate) struct Fan<'a> {
    /// Chart title.
    pub title: &'a str,
    /// Week labels, one per x position.
    pub weeks: &'a [String],
    /// Demand known at the cutoff (x = 0..).
    pub history: &'a [f64],
    /// Forecast (lowest, median, highest level) for the weeks after the history.
    pub forecast: &'a [(f64, f64, f64)],
    /// Actual demand of the forecast weeks.
    pub actual: &'a [f64],
    /// Legend of the band, e.g. `q10-q90`.
    pub band: &'a str,
}

/// Draw a fan chart.
pub(crate) fn fan(f: &Fan<'_>, size: (u32, u32)) -> Result<String> {
    let mut svg = String::new();
    {
        let root = canvas(&mut svg, size)?;
        let n = f.weeks.len().max(1) as f64;
        let ymax = top(f
            .history
            .iter()
            .chain(f.actual)
            .copied()
            .chain(f.forecast.iter().map(|q| q.2)));
        let mut chart = axes(&root, f.title, 0f64..n - 1.0, ymax, (28, 44))?;
        let weeks = f.weeks;
        chart
            .configure_mesh()
            .x_labels(5)
            .x_label_formatter(&|x| week_label(weeks, *x))
            .y_desc("units / week")
            .light_line_style(WHITE)
            .draw()
            .map_err(chart_err)?;
        let h0 = f.history.len() as f64;
        let blue = color(0);
        if !f.forecast.is_empty() {
            let upper = f
                .forecast
                .iter()
                .enumerate()
                .map(|(i, q)| (h0 + i as f64, q.2));
            let lower = f
                .forecast
                .iter()
                .enumerate()
                .rev()
                .map(|(i, q)| (h0 + i as f64, q.0));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    blue.mix(0.22).filled(),
                )))
                .map_err(chart_err)?
                .label(f.band)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 16, y + 5)], blue.mix(0.22).filled())
                });
            chart
                .draw_series(LineSeries::new(
                    f.forecast
                        .iter()
                        .enumerate()
                        .map(|(i, q)| (h0 + i as f64, q.1)),
                    blue.stroke_width(2),
                ))
                .map_err(chart_err)?
                .label("forecast (median)")
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], blue));
        }
        chart
            .draw_series(LineSeries::new(
                f.history.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                BLACK.stroke_width(1),
            ))
            .map_err(chart_err)?
            .label("history")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], BLACK));
        let red = color(3);
        chart
            .draw_series(
                f.actual
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Circle::new((h0 + i as f64, *v), 3, red.filled())),
            )
            .map_err(chart_err)?
            .label("actual")
            .legend(move |(x, y)| Circle::new((x + 8, y), 3, red.filled()));
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// Grouped bars: one group per category, one bar per series.
pub(crate) fn bars(
    title: &str,
    categories: &[String],
    series: &[(String, Vec<f64>)],
    y_desc: &str,
    size: (u32, u32),
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = canvas(&mut svg, size)?;
        let ymax = top(series.iter().flat_map(|s| s.1.iter().copied()));
        let n = categories.len().max(1) as f64;
        let mut chart = axes(&root, title, -0.5f64..n - 0.5, ymax, (30, 48))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(categories.len().max(1))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    categories.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .draw()
            .map_err(chart_err)?;
        let k = series.len().max(1) as f64;
        let width = 0.8 / k;
        for (j, (name, values)) in series.iter().enumerate() {
            let c = color(j);
            chart
                .draw_series(
                    values
                        .iter()
                        .enumerate()
                        .filter(|(_, v)| v.is_finite())
                        .map(|(i, v)| {
                            let x0 = i as f64 - 0.4 + j as f64 * width;
                            Rectangle::new([(x0, 0.0), (x0 + width * 0.92, *v)], c.filled())
                        }),
                )
                .map_err(chart_err)?
                .label(name.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// Lines over weeks, one per series.
pub(crate) fn lines(
    title: &str,
    weeks: &[String],
    series: &[(String, Vec<f64>)],
    y_desc: &str,
    size: (u32, u32),
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = canvas(&mut svg, size)?;
        let ymax = top(series.iter().flat_map(|s| s.1.iter().copied()));
        let n = weeks.len().max(2) as f64;
        let mut chart = axes(&root, title, 0f64..n - 1.0, ymax, (28, 60))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| week_label(weeks, *x))
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .draw()
            .map_err(chart_err)?;
        for (j, (name, values)) in series.iter().enumerate() {
            let c = color(j);
            chart
                .draw_series(LineSeries::new(
                    values.iter().enumerate().map(|(i, v)| (i as f64, *v)),
                    c.stroke_width(2),
                ))
                .map_err(chart_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}

/// Curves through (x, y) points, one per series, each point marked: a trade-off chart.
pub(crate) fn curves(
    title: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x_desc: &str,
    y_desc: &str,
    size: (u32, u32),
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = canvas(&mut svg, size)?;
        let xs = || series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
        let (lo, hi) = xs()
            .filter(|x| x.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(x), b.max(x))
            });
        let (lo, hi) = if lo < hi {
            let pad = 0.05 * (hi - lo);
            (lo - pad, hi + pad)
        } else if lo.is_finite() {
            (lo - 0.01, lo + 0.01)
        } else {
            (0.0, 1.0)
        };
        let ymax = top(series.iter().flat_map(|s| s.1.iter().map(|p| p.1)));
        let mut chart = axes(&root, title, lo..hi, ymax, (36, 70))?;
        chart
            .configure_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| format!("{x:.3}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .light_line_style(WHITE)
            .draw()
            .map_err(chart_err)?;
        for (j, (name, points)) in series.iter().enumerate() {
            let c = color(j);
            let mut sorted = points.clone();
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(sorted.iter().copied(), c.stroke_width(2)))
                .map_err(chart_err)?
                .label(name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c));
            chart
                .draw_series(sorted.iter().map(|&p| Circle::new(p, 3, c.filled())))
                .map_err(chart_err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(chart_err)?;
    }
    Ok(svg)
}
