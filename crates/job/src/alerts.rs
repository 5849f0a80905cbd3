//! Alerts of a cycle, from what the planner read: SKUs at risk of a stock-out before an order
//! placed now can arrive, and SKUs whose stock covers more weeks of demand than the limit.

use polars::prelude::*;
use restock_planner::PlanInputs;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A stock-out is feared before the next possible arrival.
pub const STOCKOUT_RISK: &str = "stockout_risk";
/// Stock and open orders cover more weeks of forecast demand than the limit.
pub const OVERSTOCK: &str = "overstock";

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The SKU.
    pub unique_id: String,
    /// [`STOCKOUT_RISK`] or [`OVERSTOCK`].
    pub alert: String,
    /// Stock on hand at the start of the cycle's week.
    pub on_hand: f64,
    /// Units on open orders (before the next possible arrival, for a stock-out risk).
    pub on_order: f64,
    /// Median forecast demand (until the next possible arrival, for a stock-out risk; per week
    /// for an overstock).
    pub demand: f64,
    /// Units short by the median forecast (stock-out risk), or weeks of demand covered
    /// (overstock).
    pub size: f64,
    /// In words.
    pub reason: String,
}

/// The alerts of a plan's inputs, stock-out risks first, each kind largest first.
pub fn alerts(inputs: &PlanInputs, overstock_weeks: f64) -> Vec<Alert> {
    let m = inputs.levels.median_index();
    let mut risks = Vec::new();
    let mut over = Vec::new();
    for sku in &inputs.skus {
        let weeks = sku.forecast.len();
        let median = |t: usize| sku.forecast[t][m].max(0.0);
        let lead = sku.params.lead_time_weeks.min(weeks);
        // Cumulative supply minus median demand, week by week, until an order placed now lands.
        let (mut position, mut worst, mut worst_week) = (sku.on_hand, 0.0f64, 0usize);
        let (mut demand, mut arriving) = (0.0, 0.0);
        for t in 0..lead {
            let arrivals: f64 = sku
                .on_order
                .iter()
                .filter(|(w, _)| *w == t)
                .map(|(_, q)| q)
                .sum();
            arriving += arrivals;
            demand += median(t);
            position += arrivals - median(t);
            if position < worst {
                (worst, worst_week) = (position, t);
            }
        }
        if worst < 0.0 {
            risks.push(Alert {
                unique_id: sku.unique_id.clone(),
                alert: STOCKOUT_RISK.into(),
                on_hand: sku.on_hand,
                on_order: arriving,
                demand,
                size: -worst,
                reason: format!(
                    "short by {:.0} units in the week of {} by the median forecast ({:.0} units until \
                     an order placed now arrives in the week of {}, against {:.0} on hand and {:.0} \
                     arriving)",
                    -worst,
                    inputs.start.offset(worst_week as i64),
                    demand,
                    inputs.start.offset(sku.params.lead_time_weeks as i64),
                    sku.on_hand,
                    arriving
                ),
            });
        }
        let weekly = (0..weeks).map(median).sum::<f64>() / weeks.max(1) as f64;
        let on_order: f64 = sku.on_order.iter().map(|(_, q)| q).sum();
        let stock = sku.on_hand + on_order;
        let cover = if weekly > 0.0 {
            stock / weekly
        } else if stock > 0.0 {
            f64::INFINITY
        } else {
            0.0
        };
        if cover > overstock_weeks {
            over.push(Alert {
                unique_id: sku.unique_id.clone(),
                alert: OVERSTOCK.into(),
                on_hand: sku.on_hand,
                on_order,
                demand: weekly,
                size: cover,
                reason: if cover.is_finite() {
                    format!(
                        "{stock:.0} units on hand and on order cover {cover:.1} weeks of the median \
                         forecast ({weekly:.1} a week; the limit is {overstock_weeks} weeks)"
                    )
                } else {
                    format!("{stock:.0} units on hand and on order, and no forecast demand")
                },
            });
        }
    }
    let by_size = |a: &Alert, b: &Alert| {
        b.size
            .total_cmp(&a.size)
            .then_with(|| a.unique_id.cmp(&b.unique_id))
    };
    risks.sort_by(by_size);
    over.sort_by(by_size);
    risks.extend(over);
    risks
}

/// The alerts as a table.
pub fn frame(alerts: &[Alert]) -> Result<DataFrame> {
    let col = |name: &str, f: &dyn Fn(&Alert) -> f64| {
        Column::new(name.into(), alerts.iter().map(f).collect::<Vec<f64>>())
    };
    let text = |name: &str, f: &dyn Fn(&Alert) -> &str| {
        Column::new(name.into(), alerts.iter().map(f).collect::<Vec<&str>>())
    };
    DataFrame::new(
        alerts.len(),
        vec![
            text("unique_id", &|a| &a.unique_id),
            text("alert", &|a| &a.alert),
            col("on_hand", &|a| a.on_hand),
            col("on_order", &|a| a.on_order),
            col("demand", &|a| a.demand),
            // Infinite cover (no demand) is written as empty.
            Column::new(
                "size".into(),
                alerts
                    .iter()
                    .map(|a| a.size.is_finite().then_some(a.size))
                    .collect::<Vec<Option<f64>>>(),
            ),
            text("reason", &|a| &a.reason),
        ],
    )
    .map_err(|e| restock_data::Error::from_polars(e).into())
}

/// The alerts of a table written by [`frame`].
pub(crate) fn rows(df: &DataFrame, path: &std::path::Path) -> Result<Vec<Alert>> {
    use crate::feedback::{numbers, strings};
    let ids = strings(df, "unique_id", path)?;
    let kinds = strings(df, "alert", path)?;
    let on_hand = numbers(df, "on_hand", path)?;
    let on_order = numbers(df, "on_order", path)?;
    let demand = numbers(df, "demand", path)?;
    let size = numbers(df, "size", path)?;
    let reason = strings(df, "reason", path)?;
    Ok((0..ids.len())
        .map(|i| Alert {
            unique_id: ids[i].clone(),
            alert: kinds[i].clone(),
            on_hand: on_hand[i],
            on_order: on_order[i],
            demand: demand[i],
            size: if size[i].is_nan() {
                f64::INFINITY
            } else {
                size[i]
            },
            reason: reason[i].clone(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use restock_core::{Quantiles, Week};
    use restock_planner::{PlanConfig, SkuInput, SkuParams};

    fn sku(
        id: &str,
        on_hand: f64,
        on_order: Vec<(usize, f64)>,
        weekly: f64,
        lead: usize,
    ) -> SkuInput {
        let mut params = SkuParams::from_defaults(&PlanConfig::default(), 1.0);
        params.lead_time_weeks = lead;
        SkuInput {
            unique_id: id.into(),
            forecast: vec![vec![weekly * 0.5, weekly, weekly * 1.5]; 8],
            on_hand,
            on_order,
            params,
        }
    }

    /// Stock that runs out before an order placed now can land is a risk, even when an open
    /// order lands later; stock that covers 20 weeks is an overstock; neither otherwise.
    #[test]
    fn risks_and_overstocks_follow_the_median_forecast_and_the_lead_time() {
        let inputs = PlanInputs {
            start: Week::containing_day(0),
            levels: Quantiles::new(vec![0.1, 0.5, 0.9]).unwrap(),
            skus: vec![
                // 10 a week, 3 weeks of lead time: 15 on hand + 10 arriving in week 2 < 30.
                sku("short", 15.0, vec![(2, 10.0)], 10.0, 3),
                // The same stock with the order arriving in week 3 (when a new one could too).
                sku("fine", 35.0, vec![(3, 10.0)], 10.0, 3),
                // 200 units for 10 a week: 20 weeks.
                sku("over", 150.0, vec![(1, 50.0)], 10.0, 3),
                sku("dead", 5.0, vec![], 0.0, 3),
            ],
            protection: None,
        };
        let got = alerts(&inputs, 12.0);
        let kinds: Vec<(&str, &str)> = got
            .iter()
            .map(|a| (a.unique_id.as_str(), a.alert.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("short", STOCKOUT_RISK),
                ("dead", OVERSTOCK),
                ("over", OVERSTOCK)
            ]
        );
        assert_eq!(got[0].size, 5.0);
        assert_eq!(got[0].demand, 30.0);
        assert_eq!(got[0].on_order, 10.0);
        assert_eq!(got[2].size, 20.0);
        assert!(
            got[0].reason.contains("short by 5 units"),
            "{}",
            got[0].reason
        );
        let df = frame(&got).unwrap();
        assert_eq!(df.height(), 3);
        assert_eq!(df.column("size").unwrap().null_count(), 1);
    }
}
