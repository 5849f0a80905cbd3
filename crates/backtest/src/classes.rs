//! ABC/XYZ classes of the catalogue: ABC by share of demand value (the few SKUs that carry most
//! of the money), XYZ by variability of weekly demand (how forecastable a SKU is).
//!
//! - value = Σ y × price over the last 52 weeks up to the reference week (units when the data has
//!   no price); SKUs sorted by value, A = the SKUs making up the first 80 % of the total, B = the
//!   next 15 %, C = the rest (and every SKU without value);
//! - CV = standard deviation / mean of weekly demand over the same weeks: X below 0.5, Y below
//!   1.0, Z from 1.0 (and every SKU without demand).

use restock_core::{Week, columns};
use restock_data::WeeklyDataset;
use serde::{Deserialize, Serialize};

/// Weeks the classes look at.
pub const CLASS_WEEKS: usize = 52;

/// A SKU's classes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuClass {
    /// The SKU.
    pub unique_id: String,
    /// `A`, `B` or `C`.
    pub abc: char,
    /// `X`, `Y` or `Z`.
    pub xyz: char,
    /// Demand value over the weeks looked at (units × price, or units).
    pub value: f64,
    /// Its share of the catalogue's value.
    pub value_share: f64,
    /// Coefficient of variation of weekly demand (∞ without demand).
    pub cv: f64,
}

impl SkuClass {
    /// `AX` .. `CZ`.
    pub fn label(&self) -> String {
        format!("{}{}", self.abc, self.xyz)
    }
}

/// Classes of every series of `ds` from the weeks up to `until` (series starting later get C/Z
/// and no value). Same order as `ds.series`.
pub fn classify(ds: &WeeklyDataset, until: Week) -> Vec<SkuClass> {
    let price = ds.covariate_index(columns::PRICE);
    let mut out: Vec<SkuClass> = ds
        .series
        .iter()
        .map(|s| {
            let end = (s.start.weeks_until(until) + 1).clamp(0, s.y.len() as i64) as usize;
            let from = end.saturating_sub(CLASS_WEEKS);
            let y = &s.y[from..end];
            let mut value = 0.0;
            for (i, &v) in y.iter().enumerate() {
                let p = price
                    .map(|c| s.covariates[c][from + i])
                    .filter(|p| p.is_finite() && *p > 0.0)
                    .unwrap_or(1.0);
                value += v * p;
            }
            let n = y.len() as f64;
            let mean = if n > 0.0 {
                y.iter().sum::<f64>() / n
            } else {
                0.0
            };
            let cv = if mean > 0.0 {
                (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt() / mean
            } else {
                f64::INFINITY
            };
            let xyz = if cv < 0.5 {
                'X'
            } else if cv < 1.0 {
                'Y'
            } else {
                'Z'
            };
            SkuClass {
                unique_id: s.unique_id.clone(),
                abc: 'C',
                xyz,
                value,
                value_share: 0.0,
                cv,
            }
        })
        .collect();
    let total: f64 = out.iter().map(|c| c.value).sum();
    if total > 0.0 {
        let mut order: Vec<usize> = (0..out.len()).collect();
        order.sort_by(|&a, &b| {
            out[b]
                .value
                .total_cmp(&out[a].value)
                .then_with(|| out[a].unique_id.cmp(&out[b].unique_id))
        });
        let mut before = 0.0;
        for i in order {
            let c = &mut out[i];
            c.value_share = c.value / total;
            // A SKU belongs to the class its first unit of value falls in.
            c.abc = if c.value <= 0.0 {
                'C'
            } else if before < 0.80 {
                'A'
            } else if before < 0.95 {
                'B'
            } else {
                'C'
            };
            before += c.value_share;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use restock_data::SkuSeries;

    fn series(id: &str, y: Vec<f64>) -> SkuSeries {
        SkuSeries {
            unique_id: id.into(),
            start: Week::containing_day(0),
            covariates: vec![],
            statics: vec![],
            y,
        }
    }

    #[test]
    fn classes_by_hand() {
        let start = Week::containing_day(0);
        let ds = WeeklyDataset {
            first_week: start,
            last_week: start.offset(3),
            covariates: vec![],
            statics: vec![],
            event_days: None,
            series: vec![
                // 70 % of the units, steady: A X.
                series("big", vec![70.0, 70.0, 70.0, 70.0]),
                // 20 %: starts inside A's 80 % (70 % before it) -> A; CV 1 -> Z.
                series("mid", vec![0.0, 40.0, 0.0, 40.0]),
                // 8 %: 90 % before it -> B; CV 0.2 -> X.
                series("small", vec![6.4, 9.6, 6.4, 9.6]),
                // 2 %: 98 % before it -> C.
                series("tail", vec![2.0, 2.0, 2.0, 2.0]),
                series("dead", vec![0.0, 0.0, 0.0, 0.0]),
            ],
        };
        let c = classify(&ds, ds.last_week);
        let labels: Vec<String> = c.iter().map(SkuClass::label).collect();
        assert_eq!(labels, ["AX", "AZ", "BX", "CX", "CZ"]);
        assert!((c[0].value_share - 0.7).abs() < 1e-12);
        assert!((c[1].cv - 1.0).abs() < 1e-12);
        // Only the weeks up to the reference week count.
        let early = classify(&ds, start);
        assert_eq!(early[1].value, 0.0);
        assert_eq!(early[1].abc, 'C');
    }
}
