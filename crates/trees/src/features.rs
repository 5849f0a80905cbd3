//! One row of features per SKU, forecast origin and horizon step: everything is read from the
//! SKU's own history up to the origin, the calendar and the plan inputs of the target week, and
//! its static attributes. Demand quantities are divided by the SKU's level at the origin (its
//! mean weekly demand over the last year), so that one model serves fast and slow movers alike
//! (the scaling of DeepAR and of the network here); the level itself is a feature.

use restock_core::{Week, columns};
use restock_data::features::StaticVocab;
use restock_data::future::KnownFuture;
use restock_data::{SkuSeries, WeeklyDataset};
use serde::{Deserialize, Serialize};

use crate::Result;

/// Weekly lags of demand.
pub const LAGS: usize = 8;

/// Weeks of history that set a SKU's level.
pub const LEVEL_WEEKS: usize = 52;

/// Static attributes with more values than this are identifiers, not groups: left out (a code
/// per item would let the trees memorise items instead of learning from their histories).
pub const MAX_STATIC_VALUES: usize = 200;

/// Where the plan inputs of a target week (event days, price, promotion) come from.
#[derive(Debug, Clone, Copy)]
pub enum Plan<'a> {
    /// As the catalogue recorded them (validation, evaluation, backtests): unknown past its end.
    Recorded,
    /// From a known-future file (`restock forecast --future`); columns it lacks are unknown.
    Given(&'a KnownFuture),
    /// Unknown: the forecast is the unconditional one.
    Unknown,
}

/// The features of a fitted model: stored with it so forecasts build the same columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    /// Feature names, in column order.
    pub names: Vec<String>,
    /// The catalogue's covariates used, in column order.
    pub covariates: Vec<String>,
    /// Whether the catalogue has an event calendar.
    pub events: bool,
    /// The static attributes used, each coded by its vocabulary (0: a value not seen).
    pub statics: Vec<StaticVocab>,
}

impl Layout {
    /// The layout for catalogue `ds`.
    pub fn for_catalogue(ds: &WeeklyDataset) -> Layout {
        let mut names: Vec<String> = ["step", "log_level"].map(String::from).to_vec();
        names.extend((1..=LAGS).map(|k| format!("lag{k}")));
        names.extend(
            [
                "mean4",
                "mean13",
                "mean26",
                "std13",
                "zero_share13",
                "last_year",
                "last_year3",
                "age",
                "week_of_year",
            ]
            .map(String::from),
        );
        let events = ds.event_days.is_some();
        if events {
            names.extend(["event_days", "event_days_origin"].map(String::from));
        }
        let covariates: Vec<String> = ds.covariates.clone();
        for c in &covariates {
            match c.as_str() {
                columns::PRICE => names.extend(["rel_price", "rel_price_origin"].map(String::from)),
                columns::PROMO => names.extend(["promo", "promo_origin"].map(String::from)),
                other => names.push(format!("{other}_origin")),
            }
        }
        let mut statics = Vec::new();
        for (j, name) in ds.statics.iter().enumerate() {
            let mut values: Vec<String> = ds.series.iter().map(|s| s.statics[j].clone()).collect();
            values.sort_unstable();
            values.dedup();
            if values.len() > 1 && values.len() <= MAX_STATIC_VALUES {
                names.push(format!("static_{name}"));
                statics.push(StaticVocab {
                    name: name.clone(),
                    values,
                });
            }
        }
        Layout {
            names,
            covariates,
            events,
            statics,
        }
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: a layout has the history features.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Where a row stands: origin index `o` (the SKU's last known week), step `h` (target index
/// `o + h`) and the SKU's level at the origin (> 0).
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub(crate) o: usize,
    pub(crate) h: usize,
    pub(crate) level: f64,
}

/// A layout bound to one catalogue: where its covariates and statics sit in that catalogue.
pub(crate) struct Rows<'a> {
    layout: &'a Layout,
    ds: &'a WeeklyDataset,
    covariates: Vec<Option<usize>>,
    statics: Vec<Option<usize>>,
}

impl<'a> Rows<'a> {
    pub(crate) fn new(layout: &'a Layout, ds: &'a WeeklyDataset) -> Self {
        Rows {
            layout,
            ds,
            covariates: layout
                .covariates
                .iter()
                .map(|c| ds.covariate_index(c))
                .collect(),
            statics: layout
                .statics
                .iter()
                .map(|v| ds.statics.iter().position(|n| *n == v.name))
                .collect(),
        }
    }

    pub(crate) fn layout_len(&self) -> usize {
        self.layout.len()
    }

    /// The SKU's level at origin `o` (index of its last known week): mean weekly demand over
    /// the last [`LEVEL_WEEKS`] weeks; 0 when it sold nothing then.
    pub(crate) fn level(s: &SkuSeries, o: usize) -> f64 {
        let from = (o + 1).saturating_sub(LEVEL_WEEKS);
        mean(&s.y[from..=o])
    }

    /// Write the features of SKU `s` at `at` into `out` (one row, [`Layout::len`] values), the
    /// level from [`Rows::level`]. With `hide`, the target week's plan inputs are unknown
    /// whatever `plan` says.
    pub(crate) fn write(
        &self,
        s: &SkuSeries,
        at: At,
        plan: Plan<'_>,
        hide: bool,
        out: &mut [f32],
    ) -> Result<()> {
        let At { o, h, level } = at;
        let y = &s.y[..=o];
        let t = o + h;
        let target = s.week(t);
        let plan = if hide { Plan::Unknown } else { plan };
        let mut col = Cols { out, at: 0 };
        col.push(h as f64);
        col.push(level.ln());
        for k in 1..=LAGS {
            col.push(if k <= y.len() {
                y[y.len() - k] / level
            } else {
                f64::NAN
            });
        }
        for w in [4, 13, 26] {
            col.push(mean(tail(y, w)) / level);
        }
        col.push(std(tail(y, 13)) / level);
        let recent = tail(y, 13);
        col.push(recent.iter().filter(|v| **v == 0.0).count() as f64 / recent.len() as f64);
        col.push(if t >= 52 && t - 52 <= o {
            y[t - 52] / level
        } else {
            f64::NAN
        });
        col.push(if t >= 53 && t - 51 <= o {
            mean(&y[t - 53..=t - 51]) / level
        } else {
            f64::NAN
        });
        col.push((o + 1).min(520) as f64);
        col.push(f64::from(target.iso_week()));
        if self.layout.events {
            let events = match plan {
                Plan::Recorded if target <= self.ds.last_week => self.ds.event_days_of(target),
                Plan::Given(f) => f
                    .events()
                    .and_then(|e| index_in(f, target).and_then(|i| e.get(i)).copied())
                    .unwrap_or(f64::NAN),
                _ => f64::NAN,
            };
            col.push(events);
            col.push(self.ds.event_days_of(s.week(o)));
        }
        for (name, pos) in self.layout.covariates.iter().zip(&self.covariates) {
            let values = pos.map(|p| &s.covariates[p][..]);
            let at = |i: usize| values.and_then(|v| v.get(i)).copied().unwrap_or(f64::NAN);
            let planned = |column: &str| -> Result<f64> {
                Ok(match plan {
                    Plan::Recorded => at(t),
                    Plan::Given(f) => {
                        match (f.values(&s.unique_id, column)?, index_in(f, target)) {
                            (Some(v), Some(i)) => v.get(i).copied().unwrap_or(f64::NAN),
                            _ => f64::NAN,
                        }
                    }
                    Plan::Unknown => f64::NAN,
                })
            };
            let recent_mean = values.map_or(f64::NAN, |v| {
                let v = &v[..(o + 1).min(v.len())];
                let r: Vec<f64> = tail(v, 13)
                    .iter()
                    .copied()
                    .filter(|x| x.is_finite())
                    .collect();
                mean(&r)
            });
            let relative = |v: f64| {
                if recent_mean > 0.0 {
                    v / recent_mean
                } else {
                    f64::NAN
                }
            };
            match name.as_str() {
                columns::PRICE => {
                    col.push(relative(planned(columns::PRICE)?));
                    col.push(relative(at(o)));
                }
                columns::PROMO => {
                    col.push(planned(columns::PROMO)?);
                    col.push(at(o));
                }
                _ => col.push(relative(at(o))),
            }
        }
        for (vocab, pos) in self.layout.statics.iter().zip(&self.statics) {
            col.push(pos.map_or(0.0, |p| f64::from(vocab.id_of(&s.statics[p]))));
        }
        debug_assert_eq!(col.at, self.layout.len());
        Ok(())
    }
}

/// Position of `week` among the weeks `f` covers.
fn index_in(f: &KnownFuture, week: Week) -> Option<usize> {
    usize::try_from(f.first_week().weeks_until(week))
        .ok()
        .filter(|&i| i < f.weeks())
}

struct Cols<'o> {
    out: &'o mut [f32],
    at: usize,
}

impl Cols<'_> {
    fn push(&mut self, v: f64) {
        self.out[self.at] = if v.is_finite() { v as f32 } else { f32::NAN };
        self.at += 1;
    }
}

fn tail(y: &[f64], w: usize) -> &[f64] {
    &y[y.len().saturating_sub(w)..]
}

pub(crate) fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        f64::NAN
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

fn std(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return f64::NAN;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (v.len() - 1) as f64).sqrt()
}
