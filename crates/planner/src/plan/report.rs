//! What a plan gives out: the orders, each SKU's projected stock and the summary (costs,
//! binding limits, shortfalls, how it was solved).

use restock_core::OrderLine;
use serde::{Deserialize, Serialize};

pub use crate::status::PlanStatus;

/// Projected stock of one SKU under the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuPlan {
    /// The SKU.
    pub unique_id: String,
    /// Safety stock, units.
    pub safety_stock: f64,
    /// Expected demand per week (the mean estimated from the forecast quantiles).
    pub demand: Vec<f64>,
    /// End-of-week stock per week.
    pub inventory: Vec<f64>,
    /// Lost demand per week.
    pub unmet: Vec<f64>,
    /// Shortfall below the safety stock / min stock floor per week.
    pub below_floor: Vec<f64>,
}

/// Cost components of the plan, currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CostBreakdown {
    /// Purchase cost of all orders.
    pub purchase: f64,
    /// Fixed order-line costs.
    pub fixed_order: f64,
    /// Holding cost.
    pub holding: f64,
    /// Shortage cost (lost demand).
    pub shortage: f64,
    /// Penalty for stock below the safety stock.
    pub safety_shortfall: f64,
    /// Penalty for violated shared constraints.
    pub constraint_violation: f64,
    /// Credit for the ending stock, at cost (subtracted).
    pub salvage_credit: f64,
    /// The objective: sum of the above minus the credit.
    pub total: f64,
}

/// One shared constraint in one week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConstraintReport {
    /// `budget`, `budget:<supplier>`, `supplier_units:<supplier>`, `warehouse_volume`.
    pub name: String,
    /// The week.
    pub week: String,
    /// Its limit as the plan keeps it: the config's less `reserve`.
    pub limit: f64,
    /// Kept back from the config's limit: for the warehouse, the volume the stock may exceed
    /// its expected-demand path by when demand falls short of the forecasts
    /// (`capacity.warehouse_confidence`); 0 for the other limits.
    #[serde(default)]
    pub reserve: f64,
    /// What the plan uses.
    pub used: f64,
    /// What the row takes whatever is ordered: for the warehouse, the stock on hand and on
    /// order left after the expected demand; 0 for spend and units ordered. A limit below it
    /// is violated by every plan, by at least the difference (0 in plans written before it).
    #[serde(default)]
    pub floor: f64,
    /// Used up to the limit (with whole cases: less than the smallest case left).
    pub binding: bool,
    /// By how much the plan exceeds the limit (0 if it does not).
    pub violated_by: f64,
    /// Objective decrease for one more unit of the limit (HiGHS with integers fixed); `None`
    /// with microlp.
    pub shadow_price: Option<f64>,
}

/// Weekly use of budget and capacity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekUsage {
    /// The week (order week for spend, end-of-week for stock).
    pub week: String,
    /// Purchase spend on orders placed this week.
    pub spend: f64,
    /// Global weekly budget.
    pub budget: Option<f64>,
    /// Volume of end-of-week stock.
    pub volume: f64,
    /// Warehouse capacity.
    pub warehouse_volume: Option<f64>,
}

/// A SKU that ends up short.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkuShort {
    /// The SKU.
    pub unique_id: String,
    /// Units of forecast demand not served over the horizon.
    pub units_short: f64,
    /// Of which before its first possible arrival (lead time), so no order could help.
    pub units_short_within_lead_time: f64,
}

/// The plan summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanSummary {
    /// The configured LP/MILP solver (`solver.backend`).
    pub solver: String,
    /// How the plans were found: `dynamic_program` (each SKU exactly, no shared limits),
    /// `lagrangian` (whole cases, shared limits priced by Lagrangian relaxation),
    /// `lagrangian+branch_and_bound` (a small joint model improved by `solver`) or
    /// `column_generation` (the LP relaxation: Lagrangian prices, then a master LP over each
    /// SKU's plans by `solver`); the most involved over the models.
    pub method: String,
    /// The worst status over the models solved.
    pub status: PlanStatus,
    /// MILP (whole cases, on/off MOQ) or LP relaxation.
    pub integer: bool,
    /// Independent models solved (SKUs without shared constraints are solved separately, in parallel).
    pub models: usize,
    /// The solver's objective: the controllable cost (holding + lost margin + safety-stock
    /// shortfall + fixed order costs + penalties); `costs.total` minus a constant.
    pub objective: f64,
    /// Lower bound on the optimum: the Lagrangian bound (whole cases; at least the LP
    /// relaxation's), or for LP plans the best L(λ) of the column generation.
    pub lp_bound: Option<f64>,
    /// Upper bound on the relative gap to the optimum: (objective − bound) / |objective|.
    pub gap_bound: Option<f64>,
    /// Wall-clock seconds of solving.
    pub seconds: f64,
    /// How the safety stock was set: `service_level`, `critical_ratio` or `fill_rate`
    /// (per-SKU levels from `crate::service::allocate_fill_rate`).
    pub service_method: String,
    /// Whether the service levels are those of a lost-sales shop counted on its weeks with
    /// demand (`service.lost_sales`, `crate::lost_sales`), not the quantile; never with
    /// `critical_ratio` or `fill_rate`.
    #[serde(default)]
    pub lost_sales_levels: bool,
    /// SKUs whose lost-sales level knew their own share of weeks with demand
    /// (`SkuParams::demand_weeks_share`, from the SKU table or the history).
    #[serde(default)]
    pub demand_weeks_shares: usize,
    /// With `fill_rate`: the catalogue's expected fill rate at the chosen levels.
    #[serde(default)]
    pub expected_fill_rate: Option<f64>,
    /// How the order-up-to levels were taken from the forecasts: `calibrated (N cases)` (the
    /// forecaster's [`restock_stats::ProtectionCalibration`]) or `normal rule` (independent weeks); empty in
    /// summaries written before.
    #[serde(default)]
    pub protection: String,
    /// Cost components.
    pub costs: CostBreakdown,
    /// Use per week.
    pub weeks: Vec<WeekUsage>,
    /// Shared constraints that bind or are violated.
    pub constraints: Vec<ConstraintReport>,
    /// SKUs with lost demand.
    pub skus_short: Vec<SkuShort>,
    /// SKUs planned.
    pub skus: usize,
    /// Order lines.
    pub order_lines: usize,
    /// Units ordered.
    pub units_ordered: f64,
}

impl PlanSummary {
    /// How the plan was solved, in words: e.g. `lagrangian (whole cases)`, `lagrangian + highs
    /// column generation (LP relaxation)`.
    pub fn how_solved(&self) -> String {
        match (self.integer, self.method.as_str()) {
            (false, "column_generation") => format!(
                "lagrangian + {} column generation (LP relaxation)",
                self.solver
            ),
            (false, m) => format!("{m} (LP relaxation)"),
            (true, "lagrangian+branch_and_bound") => {
                format!(
                    "lagrangian + {} branch and bound (whole cases)",
                    self.solver
                )
            }
            (true, m) => format!("{m} (whole cases)"),
        }
    }
}

/// A plan: order lines, per-SKU projections and the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Orders, sorted by SKU and order week.
    pub orders: Vec<OrderLine>,
    /// Projections per SKU.
    pub skus: Vec<SkuPlan>,
    /// The summary.
    pub summary: PlanSummary,
}
