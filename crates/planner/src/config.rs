//! `configs/plan/<name>.toml`: horizon, service target, cost defaults, shared constraints, solver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The plan config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanConfig {
    /// Planning horizon and review period.
    #[serde(default)]
    pub horizon: HorizonConfig,
    /// Service target.
    #[serde(default)]
    pub service: ServiceConfig,
    /// Defaults for SKU parameters missing from the SKU table.
    #[serde(default)]
    pub defaults: SkuDefaults,
    /// Budgets, currency per week.
    #[serde(default)]
    pub budget: BudgetConfig,
    /// Capacities.
    #[serde(default)]
    pub capacity: CapacityConfig,
    /// Solver options.
    #[serde(default)]
    pub solver: SolverConfig,
}

/// Planning horizon.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HorizonConfig {
    /// Weeks planned, starting with the first forecast week, 1..=104.
    pub weeks: usize,
    /// Weeks between two orders of a SKU (the review period R of the safety stock), >= 1.
    pub review_period_weeks: usize,
}

impl Default for HorizonConfig {
    fn default() -> Self {
        HorizonConfig {
            weeks: 8,
            review_period_weeks: 1,
        }
    }
}

/// Service target: a cycle service level, the newsvendor critical ratio of each SKU's costs, or
/// an aggregate fill rate reached at the least safety-stock value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// Probability of no stock-out over a replenishment cycle, in (0, 1); ignored when
    /// `critical_ratio` is true.
    pub level: f64,
    /// Use p / (p + h) per SKU (shortage cost p, holding cost h per week) instead of `level`.
    pub critical_ratio: bool,
    /// An aggregate fill rate in (0, 1) (share of the catalogue's demand served from stock)
    /// instead of `level`: each SKU's cycle service level is chosen so that the expected fill
    /// rate over all SKUs reaches it at the least safety-stock value (`crate::service`); SKUs
    /// with their own `service_level` keep it.
    pub fill_rate: Option<f64>,
    /// Cycle service levels for a shop that loses unmet demand, counted on the weeks with
    /// demand (`crate::lost_sales`): the level that keeps the target there, not the quantile
    /// that would keep it with backorders. `false`: the quantile. With `fill_rate`, the levels
    /// are chosen on what the lost-sales shop serves and holds at each (`false`: on the
    /// backorder formula for the units short); with `critical_ratio`, each SKU's level is the
    /// one of least holding + lost-margin cost in its shop (`crate::service::economic_levels`;
    /// `false`: the critical ratio's quantile).
    pub lost_sales: bool,
}

impl ServiceConfig {
    /// Whether the plan's levels are a lost-sales shop's ([`ServiceConfig::lost_sales`], for a
    /// cycle service target, the levels a fill-rate target allocates or the least-cost ones).
    pub fn lost_sales_levels(&self) -> bool {
        self.lost_sales
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            level: 0.95,
            critical_ratio: false,
            fill_rate: None,
            lost_sales: true,
        }
    }
}

/// Defaults for SKU parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SkuDefaults {
    /// Holding cost per unit and week as a fraction of unit cost (0.005 ≈ 26 % a year).
    pub holding_rate_per_week: f64,
    /// Shortage cost per unit of lost demand as a multiple of the unit price (lost revenue).
    pub shortage_cost_factor: f64,
    /// The unit price of a SKU the table gives none, as a multiple of its unit cost (2:
    /// keystone pricing, a 50 % gross margin). At 1 such a SKU has no margin to lose, and a plan
    /// that prices a lost unit at its cost orders nothing for it, whatever the service target.
    pub price_markup: f64,
    /// Cost per unit-week of stock below the safety stock, as a fraction of the lost margin
    /// (shortage cost − unit cost) per planned week, in [0, 1]: at most 1 so that the plan never
    /// refuses demand to keep safety stock.
    pub safety_shortfall_factor: f64,
    /// Fixed cost per order line, currency (> 0 turns every order into an on/off decision).
    pub order_cost: f64,
    /// Lead time in weeks when the SKU table has none.
    pub lead_time_weeks: usize,
    /// Case pack when the SKU table has none.
    pub case_pack: u32,
    /// Minimum order quantity when the SKU table has none (0 = none).
    pub moq: u32,
    /// Unit volume when the SKU table has none.
    pub unit_volume: f64,
}

impl Default for SkuDefaults {
    fn default() -> Self {
        SkuDefaults {
            holding_rate_per_week: 0.005,
            shortage_cost_factor: 1.0,
            price_markup: 2.0,
            safety_shortfall_factor: 0.5,
            order_cost: 0.0,
            lead_time_weeks: 2,
            case_pack: 1,
            moq: 0,
            unit_volume: 0.0,
        }
    }
}

/// Purchase budgets per week.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    /// All suppliers together.
    pub weekly: Option<f64>,
    /// Per supplier.
    #[serde(default)]
    pub per_supplier: BTreeMap<String, f64>,
}

/// Capacities.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapacityConfig {
    /// Warehouse volume for end-of-week stock (same unit as `unit_volume`).
    pub warehouse_volume: Option<f64>,
    /// The probability that the stock the demand leaves fits the warehouse, in [0, 1): each
    /// week's limit is the warehouse less a reserve for demand below its forecast, the volume
    /// of each SKU's expected demand over its lead time + 1 week (from the order that fills
    /// that week to its end) times how far the catalogue's demand fell short of its forecasts
    /// at this share of the calibration's origins
    /// ([`restock_stats::ProtectionCalibration::shortfall`]). 0, or forecasts without a
    /// calibration: the limit holds the stock on the expected-demand path only, and lower
    /// demand than forecast overfills the warehouse.
    pub warehouse_confidence: f64,
    /// Units a supplier can ship per week.
    pub supplier_units: BTreeMap<String, f64>,
}

impl Default for CapacityConfig {
    fn default() -> Self {
        CapacityConfig {
            warehouse_volume: None,
            warehouse_confidence: 0.95,
            supplier_units: BTreeMap::new(),
        }
    }
}

/// The LP/MILP solver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SolverKind {
    /// HiGHS (C++, via good_lp): fast, gives shadow prices.
    Highs,
    /// microlp (pure Rust): the fallback.
    Microlp,
}

impl SolverKind {
    /// Its name in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            SolverKind::Highs => "highs",
            SolverKind::Microlp => "microlp",
        }
    }

    /// Whether it gives the row duals of a continuous problem (good_lp's `SolutionWithDual`):
    /// HiGHS does, microlp does not.
    pub fn has_duals(self) -> bool {
        matches!(self, SolverKind::Highs)
    }
}

/// Solver options.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SolverConfig {
    /// Which LP/MILP solver: the master LPs of the LP relaxation's column generation
    /// (`integer = false`), and branch and bound on small joint models (plans otherwise come from
    /// per-SKU dynamic programs and Lagrangian prices).
    pub backend: SolverKind,
    /// Wall-clock limit per model, seconds: of the Lagrangian's subgradient loop (half of it for
    /// LP plans, whose column generation starts no new round after it), and of branch and bound
    /// on small joint models (a master LP runs to completion).
    pub time_limit_seconds: f64,
    /// A limit of work rather than of time: at most this many steps of the Lagrangian price
    /// search per model (and, for LP plans, as many rounds of column generation). Unlike the
    /// time limit it ends the search at the same point on every machine, so the same inputs give
    /// the same plan, as long as the time limit is not reached first. With it, small joint
    /// models get no branch and bound either (only the clock stops HiGHS's). Unset: the time
    /// limit and the gap stop the search.
    pub max_price_steps: Option<usize>,
    /// Relative gap to the proven bound at which to stop, in [0, 1): whole-case and LP plans.
    pub mip_gap: f64,
    /// Whole case packs and on/off MOQ (MILP); false solves the LP relaxation.
    pub integer: bool,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig {
            backend: SolverKind::Highs,
            time_limit_seconds: 60.0,
            max_price_steps: None,
            mip_gap: 0.005,
            integer: true,
        }
    }
}

impl PlanConfig {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.into(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse and check TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path) -> Result<Self> {
        let cfg: PlanConfig = toml::from_str(text).map_err(|e| Error::Config {
            path: origin.into(),
            message: e.to_string(),
        })?;
        cfg.check(origin)?;
        Ok(cfg)
    }

    /// Check ranges; the message names the key.
    pub fn check(&self, path: &Path) -> Result<()> {
        let fail = |m: String| {
            Err(Error::Config {
                path: PathBuf::from(path),
                message: m,
            })
        };
        let h = &self.horizon;
        if h.weeks == 0 || h.weeks > 104 {
            return fail(format!(
                "horizon.weeks must be between 1 and 104, got {}",
                h.weeks
            ));
        }
        if h.review_period_weeks == 0 {
            return fail("horizon.review_period_weeks must be >= 1".into());
        }
        let s = &self.service;
        if !(s.level > 0.0 && s.level < 1.0) {
            return fail(format!(
                "service.level must be inside (0, 1), got {}",
                s.level
            ));
        }
        if let Some(f) = s.fill_rate {
            if !(f > 0.0 && f < 1.0) {
                return fail(format!("service.fill_rate must be inside (0, 1), got {f}"));
            }
            if s.critical_ratio {
                return fail(
                    "service.fill_rate and service.critical_ratio = true are two targets; \
                     choose one"
                        .into(),
                );
            }
        }
        let d = &self.defaults;
        for (key, v) in [
            ("defaults.holding_rate_per_week", d.holding_rate_per_week),
            ("defaults.shortage_cost_factor", d.shortage_cost_factor),
            (
                "defaults.safety_shortfall_factor",
                d.safety_shortfall_factor,
            ),
            ("defaults.order_cost", d.order_cost),
            ("defaults.unit_volume", d.unit_volume),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return fail(format!("{key} must be a non-negative number, got {v}"));
            }
        }
        if !(d.price_markup >= 1.0 && d.price_markup.is_finite()) {
            return fail(format!(
                "defaults.price_markup must be a number of at least 1 (below it the price is under the unit cost), got {}",
                d.price_markup
            ));
        }
        if d.safety_shortfall_factor > 1.0 {
            return fail(format!(
                "defaults.safety_shortfall_factor must be at most 1 (above, the plan would refuse demand to hold safety stock), got {}",
                d.safety_shortfall_factor
            ));
        }
        if d.case_pack == 0 {
            return fail("defaults.case_pack must be >= 1".into());
        }
        let mut limits: Vec<(String, f64)> = vec![];
        if let Some(b) = self.budget.weekly {
            limits.push(("budget.weekly".into(), b));
        }
        limits.extend(
            self.budget
                .per_supplier
                .iter()
                .map(|(k, v)| (format!("budget.per_supplier.{k}"), *v)),
        );
        if let Some(c) = self.capacity.warehouse_volume {
            limits.push(("capacity.warehouse_volume".into(), c));
        }
        limits.extend(
            self.capacity
                .supplier_units
                .iter()
                .map(|(k, v)| (format!("capacity.supplier_units.{k}"), *v)),
        );
        for (key, v) in limits {
            if !(v >= 0.0 && v.is_finite()) {
                return fail(format!("{key} must be a non-negative number, got {v}"));
            }
        }
        let confidence = self.capacity.warehouse_confidence;
        if !(0.0..1.0).contains(&confidence) {
            return fail(format!(
                "capacity.warehouse_confidence must be in [0, 1), got {confidence}"
            ));
        }
        let sv = &self.solver;
        if sv.time_limit_seconds.is_nan() || sv.time_limit_seconds <= 0.0 {
            return fail(format!(
                "solver.time_limit_seconds must be > 0, got {}",
                sv.time_limit_seconds
            ));
        }
        if sv.max_price_steps == Some(0) {
            return fail(
                "solver.max_price_steps must be at least 1 (leave it out for no limit)".into(),
            );
        }
        if !(sv.mip_gap >= 0.0 && sv.mip_gap < 1.0) {
            return fail(format!(
                "solver.mip_gap must be in [0, 1), got {}",
                sv.mip_gap
            ));
        }
        Ok(())
    }

    /// True when SKUs are coupled by a shared constraint.
    pub fn has_shared_constraints(&self) -> bool {
        self.budget.weekly.is_some()
            || !self.budget.per_supplier.is_empty()
            || self.capacity.warehouse_volume.is_some()
            || !self.capacity.supplier_units.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_bad_keys_are_named() {
        let err =
            toml::from_str::<PlanConfig>("[budget]\nweekly = 10.0\nmonthly = 3.0\n").unwrap_err();
        assert!(err.to_string().contains("monthly"), "{err}");
        let cfg: PlanConfig =
            toml::from_str("[service]\nlevel = 1.5\ncritical_ratio = false\n").unwrap();
        let err = cfg.check(Path::new("p.toml")).unwrap_err().to_string();
        assert!(
            err.contains("service.level") && err.contains("p.toml"),
            "{err}"
        );
        let cfg: PlanConfig = toml::from_str("[budget]\nweekly = -1.0\n").unwrap();
        assert!(
            cfg.check(Path::new("p.toml"))
                .unwrap_err()
                .to_string()
                .contains("budget.weekly")
        );
        let cfg: PlanConfig =
            toml::from_str("[capacity]\nwarehouse_volume = 9.0\nwarehouse_confidence = 1.0\n")
                .unwrap();
        assert!(
            cfg.check(Path::new("p.toml"))
                .unwrap_err()
                .to_string()
                .contains("capacity.warehouse_confidence")
        );
        let cfg: PlanConfig = toml::from_str("").unwrap();
        assert!(cfg.check(Path::new("p.toml")).is_ok());
        assert_eq!(cfg.capacity.warehouse_confidence, 0.95);
        assert!(!cfg.has_shared_constraints());
    }
}
