//! How new SKUs are forecast: launch curves against the moving average, on SKUs launched after a
//! split week.
//!
//! The curves (`restock_stats::launch`) are fitted on the SKUs launched before the split, with
//! their demand up to it; every SKU launched after it with enough weeks is then forecast at each
//! age `k` (weeks since its first sale) from its first `k` weeks, by its peer group's curve and
//! by the forecast job's fallback for new SKUs (the 4-week moving average), and by
//! gradient-boosted trees (`restock_trees`) fitted on the catalogue up to the split with every
//! origin from a SKU's first week on, so that a young SKU is forecast from what similar SKUs did
//! at its age (its static groups, age, first weeks, calendar and plan); all are scored on its
//! next `horizon` weeks: WAPE and bias of the mean forecast.

use restock_core::Quantiles;
use restock_core::{Forecaster, Week};
use restock_data::WeeklyDataset;
use restock_stats::Baseline;
use restock_stats::launch::LaunchCurves;
use restock_trees::{FitWeeks, Plan, TreeConfig, TreeModel};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Weeks of age the evaluation's curves cover.
const AGES: usize = 26;

/// One age's scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartAge {
    /// Weeks since the first sale at the forecast.
    pub age: usize,
    /// SKUs scored.
    pub skus: usize,
    /// WAPE of the launch curve's mean.
    pub curve_wape: f64,
    /// Its bias, Σ(forecast − y)/Σy.
    pub curve_bias: f64,
    /// WAPE of the moving average.
    pub moving_average_wape: f64,
    /// Its bias.
    pub moving_average_bias: f64,
    /// WAPE of the trees' mean (absent where they could not be fitted, or in older files).
    #[serde(default)]
    pub trees_wape: Option<f64>,
    /// Its bias.
    #[serde(default)]
    pub trees_bias: Option<f64>,
}

/// The evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// The split: curves from launches up to it, SKUs launched after it scored.
    pub split: String,
    /// SKUs launched up to the split that the curves were fitted on.
    pub launches: usize,
    /// Weeks scored after each forecast.
    pub horizon: usize,
    /// Scores by age.
    pub ages: Vec<ColdStartAge>,
}

/// Score launch curves against the moving average on `ds`'s SKUs launched after `split` (see
/// the module docs), at each of `ages`, over `horizon` weeks.
pub fn cold_start(
    ds: &WeeklyDataset,
    split: Week,
    ages: &[usize],
    horizon: usize,
) -> Result<ColdStart> {
    let before: Vec<(&[f64], &[String])> = ds
        .series
        .iter()
        .filter(|s| s.start > ds.first_week && s.start <= split)
        .map(|s| {
            let weeks = (s.start.weeks_until(split) + 1).max(0) as usize;
            (&s.y[..weeks.min(s.y.len())], s.statics.as_slice())
        })
        .collect();
    let launches = before.len();
    let curves = LaunchCurves::fit(&ds.statics, before, AGES).ok_or_else(|| {
        Error::Option(format!(
            "--cold-start-split {split}: {launches} SKUs launched in the data up to it, too few \
             for launch curves (at least {})",
            restock_stats::launch::MIN_LAUNCHES
        ))
    })?;
    let ma = Baseline::parse("moving_average").map_err(|e| Error::Option(e.to_string()))?;
    let trees = launch_trees(ds, split, horizon)?;
    let mut out = Vec::new();
    for &age in ages {
        let (mut n, mut y_sum) = (0usize, 0.0);
        let (mut c_abs, mut c_err, mut m_abs, mut m_err) = (0.0, 0.0, 0.0, 0.0);
        let (mut t_abs, mut t_err) = (0.0, 0.0);
        let scored: Vec<usize> = (0..ds.series.len())
            .filter(|&i| {
                let s = &ds.series[i];
                s.start > split && age > 0 && s.y.len() >= age + horizon
            })
            .collect();
        // The trees from each SKU's first `age` weeks, the plan its weeks recorded.
        let tree_means = match &trees {
            Some(t) => {
                let origins: Vec<(usize, usize)> = scored.iter().map(|&i| (i, age - 1)).collect();
                Some(t.means_at(ds, &origins, horizon, Plan::Recorded)?)
            }
            None => None,
        };
        for (j, s) in scored.iter().map(|&i| &ds.series[i]).enumerate() {
            let (seen, actual) = (&s.y[..age], &s.y[age..age + horizon]);
            let curve = curves
                .means(seen, &s.statics, horizon)
                .ok_or_else(|| Error::Sku {
                    sku: s.unique_id.clone(),
                    message: "no launch profile for its peer groups or the catalogue".into(),
                })?;
            let fitted = ma.fit(seen).map_err(|e| Error::Sku {
                sku: s.unique_id.clone(),
                message: e.to_string(),
            })?;
            let flat = fitted.points(horizon);
            for (h, ((y, c), m)) in actual.iter().zip(&curve).zip(&flat).enumerate() {
                y_sum += y;
                c_abs += (c - y).abs();
                c_err += c - y;
                m_abs += (m - y).abs();
                m_err += m - y;
                if let Some(t) = &tree_means {
                    t_abs += (t[j][h] - y).abs();
                    t_err += t[j][h] - y;
                }
            }
            n += 1;
        }
        let share = |v: f64| if y_sum > 0.0 { v / y_sum } else { f64::NAN };
        out.push(ColdStartAge {
            age,
            skus: n,
            curve_wape: share(c_abs),
            curve_bias: share(c_err),
            moving_average_wape: share(m_abs),
            moving_average_bias: share(m_err),
            trees_wape: trees.as_ref().map(|_| share(t_abs)),
            trees_bias: trees.as_ref().map(|_| share(t_err)),
        });
    }
    Ok(ColdStart {
        split: split.to_string(),
        launches,
        horizon,
        ages: out,
    })
}

/// Trees fitted on `ds` as it was at `split` (targets up to `horizon` weeks before it train,
/// the last `horizon` weeks choose the round), every origin from a SKU's first week on; `None`
/// when the catalogue is too small for them.
fn launch_trees(ds: &WeeklyDataset, split: Week, horizon: usize) -> Result<Option<TreeModel>> {
    let Some(known) = ds.truncate(split) else {
        return Ok(None);
    };
    let levels = Quantiles::default();
    let weeks = FitWeeks {
        train_end: split.offset(-(horizon as i64)),
        valid_end: split,
        horizon,
        levels: &levels,
        seed: LAUNCH_SEED,
        threads: 0,
    };
    let config = TreeConfig {
        min_history: 1,
        ..TreeConfig::default()
    };
    match TreeModel::fit(&known, &weeks, &config) {
        Ok(t) => Ok(Some(t)),
        Err(restock_trees::Error::Data(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Seed of the launch trees' sampled rows.
const LAUNCH_SEED: u64 = 0x1a_0c4e;

impl ColdStart {
    /// A plain-text table.
    pub fn table(&self) -> String {
        let mut out = format!(
            "cold starts: curves from {} SKUs launched up to {}, SKUs launched after it scored \
             over {} weeks\nage  SKUs   curve WAPE  bias    moving average WAPE  bias    trees WAPE  bias\n",
            self.launches, self.split, self.horizon
        );
        for a in &self.ages {
            let trees = match (a.trees_wape, a.trees_bias) {
                (Some(w), Some(b)) => format!("{w:<11.3} {b:+.3}"),
                _ => "–".to_string(),
            };
            out.push_str(&format!(
                "{:<4} {:<6} {:<11.3} {:<+7.3} {:<20.3} {:<+7.3} {trees}\n",
                a.age,
                a.skus,
                a.curve_wape,
                a.curve_bias,
                a.moving_average_wape,
                a.moving_average_bias
            ));
        }
        out
    }
}
