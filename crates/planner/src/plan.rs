//! The replenishment model and its solution.
//!
//! Per SKU `i` and week `t` of the horizon (week 0 = the first forecast week):
//!
//! ```text
//! inv[t] = inv[t-1] + on_order[t] + pack * cases[t-L] - d[t] + unmet[t]     (inv[-1] = on hand)
//! inv[t] + below[t] >= floor            for t >= L   (floor = max(safety stock, min stock))
//! inv[t] - over[t] <= max stock
//! pack * cases[s] >= moq * use[s],  pack * cases[s] <= M * use[s]          (MOQ as on/off)
//! 0 <= unmet[t] <= d[t]                  (lost sales)
//! ```
//! with `cases` integer and `use` binary in the MILP. Shared rows per week: purchase spend <= budget
//! (global and per supplier), units <= supplier capacity, end-of-week stock volume <= warehouse
//! capacity, each with a slack priced far above any shortage, so an impossible limit still yields
//! the best plan and a report of what is violated by how much.
//!
//! Cost: purchase + fixed order cost + holding + shortage (lost revenue p) + safety-stock shortfall
//! + slack penalties − the ending stock valued at cost (so the plan is not myopic about the last
//! week). By the inventory balance, purchase − ending stock at cost = constant − c · unmet, so the
//! solver minimises the equivalent *controllable* cost: holding + max(p − c, 0) · unmet + safety-stock
//! shortfall + fixed order costs + penalties. This keeps the MIP gap relative to the costs the plan
//! can change (with the constant in, a 0.5 % gap let whole extra cases through). The summary reports
//! both the solver objective and the full cost breakdown.
//!
//! Demand per week: the forecast's mean, estimated from its quantiles ([`expected_demand`]: for
//! q10/q50/q90, Swanson's 0.3/0.4/0.3 rule), not its median, which is below the mean for skewed
//! demand.
//!
//! Safety stock: the order-up-to level for the cycle service level α (or the newsvendor critical
//! ratio α = (p − c) / (p − c + h): underage is the lost margin, overage the holding cost, the
//! leftover being worth its cost) is the α quantile of demand over the protection interval of
//! lead time + review period ([`protection_level`]), and SS is that level less expected demand
//! over the interval. With the forecaster's [`ProtectionCalibration`] (fitted on its own earlier
//! forecasts, `restock_stats::protection`), the level is μ_P + κ_P(α)·σ_P with the calibrated
//! κ; without one, the normal rule z(α)·σ_P with σ_t = (q_hi − q_lo) / (z(hi) − z(lo)) from the
//! outermost quantile levels and σ_P = sqrt(Σ σ_t²) (independent weeks), which under-covers real
//! demand.

use restock_stats::ProtectionCalibration;
#[cfg(test)]
use restock_stats::normal_quantile;
use std::collections::{BTreeMap, BinaryHeap};

use rayon::prelude::*;
use restock_core::{OrderLine, OrderReason, Quantiles};
use serde::{Deserialize, Serialize};

use crate::config::PlanConfig;
use crate::service::{allocate_fill_rate, safety_stock};
use crate::inputs::{PlanInputs, SkuInput, SkuParams};
use crate::lp::{Lp, LpSolution, Sense};
use crate::{Error, Result};

mod lagrange;
mod master;

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
    /// Its limit.
    pub limit: f64,
    /// What the plan uses.
    pub used: f64,
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
    /// `optimal`, `gap_limit` (within `solver.mip_gap` of the bound), `gap_open` (the bound
    /// settled above it) or `time_limit`: the worst over the models solved.
    pub status: String,
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
    /// With `fill_rate`: the catalogue's expected fill rate at the chosen levels.
    #[serde(default)]
    pub expected_fill_rate: Option<f64>,
    /// How the order-up-to levels were taken from the forecasts: `calibrated (N cases)` (the
    /// forecaster's [`ProtectionCalibration`]) or `normal rule` (independent weeks); empty in
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

/// A SKU's costs per unit and service target, from its parameters and the config's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Economics {
    /// Holding cost per unit-week, currency.
    pub holding: f64,
    /// Cost of one unit of lost demand, currency.
    pub shortage: f64,
    /// Cycle service level of the safety stock: the SKU's or the config's level, or with
    /// `service.critical_ratio` the newsvendor ratio (p − c) / (p − c + h).
    pub service_level: f64,
}

impl Economics {
    /// Derive them.
    pub fn of(p: &SkuParams, cfg: &PlanConfig) -> Self {
        let cost = p.unit_cost;
        let holding = p.holding_rate.unwrap_or(cfg.defaults.holding_rate_per_week) * cost;
        let shortage = p
            .shortage_cost
            .unwrap_or(cfg.defaults.shortage_cost_factor * p.unit_price.unwrap_or(cost));
        let service_level = if cfg.service.critical_ratio {
            let under = (shortage - cost).max(0.0);
            if under + holding > 0.0 {
                under / (under + holding)
            } else {
                0.5
            }
        } else {
            p.service_level.unwrap_or(cfg.service.level)
        };
        Economics {
            holding,
            shortage,
            service_level,
        }
    }
}

/// Expected demand of a week from its forecast quantiles `q` at `levels`
/// ([`restock_stats::mean_from_quantiles`]: for q10/q50/q90, Swanson's rule). The inventory
/// balance needs the mean: the median of right-skewed (intermittent, promotional) demand is
/// below it, and planning on it under-orders.
pub fn expected_demand(q: &[f64], levels: &[f64]) -> f64 {
    restock_stats::mean_from_quantiles(q, levels)
}

/// Per-SKU numbers derived from inputs and config.
#[derive(Debug, Clone)]
struct Prepared {
    d: Vec<f64>,
    arrivals: Vec<f64>,
    on_hand: f64,
    lead: usize,
    pack: f64,
    moq: f64,
    cost: f64,
    holding: f64,
    shortage: f64,
    safety_cost: f64,
    safety_stock: f64,
    floor: f64,
    max_stock: Option<f64>,
    volume: f64,
    supplier: String,
}

impl Prepared {
    /// What a unit of lost demand costs the plan beyond its purchase: p − c, or 0 for an item
    /// whose shortage cost is below its unit cost (refusing demand while holding stock is not a
    /// decision the plan makes; with this floor it never pays to, and every SKU's stock follows
    /// from its orders by simulation, which `complete` and the Lagrangian's dynamic program rely on).
    fn lost_margin(&self) -> f64 {
        (self.shortage - self.cost).max(0.0)
    }

    /// The model's bound on one order, in units: enough for all demand, the floor and an MOQ,
    /// in whole cases.
    fn order_cap(&self) -> f64 {
        let need: f64 = self.d.iter().sum::<f64>() + self.floor + self.moq + self.pack;
        (need / self.pack).ceil() * self.pack
    }

    /// Week `t`'s controllable cost with `inv` units left at its end and `unmet` demand lost:
    /// holding (plus `stock_price` per unit, a shared limit's price), lost margin, and the
    /// shortfall below the floor once orders can arrive.
    fn week_cost(&self, t: usize, inv: f64, unmet: f64, stock_price: f64) -> f64 {
        let mut c = (self.holding + stock_price) * inv + self.lost_margin() * unmet;
        if t >= self.lead && self.floor > 0.0 {
            c += self.safety_cost * (self.floor - inv).clamp(0.0, self.floor);
        }
        c
    }
}

fn prepare(
    s: &SkuInput,
    quantiles: &Quantiles,
    calibration: Option<&ProtectionCalibration>,
    service_level: Option<f64>,
    cfg: &PlanConfig,
) -> Result<Prepared> {
    let levels = quantiles.levels();
    let t_len = cfg.horizon.weeks;
    let p = &s.params;
    p.check(&s.unique_id)?;
    if s.forecast.len() < t_len {
        return Err(Error::Sku {
            sku: s.unique_id.clone(),
            message: format!(
                "needs a forecast for the {t_len} planned weeks, got {} weeks",
                s.forecast.len()
            ),
        });
    }
    let mut d = Vec::with_capacity(t_len);
    for (t, q) in s.forecast.iter().take(t_len).enumerate() {
        if q.len() != levels.len() || q.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::Sku {
                sku: s.unique_id.clone(),
                message: format!(
                    "forecast week {t} must hold {} non-negative quantiles, got {q:?}",
                    levels.len()
                ),
            });
        }
        d.push(expected_demand(q, levels));
    }
    let cost = p.unit_cost;
    let Economics {
        holding,
        shortage,
        service_level: alpha,
    } = Economics::of(p, cfg);
    let alpha = service_level.unwrap_or(alpha);
    let protection = p.lead_time_weeks + cfg.horizon.review_period_weeks;
    let safety_stock = safety_stock(&s.forecast[..t_len], levels, alpha, protection, calibration);
    let floor = safety_stock.max(p.min_stock.unwrap_or(0.0));
    let mut arrivals = vec![0.0; t_len];
    for (week, qty) in &s.on_order {
        if *week < t_len {
            arrivals[*week] += qty;
        }
    }
    if !(s.on_hand.is_finite() && s.on_hand >= 0.0) {
        return Err(Error::Sku {
            sku: s.unique_id.clone(),
            message: format!("on_hand must be >= 0, got {}", s.on_hand),
        });
    }
    Ok(Prepared {
        d,
        arrivals,
        on_hand: s.on_hand,
        lead: p.lead_time_weeks,
        pack: p.case_pack as f64,
        moq: p.moq as f64,
        cost,
        holding,
        shortage,
        // Per unit-week below the floor: a share of the lost margin spread over the horizon, so
        // that over all weeks it stays below the margin (the plan never refuses demand to keep
        // safety stock) while above the holding cost (it does keep safety stock).
        safety_cost: cfg.defaults.safety_shortfall_factor * (shortage - cost).max(0.0)
            / t_len as f64,
        safety_stock,
        floor,
        max_stock: p.max_stock,
        volume: p.unit_volume,
        supplier: p.supplier.clone(),
    })
}

/// Column indices of one SKU in a group model.
#[derive(Debug, Clone, Default)]
struct SkuCols {
    inv: Vec<usize>,
    unmet: Vec<usize>,
    below: Vec<Option<usize>>,
    over: Vec<Option<usize>>,
    cases: Vec<usize>,
    used: Vec<Option<usize>>,
}

impl SkuCols {
    /// Set SKU `p`'s columns in `x` for end-of-week stock `inv` and lost demand `unmet`: the
    /// shortfall below the floor and the excess over max stock at their least.
    fn set_stock(&self, p: &Prepared, x: &mut [f64], inv: &[f64], unmet: &[f64]) {
        for t in 0..p.d.len() {
            x[self.inv[t]] = inv[t];
            x[self.unmet[t]] = unmet[t];
            if let Some(b) = self.below[t] {
                x[b] = (p.floor - inv[t]).clamp(0.0, p.floor);
            }
            if let (Some(o), Some(max)) = (self.over[t], p.max_stock) {
                x[o] = (inv[t] - max).max(0.0);
            }
        }
    }
}

/// A shared row of a group model.
#[derive(Debug, Clone)]
struct SharedRow {
    name: String,
    week: usize,
    limit: f64,
    row: usize,
    slack: usize,
}

impl SharedRow {
    /// What the plan `x` uses of the limit (the row without its slack).
    fn used(&self, lp: &Lp, x: &[f64]) -> f64 {
        lp.rows[self.row]
            .coefs
            .iter()
            .filter(|(i, _)| *i != self.slack)
            .map(|(i, a)| a * x[*i])
            .sum()
    }
}

struct GroupModel {
    lp: Lp,
    cols: Vec<SkuCols>,
    shared: Vec<SharedRow>,
}

impl GroupModel {
    /// Set each shared row's slack in `x`: what the plan uses beyond the limit.
    fn set_slacks(&self, x: &mut [f64]) {
        for sr in &self.shared {
            x[sr.slack] = (sr.used(&self.lp, x) - sr.limit).max(0.0);
        }
    }
}

fn build_group(items: &[&Prepared], cfg: &PlanConfig, violation_cost: f64) -> GroupModel {
    let t_len = cfg.horizon.weeks;
    let integer = cfg.solver.integer;
    let on_off = cfg.defaults.order_cost > 0.0;
    let mut lp = Lp::default();
    let mut cols = Vec::with_capacity(items.len());
    for p in items {
        let mut c = SkuCols::default();
        for t in 0..t_len {
            c.inv.push(lp.col(0.0, f64::INFINITY, p.holding, false));
            c.unmet.push(lp.col(0.0, p.d[t], p.lost_margin(), false));
            c.below.push(
                (t >= p.lead && p.floor > 0.0).then(|| lp.col(0.0, p.floor, p.safety_cost, false)),
            );
            c.over.push(
                p.max_stock
                    .map(|_| lp.col(0.0, f64::INFINITY, violation_cost, false)),
            );
        }
        let big_m = p.order_cap();
        for _s in 0..t_len.saturating_sub(p.lead) {
            let n = lp.col(0.0, big_m / p.pack, 0.0, integer);
            c.cases.push(n);
            let u =
                (p.moq > 0.0 || on_off).then(|| lp.col(0.0, 1.0, cfg.defaults.order_cost, integer));
            if let Some(u) = u {
                if p.moq > 0.0 {
                    lp.row(vec![(n, p.pack), (u, -p.moq)], Sense::Ge, 0.0);
                }
                lp.row(vec![(n, p.pack), (u, -big_m)], Sense::Le, 0.0);
            }
            c.used.push(u);
        }
        for t in 0..t_len {
            // inv[t] - inv[t-1] - pack*cases[t-L] - unmet[t] = arrivals[t] - d[t] (+ on hand at t = 0)
            let mut coefs = vec![(c.inv[t], 1.0), (c.unmet[t], -1.0)];
            if t > 0 {
                coefs.push((c.inv[t - 1], -1.0));
            }
            if t >= p.lead {
                coefs.push((c.cases[t - p.lead], -p.pack));
            }
            let rhs = p.arrivals[t] - p.d[t] + if t == 0 { p.on_hand } else { 0.0 };
            lp.row(coefs, Sense::Eq, rhs);
            if let Some(b) = c.below[t] {
                lp.row(vec![(c.inv[t], 1.0), (b, 1.0)], Sense::Ge, p.floor);
            }
            if let (Some(o), Some(max)) = (c.over[t], p.max_stock) {
                lp.row(vec![(c.inv[t], 1.0), (o, -1.0)], Sense::Le, max);
            }
        }
        cols.push(c);
    }

    let mut shared = Vec::new();
    let mut add_shared =
        |lp: &mut Lp, name: String, week: usize, limit: f64, mut coefs: Vec<(usize, f64)>| {
            if coefs.is_empty() {
                return;
            }
            let slack = lp.col(0.0, f64::INFINITY, violation_cost, false);
            coefs.push((slack, -1.0));
            let row = lp.row(coefs, Sense::Le, limit);
            shared.push(SharedRow {
                name,
                week,
                limit,
                row,
                slack,
            });
        };
    let order_terms =
        |s: usize, filter: &dyn Fn(&Prepared) -> bool, per_unit: &dyn Fn(&Prepared) -> f64| {
            items
                .iter()
                .zip(&cols)
                .filter(|(p, _)| filter(p) && s < t_len.saturating_sub(p.lead))
                .map(|(p, c)| (c.cases[s], per_unit(p) * p.pack))
                .collect::<Vec<_>>()
        };
    for s in 0..t_len {
        if let Some(b) = cfg.budget.weekly {
            add_shared(
                &mut lp,
                "budget".into(),
                s,
                b,
                order_terms(s, &|_| true, &|p| p.cost),
            );
        }
        for (sup, b) in &cfg.budget.per_supplier {
            let terms = order_terms(s, &|p| &p.supplier == sup, &|p| p.cost);
            add_shared(&mut lp, format!("budget:{sup}"), s, *b, terms);
        }
        for (sup, cap) in &cfg.capacity.supplier_units {
            let terms = order_terms(s, &|p| &p.supplier == sup, &|_| 1.0);
            add_shared(&mut lp, format!("supplier_units:{sup}"), s, *cap, terms);
        }
        if let Some(cap) = cfg.capacity.warehouse_volume {
            let terms: Vec<(usize, f64)> = items
                .iter()
                .zip(&cols)
                .filter(|(p, _)| p.volume > 0.0)
                .map(|(p, c)| (c.inv[s], p.volume))
                .collect();
            add_shared(&mut lp, "warehouse_volume".into(), s, cap, terms);
        }
    }
    GroupModel { lp, cols, shared }
}

/// End-of-week stock under lost sales for orders (units by order week): demand is served while
/// there is stock. Returns (stock, lost demand) per week.
fn simulate(p: &Prepared, orders: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut inv, mut unmet) = (Vec::with_capacity(p.d.len()), Vec::with_capacity(p.d.len()));
    let mut prev = p.on_hand;
    for t in 0..p.d.len() {
        let arriving = p.arrivals[t] + if t >= p.lead { orders[t - p.lead] } else { 0.0 };
        unmet.push((p.d[t] - prev - arriving).max(0.0));
        prev = (prev + arriving - p.d[t]).max(0.0);
        inv.push(prev);
    }
    (inv, unmet)
}

/// Every column of a plan whose integer columns are set in `x`: stock and lost demand by
/// simulation, shortfalls below the floor, excess over max stock, and the slack of each shared row.
/// Whole-case plans are always completed this way: stock serves demand while it lasts. (The LP's
/// columns alone would also let a plan hold stock back while demand goes unmet, to keep safety
/// stock when a limit binds; no store refuses a customer for that, so the MILP is solved over
/// the plans that serve demand, see `lagrange`.)
fn complete(model: &GroupModel, items: &[&Prepared], mut x: Vec<f64>) -> Vec<f64> {
    for (p, c) in items.iter().zip(&model.cols) {
        let units: Vec<f64> = c.cases.iter().map(|&n| x[n] * p.pack).collect();
        let (inv, unmet) = simulate(p, &units);
        c.set_stock(p, &mut x, &inv, &unmet);
    }
    model.set_slacks(&mut x);
    x
}

/// The controllable cost of one SKU for whole-case orders (cases by order week): holding, lost
/// margin, shortfall below the floor and fixed order costs, stock simulated under lost sales.
fn sku_cost(p: &Prepared, cases: &[f64], order_cost: f64) -> f64 {
    let units: Vec<f64> = cases.iter().map(|k| k * p.pack).collect();
    let (inv, unmet) = simulate(p, &units);
    stock_cost(p, cases, &inv, &unmet, order_cost)
}

/// [`sku_cost`] of a plan whose stock and lost demand are already simulated.
fn stock_cost(p: &Prepared, cases: &[f64], inv: &[f64], unmet: &[f64], order_cost: f64) -> f64 {
    let fixed = order_cost * cases.iter().filter(|k| **k > 0.0).count() as f64;
    fixed
        + (0..p.d.len())
            .map(|t| p.week_cost(t, inv[t], unmet[t], 0.0))
            .sum::<f64>()
}

/// Improve a whole-case plan `x` (every column set, see `complete`). First, while a shared limit
/// is exceeded, take cases off where that costs least per unit of relief. Then fill: moves of one
/// case up or down (an MOQ's worth from or to zero) or to one of the SKU's `alternatives` (its
/// plans at other prices), ranked by the SKU's own saving per unit of the limits they take up at
/// `prices`, best first, each kept only if every shared row it adds to stays within its limit
/// (stock simulated under lost sales), until no move helps. Returns the plan's case and switch
/// columns and stock; the rest follow from `complete`.
fn improve_within_limits(
    model: &GroupModel,
    items: &[&Prepared],
    x: &[f64],
    prices: &[f64],
    order_cost: f64,
    alternatives: &[Vec<Vec<f64>>],
) -> Vec<f64> {
    let lp = &model.lp;
    let mut out = x.to_vec();
    // The shared rows each column is in, (row, coefficient), by column: compressed rows.
    let mut start = vec![0usize; lp.cols.len() + 1];
    for sr in &model.shared {
        for (i, _) in lp.rows[sr.row].coefs.iter().filter(|(i, _)| *i != sr.slack) {
            start[*i + 1] += 1;
        }
    }
    for i in 0..lp.cols.len() {
        start[i + 1] += start[i];
    }
    let mut entries = vec![(0usize, 0.0); start[lp.cols.len()]];
    let mut fill = start.clone();
    for (k, sr) in model.shared.iter().enumerate() {
        for (i, a) in lp.rows[sr.row].coefs.iter().filter(|(i, _)| *i != sr.slack) {
            entries[fill[*i]] = (k, *a);
            fill[*i] += 1;
        }
    }
    let rows_of = |i: usize| &entries[start[i]..start[i + 1]];
    let min_cases = |p: &Prepared| (p.moq / p.pack).ceil().max(1.0);
    // Column values of one SKU for a case plan: (column, value) pairs of cases, switches and stock.
    let columns_of = |p: &Prepared, c: &SkuCols, cases: &[f64]| -> Vec<(usize, f64)> {
        let units: Vec<f64> = cases.iter().map(|k| k * p.pack).collect();
        let mut v: Vec<(usize, f64)> = Vec::with_capacity(3 * cases.len() + p.d.len());
        for (s, &n) in c.cases.iter().enumerate() {
            v.push((n, cases[s]));
            if let Some(u) = c.used[s] {
                v.push((u, if cases[s] > 0.0 { 1.0 } else { 0.0 }));
            }
        }
        v.extend(
            simulate(p, &units)
                .0
                .into_iter()
                .enumerate()
                .map(|(t, inv)| (c.inv[t], inv)),
        );
        v
    };
    let mut orders: Vec<Vec<f64>> = model
        .cols
        .iter()
        .map(|c| c.cases.iter().map(|&n| x[n].round()).collect())
        .collect();
    let mut usage: Vec<f64> = model.shared.iter().map(|sr| sr.used(lp, &out)).collect();
    // Apply a replacement plan for SKU j if every row it adds to stays within its limit.
    let try_plan = |j: usize,
                    cases: Vec<f64>,
                    out: &mut Vec<f64>,
                    usage: &mut Vec<f64>,
                    orders: &mut Vec<Vec<f64>>| {
        let (p, c) = (items[j], &model.cols[j]);
        let cols = columns_of(p, c, &cases);
        let mut trial = usage.clone();
        let mut fits = true;
        for (i, v) in &cols {
            let dv = v - out[*i];
            for (k, a) in rows_of(*i) {
                trial[*k] += a * dv;
            }
        }
        for (k, sr) in model.shared.iter().enumerate() {
            if trial[k] > usage[k] + 1e-9 && trial[k] > sr.limit + 1e-9 {
                fits = false;
            }
        }
        if fits {
            *usage = trial;
            for (i, v) in cols {
                out[i] = v;
            }
            orders[j] = cases;
        }
        fits
    };
    // A move's worth: the SKU's own saving per unit of the limits it takes up, valued at
    // `prices` (the multipliers: the classic greedy for several shared knapsack rows); moves that
    // take up nothing priced come first.
    let worth = |j: usize, cases: &[f64], out: &[f64], cost_now: f64| -> f64 {
        let (p, c) = (items[j], &model.cols[j]);
        let saving = cost_now - sku_cost(p, cases, order_cost);
        if saving <= 1e-9 {
            return 0.0;
        }
        let mut taken = 0.0;
        for (i, v) in columns_of(p, c, cases) {
            let dv = v - out[i];
            if dv != 0.0 {
                taken += rows_of(i)
                    .iter()
                    .map(|(k, a)| prices[*k] * (a * dv).max(0.0))
                    .sum::<f64>();
            }
        }
        saving / taken.max(1e-9 * saving)
    };
    let mut cost: Vec<f64> = items
        .iter()
        .zip(&orders)
        .map(|(p, o)| sku_cost(p, o, order_cost))
        .collect();
    // Repair first: while a limit is exceeded, take one case off the orders that relieve the
    // exceeded rows at the least extra cost per unit of relief (relative to each limit).
    let excess = |usage: &[f64]| -> Vec<f64> {
        model
            .shared
            .iter()
            .zip(usage)
            .map(|(sr, u)| (u - sr.limit).max(0.0) / sr.limit.abs().max(1.0))
            .collect()
    };
    // One case off per move, the moves of every SKU once; after each round only the SKUs that
    // changed are priced again.
    let repairs_of = |j: usize, orders: &[Vec<f64>], out: &[f64], over: &[f64], cost_now: f64| {
        let (p, c) = (items[j], &model.cols[j]);
        let mut moves: Vec<(f64, usize, Vec<f64>)> = Vec::new();
        for s in 0..orders[j].len() {
            if orders[j][s] == 0.0 {
                continue;
            }
            let mut down = orders[j].clone();
            down[s] -= 1.0;
            if down[s] > 0.0 && down[s] * p.pack < p.moq {
                down[s] = 0.0;
            }
            let mut relief = 0.0;
            for (i, v) in columns_of(p, c, &down) {
                let dv = v - out[i];
                for (k, a) in rows_of(i) {
                    if over[*k] > 0.0 {
                        relief += (-a * dv).max(0.0) / model.shared[*k].limit.abs().max(1.0);
                    }
                }
            }
            if relief > 0.0 {
                let extra = sku_cost(p, &down, order_cost) - cost_now;
                moves.push((extra / relief, j, down));
            }
        }
        moves
    };
    // Moves wait in a heap, cheapest relief first; a SKU's moves are priced again when it
    // changes (older ones are skipped by its version).
    let mut version = vec![0u32; items.len()];
    let over = excess(&usage);
    if over.iter().any(|v| *v > 1e-12) {
        let mut heap: BinaryHeap<Move> = (0..items.len())
            .flat_map(|j| repairs_of(j, &orders, &out, &over, cost[j]))
            .map(|(ratio, j, plan)| Move::new(-ratio, j, 0, plan))
            .collect();
        while let Some(m) = heap.pop() {
            if excess(&usage).iter().all(|v| *v <= 1e-12) {
                break;
            }
            if m.version != version[m.sku] {
                continue;
            }
            let j = m.sku;
            let new_cost = sku_cost(items[j], &m.plan, order_cost);
            // Taking cases off never adds to a row, so it always applies.
            if try_plan(j, m.plan, &mut out, &mut usage, &mut orders) {
                cost[j] = new_cost;
                version[j] += 1;
                let over = excess(&usage);
                heap.extend(
                    repairs_of(j, &orders, &out, &over, cost[j])
                        .into_iter()
                        .map(|(ratio, j, plan)| Move::new(-ratio, j, version[j], plan)),
                );
            }
        }
    }
    // Fill: the moves of every SKU once; after each round only the SKUs that changed are
    // priced again (the others' moves keep their gains, and may fit later).
    let moves_of = |j: usize, orders: &[Vec<f64>], out: &[f64], cost_now: f64| {
        let p = items[j];
        let mut moves: Vec<(f64, usize, Vec<f64>)> = Vec::new();
        for s in 0..orders[j].len() {
            let mut up = orders[j].clone();
            up[s] += if up[s] == 0.0 { min_cases(p) } else { 1.0 };
            let mut options = vec![up];
            if orders[j][s] > 0.0 {
                let mut down = orders[j].clone();
                down[s] -= 1.0;
                if down[s] > 0.0 && down[s] * p.pack < p.moq {
                    down[s] = 0.0;
                }
                options.push(down);
            }
            if s == 0 {
                options.extend(
                    alternatives
                        .iter()
                        .map(|a| a[j].clone())
                        .filter(|a| *a != orders[j]),
                );
            }
            for plan in options {
                let gain = worth(j, &plan, out, cost_now);
                if gain > 1e-9 {
                    moves.push((gain, j, plan));
                }
            }
        }
        moves
    };
    let mut heap: BinaryHeap<Move> = (0..items.len())
        .flat_map(|j| moves_of(j, &orders, &out, cost[j]))
        .map(|(worth, j, plan)| Move::new(worth, j, version[j], plan))
        .collect();
    while let Some(m) = heap.pop() {
        if m.version != version[m.sku] {
            continue; // priced against the SKU's previous plan
        }
        let j = m.sku;
        let new_cost = sku_cost(items[j], &m.plan, order_cost);
        if try_plan(j, m.plan, &mut out, &mut usage, &mut orders) {
            cost[j] = new_cost;
            version[j] += 1;
            heap.extend(
                moves_of(j, &orders, &out, cost[j])
                    .into_iter()
                    .map(|(worth, j, plan)| Move::new(worth, j, version[j], plan)),
            );
        }
    }
    out
}

/// A candidate change to one SKU's plan, ordered by its key (largest first out of a heap).
struct Move {
    key: f64,
    sku: usize,
    /// The SKU's plan version it was priced against.
    version: u32,
    plan: Vec<f64>,
}

impl Move {
    fn new(key: f64, sku: usize, version: u32, plan: Vec<f64>) -> Self {
        Move {
            key,
            sku,
            version,
            plan,
        }
    }
}

impl PartialEq for Move {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Move {}

impl PartialOrd for Move {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Move {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Ties broken by SKU and plan, so the order (and the plan) is deterministic.
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.sku.cmp(&self.sku))
            .then_with(|| {
                other
                    .plan
                    .iter()
                    .zip(&self.plan)
                    .map(|(a, b)| a.total_cmp(b))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    }
}

/// Groups of SKUs that share a constraint; the rest are solved one by one.
fn groups(prepared: &[Prepared], cfg: &PlanConfig) -> Vec<Vec<usize>> {
    if cfg.budget.weekly.is_some() || cfg.capacity.warehouse_volume.is_some() {
        return vec![(0..prepared.len()).collect()];
    }
    let mut by_supplier: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    let mut out = Vec::new();
    for (i, p) in prepared.iter().enumerate() {
        let coupled = cfg.budget.per_supplier.contains_key(&p.supplier)
            || cfg.capacity.supplier_units.contains_key(&p.supplier);
        if coupled {
            by_supplier.entry(p.supplier.as_str()).or_default().push(i);
        } else {
            out.push(vec![i]);
        }
    }
    out.extend(by_supplier.into_values());
    out
}

/// LP solves (master problems, branch and bound's relaxations aside) run to completion: they are
/// polynomial, and a plan stopped early is not one. The configured time limit is for the
/// Lagrangian price search and the start of column-generation rounds.
const LP_TIME: f64 = 1e7;

struct GroupResult {
    members: Vec<usize>,
    model: GroupModel,
    sol: LpSolution,
    bound: Option<f64>,
    duals: Option<Vec<f64>>,
    /// How its plan was found (see [`PlanSummary::method`]).
    method: &'static str,
}

fn solve_group(
    members: Vec<usize>,
    prepared: &[Prepared],
    cfg: &PlanConfig,
    violation_cost: f64,
) -> Result<GroupResult> {
    let items: Vec<&Prepared> = members.iter().map(|&i| &prepared[i]).collect();
    let model = build_group(&items, cfg, violation_cost);
    let sv = &cfg.solver;
    let order_cost = cfg.defaults.order_cost;
    if !model.lp.has_integers() {
        // The LP relaxation: each SKU's LP exactly by dynamic programming, shared rows by
        // Lagrangian prices and column generation (see `master`).
        let r = master::solve(
            &model,
            &items,
            sv.backend,
            order_cost,
            violation_cost,
            sv.mip_gap,
            sv.time_limit_seconds,
        )?;
        let objective = model.lp.objective_of(&r.x);
        let bound = r.bound.min(objective);
        let gap = (objective - bound) / objective.abs().max(1e-9);
        let status = if r.optimal || gap <= 1e-9 {
            "optimal"
        } else if gap <= sv.mip_gap + 1e-9 {
            "gap_limit"
        } else if r.timed_out {
            "time_limit"
        } else {
            "gap_open"
        };
        if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
            eprintln!(
                "LP by column generation: {} SKUs, {} shared rows, {} price steps, {} masters, \
                 bound {bound:.2}, plan {objective:.2}",
                items.len(),
                model.shared.len(),
                r.iterations,
                r.rounds
            );
        }
        let duals = shared_duals(&model, &r.prices);
        return Ok(GroupResult {
            method: if model.shared.is_empty() {
                "dynamic_program"
            } else {
                "column_generation"
            },
            members,
            bound: Some(bound),
            model,
            sol: LpSolution {
                x: r.x,
                objective,
                duals: None,
                status,
            },
            duals,
        });
    }
    // Whole cases: Lagrangian relaxation of the shared rows, one exact dynamic program per SKU
    // (see `lagrange`); without shared rows that is each SKU's optimum.
    let clock = std::time::Instant::now();
    let relaxation = lagrange::solve(
        &model,
        &items,
        order_cost,
        violation_cost,
        sv.mip_gap,
        sv.time_limit_seconds,
    );
    let bound = relaxation.bound;
    let gap = |obj: f64| (obj - bound) / obj.abs().max(1e-9);
    let plan_of = |x: Vec<f64>| LpSolution {
        objective: model.lp.objective_of(&x),
        x,
        duals: None,
        status: "optimal",
    };
    // Each starting plan: repaired to the limits, then what they leave goes to the moves that
    // save the most per unit of priced limit (`improve_within_limits`); the cheapest wins.
    let mut sol: Option<LpSolution> = None;
    if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
        eprintln!("prices settled at {:.1} s", clock.elapsed().as_secs_f64());
    }
    for plan in &relaxation.plans {
        let mut x = vec![0.0; model.lp.cols.len()];
        for (c, cases) in model.cols.iter().zip(plan) {
            for (s, &n) in c.cases.iter().enumerate() {
                x[n] = cases[s];
                if let Some(u) = c.used[s] {
                    x[u] = if cases[s] > 0.0 { 1.0 } else { 0.0 };
                }
            }
        }
        let mut candidate = plan_of(complete(&model, &items, x));
        if !model.shared.is_empty() {
            let x = improve_within_limits(
                &model,
                &items,
                &candidate.x,
                &relaxation.prices,
                order_cost,
                &relaxation.family,
            );
            candidate = plan_of(complete(&model, &items, x));
        }
        if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
            eprintln!(
                "candidate plan {:.2} at {:.1} s",
                candidate.objective,
                clock.elapsed().as_secs_f64()
            );
        }
        if sol
            .as_ref()
            .is_none_or(|s| candidate.objective < s.objective)
        {
            sol = Some(candidate);
        }
    }
    let Some(mut sol) = sol else {
        return Err(Error::Solver {
            solver: "lagrangian".into(),
            message: "no plan".into(),
        });
    };
    let mut bound = bound;
    let mut method = if model.shared.is_empty() {
        "dynamic_program"
    } else {
        "lagrangian"
    };
    if gap(sol.objective) > sv.mip_gap
        && !model.shared.is_empty()
        && model.lp.cols.len() <= BRANCH_AND_BOUND_COLUMNS
    {
        // A few hundred SKUs can leave a real duality gap (whole cases of few SKUs compete for a
        // limit): branch and bound on the MILP. Its plan is completed by simulation like any
        // other (its LP columns could hold stock back while demand goes unmet) and kept if
        // cheaper; proven within its gap, it also lifts the bound.
        if let Ok(s) = model
            .lp
            .solve(sv.backend, sv.time_limit_seconds, sv.mip_gap, false)
        {
            if s.status == "optimal" {
                bound = bound.max(s.objective * (1.0 - sv.mip_gap));
            }
            let candidate = plan_of(complete(&model, &items, s.x));
            if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
                eprintln!(
                    "branch and bound: {} {:.2}, completed {:.2}",
                    s.status, s.objective, candidate.objective
                );
            }
            if candidate.objective < sol.objective {
                sol = candidate;
                method = "lagrangian+branch_and_bound";
            }
        }
    }
    let gap = |obj: f64| (obj - bound) / obj.abs().max(1e-9);
    sol.status = if gap(sol.objective) <= sv.mip_gap + 1e-9 {
        if model.shared.is_empty() {
            "optimal"
        } else {
            "gap_limit"
        }
    } else if relaxation.timed_out {
        "time_limit"
    } else {
        "gap_open"
    };
    let duals = shared_duals(&model, &relaxation.prices);
    if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
        eprintln!(
            "lagrangian: {} SKUs, {} shared rows, {} iterations, bound {bound:.2}, plan {:.2}",
            items.len(),
            model.shared.len(),
            relaxation.iterations,
            sol.objective
        );
    }
    Ok(GroupResult {
        members,
        model,
        sol,
        bound: Some(bound),
        duals,
        method,
    })
}

/// The model's row duals for the shared rows' prices (none without shared rows).
fn shared_duals(model: &GroupModel, prices: &[f64]) -> Option<Vec<f64>> {
    (!model.shared.is_empty()).then(|| {
        let mut d = vec![0.0; model.lp.rows.len()];
        for (sr, price) in model.shared.iter().zip(prices) {
            d[sr.row] = -price;
        }
        d
    })
}

/// Joint models up to this many columns (a few hundred SKUs) get branch and bound after the
/// Lagrangian plan when its gap is above the target.
const BRANCH_AND_BOUND_COLUMNS: usize = 20_000;

/// Plan orders for every SKU of `inputs`.
pub fn plan(
    inputs: &PlanInputs,
    cfg: &PlanConfig,
    on_progress: &(dyn Fn(usize) + Sync),
) -> Result<Plan> {
    let started = std::time::Instant::now();
    for s in &inputs.skus {
        s.params.check(&s.unique_id)?;
    }
    let allocation = cfg.service.fill_rate.map(|target| {
        allocate_fill_rate(
            &inputs.skus,
            inputs.levels.levels(),
            inputs.protection.as_ref(),
            cfg,
            target,
        )
    });
    let prepared: Vec<Prepared> = inputs
        .skus
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let alpha = allocation.as_ref().map(|a| a.levels[i]);
            prepare(s, &inputs.levels, inputs.protection.as_ref(), alpha, cfg)
        })
        .collect::<Result<_>>()?;
    let max_shortage = prepared
        .iter()
        .map(|p| p.shortage.max(p.cost))
        .fold(1.0, f64::max);
    let violation_cost = 1000.0 * max_shortage;
    let groups = groups(&prepared, cfg);
    let n_models = groups.len();
    let results: Vec<GroupResult> = groups
        .into_par_iter()
        .map(|g| {
            let n = g.len();
            let r = solve_group(g, &prepared, cfg, violation_cost);
            on_progress(n);
            r
        })
        .collect::<Result<_>>()?;
    let mut plan = assemble(
        inputs,
        cfg,
        &prepared,
        results,
        n_models,
        started.elapsed().as_secs_f64(),
    );
    if let Some(a) = allocation {
        plan.summary.service_method = "fill_rate".into();
        plan.summary.expected_fill_rate = Some(a.expected_fill_rate);
    }
    Ok(plan)
}

/// How far a plan status is from proven optimal: `optimal` 0, `gap_limit` 1 (within the target
/// gap), `gap_open` 2 (stopped above it), `time_limit` (or anything else) 3.
pub fn status_rank(status: &str) -> u8 {
    match status {
        "optimal" => 0,
        "gap_limit" => 1,
        "gap_open" => 2,
        _ => 3,
    }
}

fn worst_status(a: &'static str, b: &'static str) -> &'static str {
    if status_rank(b) > status_rank(a) {
        b
    } else {
        a
    }
}

fn assemble(
    inputs: &PlanInputs,
    cfg: &PlanConfig,
    prepared: &[Prepared],
    results: Vec<GroupResult>,
    n_models: usize,
    seconds: f64,
) -> Plan {
    let t_len = cfg.horizon.weeks;
    let week = |t: usize| inputs.start.offset(t as i64);
    let eps = 1e-6;
    let mut costs = CostBreakdown::default();
    let mut orders = Vec::new();
    let mut sku_plans: Vec<(usize, SkuPlan)> = Vec::new();
    let mut constraints = Vec::new();
    let mut spend = vec![0.0; t_len];
    let mut volume = vec![0.0; t_len];
    let mut shorts = Vec::new();
    let (mut objective, mut bound_sum, mut status) = (0.0, Some(0.0), "optimal");
    let rank = |m: &str| {
        ["dynamic_program", "column_generation", "lagrangian"]
            .iter()
            .position(|x| *x == m)
    };
    let mut method = "dynamic_program";
    for r in &results {
        let x = &r.sol.x;
        objective += r.sol.objective;
        bound_sum = match (bound_sum, r.bound) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        status = worst_status(status, r.sol.status);
        if rank(r.method).unwrap_or(usize::MAX) > rank(method).unwrap_or(usize::MAX) {
            method = r.method;
        }
        // Which weeks have a binding or violated shared row in this group.
        let mut tight_weeks = vec![false; t_len];
        for sr in &r.model.shared {
            let row = &r.model.lp.rows[sr.row];
            let used = sr.used(&r.model.lp, x);
            let violated_by = x[sr.slack].max(0.0);
            // With whole cases a limit binds once not even the smallest case fits in what is left.
            let step = row
                .coefs
                .iter()
                .filter(|(i, a)| *i != sr.slack && r.model.lp.cols[*i].integer && *a > 0.0)
                .map(|(_, a)| *a)
                .fold(f64::INFINITY, f64::min);
            let tolerance =
                if step.is_finite() { step } else { 0.0 }.max(eps * sr.limit.abs().max(1.0));
            let shadow = r.duals.as_ref().map(|d| -d[sr.row]);
            // ... or once the relaxation prices it and the plan leaves next to nothing of it.
            let priced = shadow.is_some_and(|p| p > 1e-9) && used >= 0.999 * sr.limit;
            let binding = sr.limit - used < tolerance || priced;
            costs.constraint_violation += violated_by * r.model.lp.cols[sr.slack].cost;
            if binding || violated_by > eps {
                tight_weeks[sr.week] = true;
                constraints.push(ConstraintReport {
                    name: sr.name.clone(),
                    week: week(sr.week).to_string(),
                    limit: sr.limit,
                    used,
                    binding,
                    violated_by,
                    shadow_price: shadow,
                });
            }
        }
        for (k, &i) in r.members.iter().enumerate() {
            let p = &prepared[i];
            let c = &r.model.cols[k];
            let sku = &inputs.skus[i];
            let inv: Vec<f64> = c.inv.iter().map(|&j| x[j].max(0.0)).collect();
            let unmet: Vec<f64> = c.unmet.iter().map(|&j| x[j].max(0.0)).collect();
            let below: Vec<f64> = c
                .below
                .iter()
                .map(|b| b.map(|j| x[j].max(0.0)).unwrap_or(0.0))
                .collect();
            for t in 0..t_len {
                costs.holding += p.holding * inv[t];
                costs.shortage += p.shortage * unmet[t];
                costs.safety_shortfall += p.safety_cost * below[t];
                volume[t] += p.volume * inv[t];
                if let Some(o) = c.over[t] {
                    costs.constraint_violation += x[o].max(0.0) * r.model.lp.cols[o].cost;
                }
            }
            costs.salvage_credit += p.cost * inv[t_len - 1];
            for (s, &n) in c.cases.iter().enumerate() {
                let cases = if cfg.solver.integer {
                    x[n].round()
                } else {
                    x[n].max(0.0)
                };
                let qty = cases * p.pack;
                if qty <= eps {
                    continue;
                }
                if let Some(u) = c.used[s] {
                    // What the objective charges: order cost × switch (whole in the MILP).
                    let on = if cfg.solver.integer {
                        x[u].round()
                    } else {
                        x[u].max(0.0)
                    };
                    costs.fixed_order += cfg.defaults.order_cost * on;
                }
                costs.purchase += qty * p.cost;
                spend[s] += qty * p.cost;
                let a = s + p.lead;
                let without = inv[a] - qty; // stock at the end of the arrival week without this order
                let need = (p.floor - without).max(0.0) + unmet[a];
                // Short (or below the floor) in the week this order arrives, while a limit binds
                // in the week it is placed: the order was held back by that limit.
                let short_after = unmet[a] > eps || below[a] > eps;
                let reason = if short_after && tight_weeks[s] {
                    OrderReason::CappedByConstraint
                } else if p.moq > 0.0 && (qty - p.moq).abs() < eps && qty - need >= 1.0 {
                    OrderReason::MoqRounding
                } else if p.pack > 1.0 && qty - need >= 1.0 && qty - need < p.pack {
                    OrderReason::CasePackRounding
                } else if without < -eps {
                    OrderReason::ForecastDemand
                } else if without < p.safety_stock - eps {
                    OrderReason::BelowSafetyStock
                } else if without < p.floor - eps {
                    OrderReason::MinStock
                } else {
                    OrderReason::ForecastDemand
                };
                orders.push(OrderLine {
                    unique_id: sku.unique_id.clone(),
                    order_week: week(s),
                    arrival_week: week(a),
                    quantity: qty,
                    cases,
                    cost: qty * p.cost,
                    reason,
                });
            }
            let total_short: f64 = unmet.iter().sum();
            if total_short > eps {
                shorts.push(SkuShort {
                    unique_id: sku.unique_id.clone(),
                    units_short: total_short,
                    units_short_within_lead_time: unmet[..p.lead.min(t_len)].iter().sum(),
                });
            }
            sku_plans.push((
                i,
                SkuPlan {
                    unique_id: sku.unique_id.clone(),
                    safety_stock: p.safety_stock,
                    demand: p.d.clone(),
                    inventory: inv,
                    unmet,
                    below_floor: below,
                },
            ));
        }
    }
    costs.total = costs.purchase
        + costs.fixed_order
        + costs.holding
        + costs.shortage
        + costs.safety_shortfall
        + costs.constraint_violation
        - costs.salvage_credit;
    orders.sort_by(|a, b| {
        a.unique_id
            .cmp(&b.unique_id)
            .then(a.order_week.cmp(&b.order_week))
    });
    sku_plans.sort_by_key(|(i, _)| *i);
    shorts.sort_by(|a, b| b.units_short.total_cmp(&a.units_short));
    constraints.sort_by(|a, b| a.name.cmp(&b.name).then(a.week.cmp(&b.week)));
    let weeks = (0..t_len)
        .map(|t| WeekUsage {
            week: week(t).to_string(),
            spend: spend[t],
            budget: cfg.budget.weekly,
            volume: volume[t],
            warehouse_volume: cfg.capacity.warehouse_volume,
        })
        .collect();
    let integer = cfg.solver.integer;
    let gap_bound = bound_sum.map(|b| ((objective - b) / objective.abs().max(1e-9)).max(0.0));
    let summary = PlanSummary {
        solver: cfg.solver.backend.as_str().into(),
        method: method.into(),
        status: status.into(),
        integer,
        models: n_models,
        objective,
        lp_bound: bound_sum,
        gap_bound,
        seconds,
        service_method: if cfg.service.critical_ratio {
            "critical_ratio"
        } else {
            "service_level"
        }
        .into(),
        protection: match &inputs.protection {
            Some(c) => format!("calibrated ({} cases)", c.cases()),
            None => "normal rule".into(),
        },
        expected_fill_rate: None,
        costs,
        weeks,
        constraints,
        skus_short: shorts,
        skus: inputs.skus.len(),
        order_lines: orders.len(),
        units_ordered: orders.iter().map(|o| o.quantity).sum(),
    };
    Plan {
        orders,
        skus: sku_plans.into_iter().map(|(_, p)| p).collect(),
        summary,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_demand_from_quantiles() {
        let levels = [0.1, 0.5, 0.9];
        // Symmetric: the median.
        assert!((expected_demand(&[8.0, 10.0, 12.0], &levels) - 10.0).abs() < 1e-12);
        // Right-skewed: Swanson's rule, above the median.
        let m = expected_demand(&[0.0, 1.0, 9.0], &levels);
        assert!((m - (0.3 * 0.0 + 0.4 * 1.0 + 0.3 * 9.0)).abs() < 1e-12);
        assert_eq!(expected_demand(&[5.0], &[0.5]), 5.0);
    }

    #[test]
    fn normal_quantiles() {
        assert!(normal_quantile(0.5).abs() < 1e-9);
        assert!((normal_quantile(0.9) - 1.2815515655).abs() < 1e-6);
        assert!((normal_quantile(0.95) - 1.6448536270).abs() < 1e-6);
        assert!((normal_quantile(0.01) + 2.3263478740).abs() < 1e-6);
    }
}
