//! The MILP of a group of SKUs that share limits: their columns, the shared rows, and the
//! completion of a whole-case plan by simulation.

use crate::config::PlanConfig;
use crate::lp::{Lp, LpSolution, Sense};

use super::sku::{Prepared, simulate};

/// Column indices of one SKU in a group model.
#[derive(Debug, Clone, Default)]
pub(super) struct SkuCols {
    pub(super) inv: Vec<usize>,
    pub(super) unmet: Vec<usize>,
    pub(super) below: Vec<Option<usize>>,
    pub(super) over: Vec<Option<usize>>,
    pub(super) cases: Vec<usize>,
    pub(super) used: Vec<Option<usize>>,
}

impl SkuCols {
    /// Set SKU `p`'s columns in `x` for end-of-week stock `inv` and lost demand `unmet`: the
    /// shortfall below the floor and the excess over max stock at their least.
    pub(super) fn set_stock(&self, p: &Prepared, x: &mut [f64], inv: &[f64], unmet: &[f64]) {
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
pub(super) struct SharedRow {
    pub(super) name: String,
    pub(super) week: usize,
    /// The limit the plan keeps: the config's, less `reserve`.
    pub(super) limit: f64,
    /// What is kept back from the config's limit for demand below forecast (the warehouse's
    /// reserve, `capacity.warehouse_confidence`); 0 for the other limits.
    pub(super) reserve: f64,
    /// The least of the limit one more whole case uses (∞ without whole cases): the limit
    /// binds once less than that is left.
    pub(super) step: f64,
    /// What the row takes whatever the plan orders: for the warehouse, the volume of the stock
    /// on hand and on order left after expected demand (lost sales); 0 for orders' rows.
    pub(super) floor: f64,
    pub(super) row: usize,
    pub(super) slack: usize,
}

impl SharedRow {
    /// What the plan `x` uses of the limit (the row without its slack).
    pub(super) fn used(&self, lp: &Lp, x: &[f64]) -> f64 {
        lp.rows[self.row]
            .coefs
            .iter()
            .filter(|(i, _)| *i != self.slack)
            .map(|(i, a)| a * x[*i])
            .sum()
    }
}

pub(super) struct GroupModel {
    pub(super) lp: Lp,
    pub(super) cols: Vec<SkuCols>,
    pub(super) shared: Vec<SharedRow>,
}

impl GroupModel {
    /// Set each shared row's slack in `x`: what the plan uses beyond the limit.
    pub(super) fn set_slacks(&self, x: &mut [f64]) {
        for sr in &self.shared {
            x[sr.slack] = (sr.used(&self.lp, x) - sr.limit).max(0.0);
        }
    }
}

/// The MILP of `items`: each SKU's columns and inventory rows, then the rows its limits share.
/// A shared row's slack costs `violation_cost` a unit.
pub(super) fn build_group(
    items: &[&Prepared],
    cfg: &PlanConfig,
    violation_cost: f64,
) -> GroupModel {
    let mut lp = Lp::default();
    let cols: Vec<SkuCols> = items
        .iter()
        .map(|p| sku_columns(&mut lp, p, cfg, violation_cost))
        .collect();
    let mut shared = SharedRows {
        lp,
        rows: Vec::new(),
        violation_cost,
    };
    let t_len = cfg.horizon.weeks;
    let order_terms =
        |s: usize, filter: &dyn Fn(&Prepared) -> bool, per_unit: &dyn Fn(&Prepared) -> f64| {
            items
                .iter()
                .zip(&cols)
                .filter(|(p, _)| filter(p) && s < t_len.saturating_sub(p.lead))
                .map(|(p, c)| (c.cases[s], per_unit(p) * p.pack))
                .collect::<Vec<_>>()
        };
    // Each SKU's stock if nothing more is ordered: the warehouse rows' floors.
    let unordered: Vec<Vec<f64>> = if cfg.capacity.warehouse_volume.is_some() {
        items
            .iter()
            .map(|p| simulate(p, &vec![0.0; p.d.len()]).0)
            .collect()
    } else {
        Vec::new()
    };
    for s in 0..t_len {
        if let Some(b) = cfg.budget.weekly {
            let terms = order_terms(s, &|_| true, &|p| p.cost);
            shared.add("budget".into(), s, (b, 0.0), terms, None, 0.0);
        }
        for (sup, b) in &cfg.budget.per_supplier {
            let terms = order_terms(s, &|p| &p.supplier == sup, &|p| p.cost);
            shared.add(format!("budget:{sup}"), s, (*b, 0.0), terms, None, 0.0);
        }
        for (sup, cap) in &cfg.capacity.supplier_units {
            let terms = order_terms(s, &|p| &p.supplier == sup, &|_| 1.0);
            let name = format!("supplier_units:{sup}");
            shared.add(name, s, (*cap, 0.0), terms, None, 0.0);
        }
        if let Some(cap) = cfg.capacity.warehouse_volume {
            let terms: Vec<(usize, f64)> = items
                .iter()
                .zip(&cols)
                .filter(|(p, _)| p.volume > 0.0)
                .map(|(p, c)| (c.inv[s], p.volume))
                .collect();
            // Kept back: what the stock may exceed its expected-demand path by, from the first
            // week an order can reach (before it the stock is what it is, whatever the plan,
            // and a reserve would only report it further over).
            let reachable = items.iter().any(|p| p.volume > 0.0 && s >= p.lead);
            let reserve = if reachable {
                items.iter().map(|p| p.volume_reserve(s)).sum()
            } else {
                0.0
            };
            let case_volume = shared.lp.has_integers().then(|| {
                items
                    .iter()
                    .filter(|p| p.volume > 0.0)
                    .map(|p| p.pack * p.volume)
                    .fold(f64::INFINITY, f64::min)
            });
            let floor = unordered
                .iter()
                .zip(items)
                .map(|(inv, p)| inv[s] * p.volume)
                .sum();
            let name = "warehouse_volume".into();
            shared.add(name, s, (cap, reserve), terms, case_volume, floor);
        }
    }
    GroupModel {
        lp: shared.lp,
        cols,
        shared: shared.rows,
    }
}

/// SKU `p`'s columns in `lp` and the rows that are its own: each week's inventory balance, the
/// floor and max-stock rows, and the MOQ and order-cost links of each order.
fn sku_columns(lp: &mut Lp, p: &Prepared, cfg: &PlanConfig, violation_cost: f64) -> SkuCols {
    let t_len = cfg.horizon.weeks;
    let integer = cfg.solver.integer;
    let on_off = cfg.defaults.order_cost > 0.0;
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
        let u = (p.moq > 0.0 || on_off).then(|| lp.col(0.0, 1.0, cfg.defaults.order_cost, integer));
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
    c
}

/// The shared rows of a group model as they are added.
struct SharedRows {
    lp: Lp,
    rows: Vec<SharedRow>,
    violation_cost: f64,
}

impl SharedRows {
    /// Add a row `coefs <= limit - reserve` with a slack (none when `coefs` is empty).
    /// `case_step`: the least of the limit one whole case uses, where the row's own columns do
    /// not say it (the warehouse row holds stock, not cases).
    fn add(
        &mut self,
        name: String,
        week: usize,
        (limit, reserve): (f64, f64),
        mut coefs: Vec<(usize, f64)>,
        case_step: Option<f64>,
        floor: f64,
    ) {
        if coefs.is_empty() {
            return;
        }
        let lp = &mut self.lp;
        let step = case_step.unwrap_or_else(|| {
            coefs
                .iter()
                .filter(|(i, a)| lp.cols[*i].integer && *a > 0.0)
                .map(|(_, a)| *a)
                .fold(f64::INFINITY, f64::min)
        });
        let slack = lp.col(0.0, f64::INFINITY, self.violation_cost, false);
        coefs.push((slack, -1.0));
        let reserve = reserve.min(limit);
        let row = lp.row(coefs, Sense::Le, limit - reserve);
        self.rows.push(SharedRow {
            name,
            week,
            limit: limit - reserve,
            reserve,
            step,
            floor,
            row,
            slack,
        });
    }
}

/// Every column of a plan whose integer columns are set in `x`: stock and lost demand by
/// simulation, shortfalls below the floor, excess over max stock, and the slack of each shared row.
/// Whole-case plans are always completed this way: stock serves demand while it lasts. (The LP's
/// columns alone would also let a plan hold stock back while demand goes unmet, to keep safety
/// stock when a limit binds; no store refuses a customer for that, so the MILP is solved over
/// the plans that serve demand, see `lagrange`.)
pub(super) fn complete(model: &GroupModel, items: &[&Prepared], mut x: Vec<f64>) -> Vec<f64> {
    for (p, c) in items.iter().zip(&model.cols) {
        let units: Vec<f64> = c.cases.iter().map(|&n| x[n] * p.pack).collect();
        let (inv, unmet) = simulate(p, &units);
        c.set_stock(p, &mut x, &inv, &unmet);
    }
    model.set_slacks(&mut x);
    x
}

/// The model's row duals for the shared rows' prices (none without shared rows).
pub(super) fn shared_duals(model: &GroupModel, prices: &[f64]) -> Option<Vec<f64>> {
    (!model.shared.is_empty()).then(|| {
        let mut d = vec![0.0; model.lp.rows.len()];
        for (sr, price) in model.shared.iter().zip(prices) {
            d[sr.row] = -price;
        }
        d
    })
}

pub(super) struct GroupResult {
    pub(super) members: Vec<usize>,
    pub(super) model: GroupModel,
    pub(super) sol: LpSolution,
    pub(super) bound: Option<f64>,
    pub(super) duals: Option<Vec<f64>>,
    /// How its plan was found (see [`PlanSummary::method`]).
    pub(super) method: &'static str,
}
