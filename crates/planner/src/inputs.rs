//! The planner's inputs in memory: no tables, no tensors.

use restock_core::{Quantiles, Week};

use crate::config::PlanConfig;
use crate::{Error, Result};

/// Parameters of one SKU (a row of the SKU table, config defaults filled in).
#[derive(Debug, Clone, PartialEq)]
pub struct SkuParams {
    /// Purchase cost per unit, currency, > 0.
    pub unit_cost: f64,
    /// Selling price per unit (for the shortage cost: lost revenue), if known.
    pub unit_price: Option<f64>,
    /// Weeks from order to arrival.
    pub lead_time_weeks: usize,
    /// Order multiple, >= 1.
    pub case_pack: u32,
    /// Minimum order quantity in units (0 = none).
    pub moq: u32,
    /// Supplier.
    pub supplier: String,
    /// Volume of one unit.
    pub unit_volume: f64,
    /// Lowest stock to keep at the end of each week.
    pub min_stock: Option<f64>,
    /// Highest stock to hold at the end of each week.
    pub max_stock: Option<f64>,
    /// Holding cost per unit-week as a fraction of unit cost (default from the config).
    pub holding_rate: Option<f64>,
    /// Cost of one unit of lost demand, currency (default: factor × unit price from the config).
    pub shortage_cost: Option<f64>,
    /// Cycle service level for this SKU's safety stock, in (0, 1) (default from the config).
    pub service_level: Option<f64>,
    /// Share of recent weeks with demand, in (0, 1] ([`demand_weeks_share`]): the lost-sales
    /// shop that sets the SKU's level draws demand in that share of its weeks when that is
    /// lumpier than the negative binomial of the forecast's mean and spread
    /// (`crate::lost_sales`). `restock plan --history`, the weekly job and the simulation fill
    /// it from the sales history (`crate::io::fill_demand_weeks_shares`); without it the
    /// negative binomial's own share.
    pub demand_weeks_share: Option<f64>,
}

impl SkuParams {
    /// Defaults from the config, for SKUs missing from the SKU table.
    pub fn from_defaults(cfg: &PlanConfig, unit_cost: f64) -> Self {
        SkuParams {
            unit_cost,
            unit_price: None,
            lead_time_weeks: cfg.defaults.lead_time_weeks,
            case_pack: cfg.defaults.case_pack,
            moq: cfg.defaults.moq,
            supplier: String::new(),
            unit_volume: cfg.defaults.unit_volume,
            min_stock: None,
            max_stock: None,
            holding_rate: None,
            shortage_cost: None,
            service_level: None,
            demand_weeks_share: None,
        }
    }

    /// Check values; errors name the SKU.
    pub fn check(&self, sku: &str) -> Result<()> {
        let bad = |m: String| {
            Err(Error::Sku {
                sku: sku.into(),
                message: m,
            })
        };
        if !(self.unit_cost > 0.0 && self.unit_cost.is_finite()) {
            return bad(format!(
                "unit_cost must be a positive number, got {}",
                self.unit_cost
            ));
        }
        if let Some(p) = self.unit_price
            && !(p >= 0.0 && p.is_finite())
        {
            return bad(format!("unit_price must be a non-negative number, got {p}"));
        }
        if self.case_pack == 0 {
            return bad("case_pack must be >= 1".into());
        }
        if !(self.unit_volume >= 0.0 && self.unit_volume.is_finite()) {
            return bad(format!(
                "unit_volume must be a non-negative number, got {}",
                self.unit_volume
            ));
        }
        for (name, v) in [
            ("holding_rate_per_week", self.holding_rate),
            ("shortage_cost", self.shortage_cost),
        ] {
            if let Some(v) = v
                && !(v >= 0.0 && v.is_finite())
            {
                return bad(format!("{name} must be a non-negative number, got {v}"));
            }
        }
        if let Some(a) = self.service_level
            && !(a > 0.0 && a < 1.0)
        {
            return bad(format!("service_level must be inside (0, 1), got {a}"));
        }
        if let Some(s) = self.demand_weeks_share
            && !(s > 0.0 && s <= 1.0)
        {
            return bad(format!("demand_weeks_share must be in (0, 1], got {s}"));
        }
        if let (Some(lo), Some(hi)) = (self.min_stock, self.max_stock)
            && lo > hi
        {
            return bad(format!("min_stock {lo} is above max_stock {hi}"));
        }
        Ok(())
    }
}

/// Everything the planner knows about one SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct SkuInput {
    /// The SKU.
    pub unique_id: String,
    /// Forecast quantiles per week from the plan start: `forecast[t][k]` for level `k`.
    pub forecast: Vec<Vec<f64>>,
    /// Stock on hand at the start of week 0.
    pub on_hand: f64,
    /// Open purchase orders: (week of arrival from the plan start, units), available before that
    /// week's demand; arrivals past the planned weeks do not enter the plan.
    pub on_order: Vec<(usize, f64)>,
    /// Parameters.
    pub params: SkuParams,
}

/// The planner's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanInputs {
    /// The first planned week (the first forecast week).
    pub start: Week,
    /// The forecast quantile levels.
    pub levels: Quantiles,
    /// The SKUs.
    pub skus: Vec<SkuInput>,
    /// The forecaster's protection-interval calibration (`protection.json` of the forecast job):
    /// order-up-to levels from its calibrated quantiles of demand over lead time + review period.
    /// Without it, the normal rule with independent weeks.
    pub protection: Option<restock_stats::ProtectionCalibration>,
}

/// Weeks of history [`demand_weeks_share`] looks at.
pub const DEMAND_WEEKS_WINDOW: usize = 52;

/// The share of the last [`DEMAND_WEEKS_WINDOW`] weeks of `history` (weekly demand, oldest
/// first) that had demand; `None` without history or without any demand in it.
pub fn demand_weeks_share(history: &[f64]) -> Option<f64> {
    let recent = &history[history.len().saturating_sub(DEMAND_WEEKS_WINDOW)..];
    let selling = recent.iter().filter(|v| **v > 0.0).count();
    (selling > 0).then(|| selling as f64 / recent.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_share_of_weeks_with_demand_reads_the_last_year() {
        assert_eq!(demand_weeks_share(&[0.0, 3.0, 0.0, 0.0, 1.0]), Some(0.4));
        // 8 old weeks with demand, then a year with it in 13 weeks of 52.
        let mut y = vec![5.0; 8];
        y.extend((0..52).map(|w| if w % 4 == 0 { 2.0 } else { 0.0 }));
        assert_eq!(demand_weeks_share(&y), Some(0.25));
        assert_eq!(demand_weeks_share(&[0.0; 10]), None);
        assert_eq!(demand_weeks_share(&[]), None);
    }
}
