//! Model features per SKU and week, per-SKU scale statistics and static categorical ids.
//!
//! | feature | known in advance | definition |
//! |---|---|---|
//! | `woy_sin`, `woy_cos` | yes | position of the week in the year on the unit circle |
//! | `age` | yes | ln(1 + weeks since first sale) / ln(53), capped at 1 |
//! | `event` | yes | event days of the week / 7 (with a calendar) |
//! | `rel_price` | yes | price / regular price (max over the trailing `regular_price_weeks`); 1 if unknown |
//! | `discount` | yes | max(0, 1 − rel_price) |
//! | `promo` | yes | share of the week's days on promotion |
//! | `views`, `clicks` | no | ln(1 + x) − ln(1 + SKU mean over the fit weeks) |
//! | `conversion` | no | conversion rate as given |
//! | `event_given`, `price_given`, `promo_given` | yes | 1 where that plan input is known, else 0 |
//!
//! **Plan inputs.** Events, prices and promotions are known in advance only when someone plans
//! them: a forecast may be made with the plan (a backtest replaying what was recorded, a buyer
//! who supplies next month's promotions) or without it. A schema built with
//! [`FeatureSpec::plan_flags`] carries one `*_given` flag per plan input present in the data; a
//! week whose input is missing (NaN) gets the flag 0 and the input's neutral value (no event,
//! regular price, no promotion), so "unknown" is a value the network has seen, never a silent
//! "no promotion". Training hides the plan inputs of a share of its windows the same way
//! ([`PlanInput`], `windows::Windows::hide_plan`).

use restock_core::{Week, columns};
use serde::{Deserialize, Serialize};

use crate::weekly::WeeklyDataset;

/// Feature options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Trailing weeks over which the regular price is the maximum price, >= 1.
    pub regular_price_weeks: usize,
    /// Add a `*_given` flag per plan input (event, price, promotion), so that forecasts can be
    /// made with or without the plan. Runs written before the flags existed read as `false`.
    #[serde(default)]
    pub plan_flags: bool,
}

impl Default for FeatureSpec {
    fn default() -> Self {
        FeatureSpec {
            regular_price_weeks: 13,
            plan_flags: false,
        }
    }
}

/// A known-in-advance input that comes from a plan (not from the calendar), as seen by the
/// network: its features with their values when the input is unknown, and its `*_given` flag.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInput {
    /// The input's column in a future-covariates file: `event_days`, `price` or `promo`.
    pub column: &'static str,
    /// Position of its flag among the known features.
    pub flag: usize,
    /// `(position among the known features, value when unknown)` of each feature it drives.
    pub features: Vec<(usize, f32)>,
}

/// A plan input as declared: `(column, flag feature, [(feature, value when unknown)])`.
type PlanInputSpec = (&'static str, &'static str, &'static [(&'static str, f32)]);

/// The plan inputs.
const PLAN_INPUTS: [PlanInputSpec; 3] = [
    (columns::EVENT_DAYS, "event_given", &[("event", 0.0)]),
    (
        columns::PRICE,
        "price_given",
        &[("rel_price", 1.0), ("discount", 0.0)],
    ),
    (columns::PROMO, "promo_given", &[(columns::PROMO, 0.0)]),
];

/// The values of one static attribute; id 0 is reserved for "unknown" (a value not seen in training).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StaticVocab {
    /// The attribute, e.g. `category`.
    pub name: String,
    /// Known values; value `values[i]` has id `i + 1`.
    pub values: Vec<String>,
}

impl StaticVocab {
    /// The id of `value`, 0 if unknown.
    pub fn id_of(&self, value: &str) -> u32 {
        self.values
            .binary_search_by(|v| v.as_str().cmp(value))
            .map(|i| i as u32 + 1)
            .unwrap_or(0)
    }

    /// Number of ids including "unknown".
    pub fn cardinality(&self) -> usize {
        self.values.len() + 1
    }
}

/// What the model's inputs are: stored with a run so inference builds the same features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureSchema {
    /// Feature names, in column order.
    pub names: Vec<String>,
    /// Whether each feature is known for future weeks (calendar, planned price/promo).
    pub known: Vec<bool>,
    /// Static attribute vocabularies.
    pub statics: Vec<StaticVocab>,
    /// Options used.
    pub spec: FeatureSpec,
}

impl FeatureSchema {
    /// Number of features.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when there are no features.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Indices of the features known in advance.
    pub fn known_indices(&self) -> Vec<usize> {
        (0..self.known.len()).filter(|&i| self.known[i]).collect()
    }

    /// The plan inputs of this schema (none without [`FeatureSpec::plan_flags`]), with positions
    /// among the known features (the order of `future_x`).
    pub fn plan_inputs(&self) -> Vec<PlanInput> {
        let known: Vec<&str> = self
            .names
            .iter()
            .zip(&self.known)
            .filter(|(_, k)| **k)
            .map(|(n, _)| n.as_str())
            .collect();
        let pos = |name: &str| known.iter().position(|n| *n == name);
        PLAN_INPUTS
            .iter()
            .filter_map(|(column, flag, feats)| {
                Some(PlanInput {
                    column,
                    flag: pos(flag)?,
                    features: feats
                        .iter()
                        .filter_map(|(f, neutral)| Some((pos(f)?, *neutral)))
                        .collect(),
                })
            })
            .collect()
    }

    /// The schema for a dataset: which features exist depends on its covariates and calendar.
    pub fn for_dataset(ds: &WeeklyDataset, spec: FeatureSpec) -> Self {
        let mut names: Vec<(&str, bool)> =
            vec![("woy_sin", true), ("woy_cos", true), ("age", true)];
        if ds.event_days.is_some() {
            names.push(("event", true));
        }
        let has = |c: &str| ds.covariate_index(c).is_some();
        if has(columns::PRICE) {
            names.push(("rel_price", true));
            names.push(("discount", true));
        }
        for (c, known) in [
            (columns::PROMO, true),
            (columns::VIEWS, false),
            (columns::CLICKS, false),
            (columns::CONVERSION, false),
        ] {
            if has(c) {
                names.push((c, known));
            }
        }
        if spec.plan_flags {
            for (_, flag, feats) in PLAN_INPUTS {
                if names.iter().any(|(n, _)| *n == feats[0].0) {
                    names.push((flag, true));
                }
            }
        }
        let statics = ds
            .statics
            .iter()
            .enumerate()
            .map(|(k, name)| {
                let mut values: Vec<String> =
                    ds.series.iter().map(|s| s.statics[k].clone()).collect();
                values.sort();
                values.dedup();
                StaticVocab {
                    name: name.clone(),
                    values,
                }
            })
            .collect();
        FeatureSchema {
            names: names.iter().map(|(n, _)| n.to_string()).collect(),
            known: names.iter().map(|(_, k)| *k).collect(),
            statics,
            spec,
        }
    }
}

/// Per-SKU scale statistics over the fit weeks; the network sees `y / scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScaleStats {
    /// Mean weekly demand.
    pub mean: f64,
    /// Standard deviation of weekly demand.
    pub std: f64,
    /// Share of weeks with demand.
    pub nonzero_share: f64,
    /// Weeks the statistics were computed on.
    pub weeks: usize,
    /// The divisor: 1 + mean (DeepAR's choice; never 0, gentle on intermittent SKUs).
    pub scale: f64,
}

impl ScaleStats {
    /// Statistics of `y`.
    pub fn of(y: &[f64]) -> Self {
        let n = y.len().max(1) as f64;
        let mean = y.iter().sum::<f64>() / n;
        let var = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        let nonzero = y.iter().filter(|v| **v > 0.0).count() as f64 / n;
        ScaleStats {
            mean,
            std: var.sqrt(),
            nonzero_share: nonzero,
            weeks: y.len(),
            scale: 1.0 + mean,
        }
    }
}

/// Features of one SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct SkuFeatures {
    /// `[weeks, features]` row-major, aligned with the SKU's `y`.
    pub x: Vec<f32>,
    /// Static ids, one per attribute.
    pub static_ids: Vec<u32>,
    /// Scale statistics over the fit weeks.
    pub scale: ScaleStats,
}

/// Build the features of every SKU. Statistics (scale, behaviour means) use only weeks up to and
/// including `fit_until`, so validation and test weeks do not leak into them.
pub fn build(ds: &WeeklyDataset, schema: &FeatureSchema, fit_until: Week) -> Vec<SkuFeatures> {
    ds.series
        .iter()
        .map(|s| sku_features(ds, schema, s, fit_until))
        .collect()
}

fn sku_features(
    ds: &WeeklyDataset,
    schema: &FeatureSchema,
    s: &crate::weekly::SkuSeries,
    fit_until: Week,
) -> SkuFeatures {
    let t_len = s.y.len();
    let fit_len = ((s.start.weeks_until(fit_until) + 1).max(0) as usize).min(t_len);
    let f = schema.len();
    let mut x = vec![0f32; t_len * f];
    let cov = |name: &str| ds.covariate_index(name).map(|i| &s.covariates[i]);
    let price = cov(columns::PRICE);
    let fit_mean_log = |v: Option<&Vec<f64>>| -> f64 {
        v.map(|v| {
            let n = fit_len.max(1) as f64;
            (v[..fit_len].iter().sum::<f64>() / n).ln_1p()
        })
        .unwrap_or(0.0)
    };
    let views_ref = fit_mean_log(cov(columns::VIEWS));
    let clicks_ref = fit_mean_log(cov(columns::CLICKS));
    let w = schema.spec.regular_price_weeks.max(1);
    for t in 0..t_len {
        let week = s.week(t);
        let angle = 2.0 * std::f64::consts::PI * week.year_fraction();
        let rel_price = price
            .map(|p| {
                let regular = p[t.saturating_sub(w - 1)..=t]
                    .iter()
                    .copied()
                    .filter(|v| v.is_finite())
                    .fold(f64::NAN, f64::max);
                if p[t].is_finite() && regular > 0.0 {
                    p[t] / regular
                } else {
                    1.0
                }
            })
            .unwrap_or(1.0);
        let given = |v: Option<&Vec<f64>>| v.is_some_and(|v| v[t].is_finite());
        let events = ds.event_days_of(week);
        let row = &mut x[t * f..(t + 1) * f];
        for (k, name) in schema.names.iter().enumerate() {
            let v = match name.as_str() {
                "woy_sin" => angle.sin(),
                "woy_cos" => angle.cos(),
                "age" => ((t as f64).ln_1p() / 53f64.ln()).min(1.0),
                "event" if events.is_finite() => events / 7.0,
                "event" => 0.0,
                "event_given" => f64::from(u8::from(events.is_finite())),
                "price_given" => f64::from(u8::from(given(price))),
                "promo_given" => f64::from(u8::from(given(cov(columns::PROMO)))),
                "rel_price" => rel_price,
                "discount" => (1.0 - rel_price).max(0.0),
                columns::VIEWS => cov(columns::VIEWS)
                    .map(|v| v[t].ln_1p() - views_ref)
                    .unwrap_or(0.0),
                columns::CLICKS => cov(columns::CLICKS)
                    .map(|v| v[t].ln_1p() - clicks_ref)
                    .unwrap_or(0.0),
                other => cov(other)
                    .map(|v| v[t])
                    .filter(|v| v.is_finite())
                    .unwrap_or(0.0),
            };
            row[k] = v as f32;
        }
    }
    let static_ids = schema
        .statics
        .iter()
        .zip(&s.statics)
        .map(|(v, val)| v.id_of(val))
        .collect();
    SkuFeatures {
        x,
        static_ids,
        scale: ScaleStats::of(&s.y[..fit_len.max(1).min(t_len)]),
    }
}
