//! What a SKU's units cost: held a week, lost, and the service level they imply. The plan
//! (`crate::plan`), the levels (`crate::service`) and the simulation's buyers read the same.

use crate::config::PlanConfig;
use crate::inputs::SkuParams;

/// A SKU's costs per unit and service target, from its parameters and the config's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Economics {
    /// Holding cost per unit-week, currency.
    pub holding: f64,
    /// Cost of one unit of lost demand, currency.
    pub shortage: f64,
    /// What a unit of lost demand costs net of the purchase it spares: the shortage cost less
    /// the unit cost, at least 0 (a lost unit is one not bought). The under-cost of the
    /// critical ratio, and what the plan's objective, which pays for each unit it buys, loses
    /// per unit of demand it does not serve.
    pub lost_margin: f64,
    /// Cycle service level of the safety stock: the SKU's or the config's level, or with
    /// `service.critical_ratio` the newsvendor ratio (p − c) / (p − c + h).
    pub service_level: f64,
}

impl Economics {
    /// The SKU's unit price: its own, else `defaults.price_markup` × its unit cost.
    pub fn price(p: &SkuParams, cfg: &PlanConfig) -> f64 {
        p.unit_price
            .unwrap_or(cfg.defaults.price_markup * p.unit_cost)
    }

    /// Derive them.
    pub fn of(p: &SkuParams, cfg: &PlanConfig) -> Self {
        let cost = p.unit_cost;
        let holding = p.holding_rate.unwrap_or(cfg.defaults.holding_rate_per_week) * cost;
        let shortage = p
            .shortage_cost
            .unwrap_or(cfg.defaults.shortage_cost_factor * Self::price(p, cfg));
        let lost_margin = (shortage - cost).max(0.0);
        let service_level = if cfg.service.critical_ratio {
            if lost_margin + holding > 0.0 {
                lost_margin / (lost_margin + holding)
            } else {
                0.5
            }
        } else {
            p.service_level.unwrap_or(cfg.service.level)
        };
        Economics {
            holding,
            shortage,
            lost_margin,
            service_level,
        }
    }
}
