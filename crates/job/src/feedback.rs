//! The feedback loop: each cycle scores the earlier cycles' forecasts against the weeks that
//! have happened since (WAPE, bias, q-low..q-high coverage per model and ABC class), and the
//! previous cycle's orders against what then sold (demand replayed on its stock, open orders
//! and orders: fill rate, stock-outs, overstock). The rows form the `history` table.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use polars::prelude::*;
use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_planner::io as plan_io;
use serde::{Deserialize, Serialize};

use crate::record::JobDir;
use crate::{Error, Result};

/// One number of the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryRow {
    /// The cycle that scored.
    pub cycle: String,
    /// The cycle whose forecasts or orders were scored.
    pub scored_cycle: String,
    /// `accuracy` (forecasts) or `service` (orders).
    pub kind: String,
    /// The forecast's model (`network`, `tsb`, …, or `all`), [`MOVING_AVERAGE`] for the rule of
    /// thumb on the same SKU-weeks, `restock` for orders.
    pub model: String,
    /// ABC class of the SKUs (`A`, `B`, `C`) or `all`.
    pub class: String,
    /// `wape`, `bias` (of the median), `bias_mean` (of the mean of the quantiles), `coverage`
    /// (not for the moving average), `sku_weeks`, `units` (accuracy); `fill_rate`,
    /// `cycle_service`, `units_short`, `stockout_skus`, `overstock_skus`, `skus`, `demand`,
    /// `end_stock`
    /// (service).
    pub metric: String,
    /// Its value.
    pub value: f64,
}

/// The actual demand of a SKU in a week, when the data has that week.
struct Actuals<'a> {
    series: HashMap<&'a str, &'a restock_data::SkuSeries>,
    last: Week,
}

impl<'a> Actuals<'a> {
    fn new(ds: &'a WeeklyDataset) -> Self {
        Actuals {
            series: ds
                .series
                .iter()
                .map(|s| (s.unique_id.as_str(), s))
                .collect(),
            last: ds.last_week,
        }
    }

    fn get(&self, id: &str, week: Week) -> Option<f64> {
        if week > self.last {
            return None;
        }
        let Some(s) = self.series.get(id) else {
            // A SKU the data does not know sold nothing.
            return Some(0.0);
        };
        let i = s.start.weeks_until(week);
        if i < 0 {
            Some(0.0)
        } else {
            s.y.get(i as usize).copied()
        }
    }
}

/// Sums of one accuracy group.
#[derive(Default)]
struct Scores {
    abs_error: f64,
    error: f64,
    /// Of the mean forecast.
    mean_error: f64,
    actual: f64,
    covered: f64,
    n: f64,
}

impl Scores {
    fn add(&mut self, y: f64, lo: f64, median: f64, hi: f64, mean: f64) {
        self.abs_error += (median - y).abs();
        self.error += median - y;
        self.mean_error += mean - y;
        self.actual += y;
        self.covered += f64::from(u8::from(lo <= y && y <= hi));
        self.n += 1.0;
    }

    /// The metrics; `coverage` only for a forecaster with an interval.
    fn metrics(&self, interval: bool) -> Vec<(&'static str, f64)> {
        let scale = self.actual.max(f64::MIN_POSITIVE);
        let mut m = vec![
            ("wape", self.abs_error / scale),
            ("bias", self.error / scale),
            ("bias_mean", self.mean_error / scale),
            ("sku_weeks", self.n),
            ("units", self.actual),
        ];
        if interval {
            m.insert(3, ("coverage", self.covered / self.n.max(1.0)));
        }
        m
    }
}

/// The rule of thumb every cycle is compared with: the mean of the last 4 weeks of demand
/// before the forecast's cycle, for every week forecast (the "4-week moving average" a buyer
/// feeds an order-up-to rule), scored on the same SKU-weeks as the forecasts.
pub const MOVING_AVERAGE: &str = "moving_average_4";

/// Weeks of [`MOVING_AVERAGE`].
const MOVING_AVERAGE_WEEKS: i64 = 4;

/// Which of the `earlier` cycles (oldest first) a cycle scores: those whose `horizon` forecast
/// weeks reach past the last of them, i.e. that have a week which has happened since; an older
/// cycle's weeks were all known at the last cycle, whose history holds its final scores.
pub(crate) fn to_score(earlier: &[Week], horizon: usize) -> &[Week] {
    let Some(last) = earlier.last() else {
        return earlier;
    };
    let first = earlier
        .iter()
        .position(|c| c.offset(horizon as i64) > *last)
        .unwrap_or(earlier.len());
    &earlier[first..]
}

/// Score the forecasts of `earlier` cycles (oldest first) that have weeks happened since the last
/// of them ([`to_score`]) against the weeks of `ds` (which ends before `week`), by model and ABC
/// class (`class_of`).
pub(crate) fn accuracy(
    job: &JobDir,
    week: Week,
    earlier: &[Week],
    horizon: usize,
    ds: &WeeklyDataset,
    class_of: &HashMap<String, char>,
) -> Result<Vec<HistoryRow>> {
    let actuals = Actuals::new(ds);
    let mut rows = Vec::new();
    for &c in to_score(earlier, horizon) {
        let path = job.cycle(c).join("forecasts.parquet");
        let f = Forecasts::read(&path)?;
        let mut groups: BTreeMap<(String, String), Scores> = BTreeMap::new();
        for i in 0..f.ids.len() {
            let Some(y) = actuals.get(&f.ids[i], f.weeks[i]) else {
                continue;
            };
            let class = class_of.get(&f.ids[i]).copied().unwrap_or('C').to_string();
            let (lo, median, hi, mean) = (f.lo[i], f.median[i], f.hi[i], f.mean[i]);
            for key in [
                (f.models[i].clone(), class.clone()),
                (f.models[i].clone(), "all".into()),
                ("all".into(), class.clone()),
                ("all".into(), "all".into()),
            ] {
                groups.entry(key).or_default().add(y, lo, median, hi, mean);
            }
            let moving_average = (1..=MOVING_AVERAGE_WEEKS)
                .map(|k| actuals.get(&f.ids[i], c.offset(-k)).unwrap_or(0.0))
                .sum::<f64>()
                / MOVING_AVERAGE_WEEKS as f64;
            for key in [
                (MOVING_AVERAGE.to_string(), class),
                (MOVING_AVERAGE.to_string(), "all".into()),
            ] {
                groups.entry(key).or_default().add(
                    y,
                    f64::NAN,
                    moving_average,
                    f64::NAN,
                    moving_average,
                );
            }
        }
        for ((model, class), s) in groups {
            for (metric, value) in s.metrics(model != MOVING_AVERAGE) {
                rows.push(HistoryRow {
                    cycle: week.to_string(),
                    scored_cycle: c.to_string(),
                    kind: "accuracy".into(),
                    model: model.clone(),
                    class: class.clone(),
                    metric: metric.into(),
                    value,
                });
            }
        }
    }
    Ok(rows)
}

/// A cycle's forecasts, long: the lowest, median and highest quantile of each SKU-week.
struct Forecasts {
    ids: Vec<String>,
    weeks: Vec<Week>,
    models: Vec<String>,
    lo: Vec<f64>,
    median: Vec<f64>,
    hi: Vec<f64>,
    /// The mean of each row's quantiles (`restock_planner::expected_demand`).
    mean: Vec<f64>,
}

impl Forecasts {
    fn read(path: &Path) -> Result<Self> {
        let df = restock_data::table::scan(path)?
            .collect()
            .map_err(|e| Error::file(path, e))?;
        let mut qs: Vec<(f64, String)> = df
            .get_column_names()
            .iter()
            .filter_map(|n| {
                let level: f64 = n.strip_prefix('q')?.parse().ok()?;
                Some((level, n.to_string()))
            })
            .collect();
        qs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (Some(lo), Some(hi)) = (qs.first(), qs.last()) else {
            return Err(Error::file(path, "no quantile columns (q10, q50, …)"));
        };
        let median = qs
            .iter()
            .min_by(|a, b| (a.0 - 50.0).abs().total_cmp(&(b.0 - 50.0).abs()))
            .map(|q| q.1.clone())
            .unwrap_or_default();
        // The mean, from all the quantiles as the planner takes it.
        let levels: Vec<f64> = qs.iter().map(|q| q.0 / 100.0).collect();
        let values = qs
            .iter()
            .map(|q| numbers(&df, &q.1, path))
            .collect::<Result<Vec<_>>>()?;
        let mean = (0..df.height())
            .map(|i| {
                let row: Vec<f64> = values.iter().map(|v| v[i]).collect();
                restock_planner::expected_demand(&row, &levels)
            })
            .collect();
        Ok(Forecasts {
            ids: strings(&df, "unique_id", path)?,
            weeks: weeks(&df, "ds", path)?,
            models: strings(&df, "model", path)?,
            lo: numbers(&df, &lo.1, path)?,
            median: numbers(&df, &median, path)?,
            hi: numbers(&df, &hi.1, path)?,
            mean,
        })
    }
}

pub(crate) fn strings(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<String>> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| Error::file(path, format!("column {name}: {e}")))?;
    let ca = c.str().map_err(|e| Error::file(path, e))?;
    Ok(ca
        .iter()
        .map(|v| v.unwrap_or_default().to_string())
        .collect())
}

pub(crate) fn numbers(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<f64>> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::Float64))
        .map_err(|e| Error::file(path, format!("column {name}: {e}")))?;
    let ca = c.f64().map_err(|e| Error::file(path, e))?;
    Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
}

/// A date column (a date, or `YYYY-MM-DD` text) as the weeks containing each date.
pub(crate) fn weeks(df: &DataFrame, name: &str, path: &Path) -> Result<Vec<Week>> {
    strings(df, name, path)?
        .iter()
        .enumerate()
        .map(|(row, text)| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(Week::containing)
                .map_err(|_| {
                    Error::file(
                        path,
                        format!("row {}: {name} = {text:?} is not a date", row + 1),
                    )
                })
        })
        .collect()
}

/// One SKU replayed over the weeks since its cycle.
#[derive(Debug, Clone, Copy, Default)]
struct Replay {
    demand: f64,
    short: f64,
    end_stock: f64,
    overstocked: bool,
    /// Weeks with demand, and those of them with a stock-out (the realised cycle service's
    /// count, as the simulation's).
    demand_weeks: usize,
    stockout_weeks: usize,
}

/// Replay the demand of the weeks from `previous` to the week before `week` on the stock, open
/// orders and orders `previous` planned from and placed; score by ABC class.
pub(crate) fn service(
    job: &JobDir,
    week: Week,
    previous: Week,
    ds: &WeeklyDataset,
    class_of: &HashMap<String, char>,
    overstock_weeks: f64,
) -> Result<Vec<HistoryRow>> {
    let dir = job.cycle(previous);
    let snapshot = crate::inputs::Snapshot::of(&dir.join("inputs"))?;
    let stock = plan_io::read_inventory(&snapshot.inventory)?;
    let open = match &snapshot.open_orders {
        Some(p) => plan_io::read_open_orders(p, previous, &mut Vec::new())?,
        None => HashMap::new(),
    };
    let orders_path = dir.join("orders.csv");
    let orders = restock_data::table::scan(&orders_path)?
        .collect()
        .map_err(|e| Error::file(&orders_path, e))?;
    let mut placed: HashMap<String, Vec<(i64, f64)>> = HashMap::new();
    let ids = strings(&orders, "unique_id", &orders_path)?;
    let arrivals = weeks(&orders, "arrival_ds", &orders_path)?;
    let quantity = numbers(&orders, "quantity", &orders_path)?;
    for i in 0..ids.len() {
        placed
            .entry(ids[i].clone())
            .or_default()
            .push((previous.weeks_until(arrivals[i]), quantity[i]));
    }
    let forecasts = Forecasts::read(&dir.join("forecasts.parquet"))?;
    let mut weekly: HashMap<&str, (f64, f64)> = HashMap::new();
    for i in 0..forecasts.ids.len() {
        let e = weekly.entry(forecasts.ids[i].as_str()).or_default();
        e.0 += forecasts.median[i];
        e.1 += 1.0;
    }
    let actuals = Actuals::new(ds);
    let span = previous.weeks_until(week).max(0) as usize;
    let mut ids: Vec<&String> = stock.keys().collect();
    ids.sort();
    let mut groups: BTreeMap<String, Vec<Replay>> = BTreeMap::new();
    for id in ids {
        let mut r = Replay::default();
        let mut on_hand = stock[id];
        for t in 0..span {
            let arriving: f64 = open
                .get(id.as_str())
                .into_iter()
                .flatten()
                .filter(|(w, _)| *w == t)
                .map(|(_, q)| q)
                .chain(
                    placed
                        .get(id.as_str())
                        .into_iter()
                        .flatten()
                        .filter(|(w, _)| *w == t as i64)
                        .map(|(_, q)| q),
                )
                .sum();
            let available = on_hand + arriving;
            let d = actuals.get(id, previous.offset(t as i64)).unwrap_or(0.0);
            let sold = d.min(available);
            r.demand += d;
            r.short += d - sold;
            if d > 0.0 {
                r.demand_weeks += 1;
                r.stockout_weeks += usize::from(sold < d);
            }
            on_hand = available - sold;
        }
        r.end_stock = on_hand;
        let (sum, n) = weekly.get(id.as_str()).copied().unwrap_or((0.0, 0.0));
        let per_week = if n > 0.0 { sum / n } else { 0.0 };
        r.overstocked = on_hand > overstock_weeks * per_week && on_hand > 0.0;
        let class = class_of
            .get(id.as_str())
            .copied()
            .unwrap_or('C')
            .to_string();
        groups.entry(class).or_default().push(r);
    }
    let all: Vec<Replay> = groups.values().flatten().copied().collect();
    groups.insert("all".into(), all);
    let mut rows = Vec::new();
    for (class, replays) in &groups {
        let demand: f64 = replays.iter().map(|r| r.demand).sum();
        let short: f64 = replays.iter().map(|r| r.short).sum();
        let metrics = [
            ("skus", replays.len() as f64),
            ("demand", demand),
            ("units_short", short),
            (
                "fill_rate",
                if demand > 0.0 {
                    1.0 - short / demand
                } else {
                    1.0
                },
            ),
            (
                "stockout_skus",
                replays.iter().filter(|r| r.short > 0.0).count() as f64,
            ),
            ("cycle_service", cycle_service(replays)),
            (
                "overstock_skus",
                replays.iter().filter(|r| r.overstocked).count() as f64,
            ),
            ("end_stock", replays.iter().map(|r| r.end_stock).sum()),
        ];
        for (metric, value) in metrics {
            rows.push(HistoryRow {
                cycle: week.to_string(),
                scored_cycle: previous.to_string(),
                kind: "service".into(),
                model: "restock".into(),
                class: class.clone(),
                metric: metric.into(),
                value,
            });
        }
    }
    Ok(rows)
}

/// Share of the SKU-weeks with demand served without a stock-out: the realised cycle service
/// that `service.level` targets (1 when no SKU had demand).
fn cycle_service(replays: &[Replay]) -> f64 {
    let weeks: usize = replays.iter().map(|r| r.demand_weeks).sum();
    let out: usize = replays.iter().map(|r| r.stockout_weeks).sum();
    if weeks == 0 {
        1.0
    } else {
        1.0 - out as f64 / weeks as f64
    }
}

/// The history rows as a table.
pub fn frame(rows: &[HistoryRow]) -> Result<DataFrame> {
    let text = |name: &str, f: &dyn Fn(&HistoryRow) -> &str| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<&str>>())
    };
    DataFrame::new(
        rows.len(),
        vec![
            text("scored_cycle", &|r| &r.scored_cycle),
            text("kind", &|r| &r.kind),
            text("model", &|r| &r.model),
            text("class", &|r| &r.class),
            text("metric", &|r| &r.metric),
            Column::new(
                "value".into(),
                rows.iter().map(|r| r.value).collect::<Vec<f64>>(),
            ),
        ],
    )
    .map_err(|e| restock_data::Error::from_polars(e).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With 8-week forecasts, the cycles of the last 8 weeks are scored again; older ones are
    /// not (their weeks were all known a cycle ago), and gaps between cycles count in weeks.
    #[test]
    fn only_cycles_with_weeks_happened_since_the_last_are_scored() {
        let w = |k: i64| Week::containing_day(0).offset(k);
        let weekly: Vec<Week> = (0..12).map(w).collect();
        assert_eq!(to_score(&weekly, 8), &weekly[4..]);
        assert_eq!(to_score(&weekly[..3], 8), &weekly[..3]);
        assert!(to_score(&[], 8).is_empty());
        // A cycle 9 weeks before the last is not scored; one 7 weeks before is.
        let gaps = [w(0), w(2), w(9)];
        assert_eq!(to_score(&gaps, 8), &gaps[1..]);
    }
}
