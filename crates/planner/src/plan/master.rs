//! The LP relaxation of a joint model (`solver.integer = false`) by decomposition: Lagrangian
//! prices, then Dantzig–Wolfe column generation.
//!
//! The joint LP couples its SKUs only through the shared weekly rows, and every SKU's own LP is
//! solved exactly by [`lagrange::lp_orders`]. So:
//!
//! 1. a projected subgradient search over the prices λ of the shared rows
//!    ([`lagrange::search_prices`]) gives lower bounds L(λ) (the LP has no duality gap, so they
//!    tend to its optimum) and, at prices around the best, a few plans per SKU;
//! 2. the restricted master LP picks a convex combination of each SKU's plans (one row per SKU
//!    whose plans differ, plus the shared rows): a plan of the joint LP, so an upper bound;
//! 3. the master's duals are prices again: every SKU's best plan at them gives L(λ), and those
//!    with a negative reduced cost join the master. Without any, the master's plan is the LP
//!    optimum.
//!
//! The master holds only the SKUs whose plans differ (at 100,000 SKUs a few thousand), which is
//! why this is fast where the joint LP (a million columns) is not.

use std::time::Instant;

use super::lagrange::{self, Limits, Orders, SkuAt};
use super::model::GroupModel;
use super::sku::Prepared;
use crate::Result;
use crate::config::SolverKind;
use crate::lp::{Lp, Sense};
use crate::status::PlanStatus;

/// Plans per SKU kept from the price search's steps near the best bound, for groups of up to
/// [`COLLECT_UP_TO`] SKUs. A few SKUs each switching between whole plans need them for the first
/// master to keep every limit (at 80 SKUs its plan is 0.07 % above the optimum with them, 3 times
/// it without); at scale the plans at scaled prices and the master's own columns suffice (0.04 %
/// at 10,000 SKUs after two masters) and near-best plans would make almost every SKU a choice of
/// the master (9,136 of 10,000).
const PLANS_NEAR_BEST: usize = 8;

/// Multiples of the best prices whose SKU plans start the master.
const LP_PRICE_FACTORS: [f64; 2] = [0.99, 1.01];
const COLLECT_UP_TO: usize = 2_500;

/// The outcome.
pub(super) struct Relaxed {
    /// Every column of the joint model.
    pub x: Vec<f64>,
    /// The best lower bound L(λ) on the LP optimum.
    pub bound: f64,
    /// The shadow prices of the shared rows: the last master's duals (HiGHS), else the
    /// multipliers of the best bound.
    pub prices: Vec<f64>,
    /// Subgradient iterations, then master solves.
    pub iterations: usize,
    pub rounds: usize,
    /// The limit that ended it with the gap open ([`PlanStatus::StepLimit`] or
    /// [`PlanStatus::TimeLimit`]); none when the gap closed or no column could improve.
    pub stopped: Option<PlanStatus>,
    /// Whether no SKU plan priced out at the last master's duals: its plan is the LP optimum.
    pub optimal: bool,
}

/// The restricted master: which SKUs are free (more than one plan) and where their rows are.
struct Master {
    lp: Lp,
    /// Per SKU: the master's convexity row and first column, if it has a choice.
    free: Vec<Option<(usize, usize)>>,
    /// Per shared row: the master's row.
    rows: Vec<usize>,
    /// Cost of the SKUs with a single plan.
    fixed_cost: f64,
}

impl Master {
    fn build(columns: &[Vec<SkuAt>], limits: &[f64], violation_cost: f64) -> Master {
        let mut lp = Lp::default();
        let mut fixed_cost = 0.0;
        let mut fixed_use = vec![0.0; limits.len()];
        let mut row_terms: Vec<Vec<(usize, f64)>> = vec![Vec::new(); limits.len()];
        let mut free = Vec::with_capacity(columns.len());
        for plans in columns {
            if let [only] = plans.as_slice() {
                fixed_cost += only.own;
                for (r, a) in &only.uses {
                    fixed_use[*r] += a;
                }
                free.push(None);
                continue;
            }
            let first = lp.cols.len();
            for plan in plans {
                let j = lp.col(0.0, 1.0, plan.own, false);
                for (r, a) in &plan.uses {
                    row_terms[*r].push((j, *a));
                }
            }
            let row = lp.row(
                (first..lp.cols.len()).map(|j| (j, 1.0)).collect(),
                Sense::Eq,
                1.0,
            );
            free.push(Some((row, first)));
        }
        let rows = row_terms
            .into_iter()
            .zip(limits)
            .zip(&fixed_use)
            .map(|((mut coefs, limit), used)| {
                let slack = lp.col(0.0, f64::INFINITY, violation_cost, false);
                coefs.push((slack, -1.0));
                lp.row(coefs, Sense::Le, limit - used)
            })
            .collect();
        Master {
            lp,
            free,
            rows,
            fixed_cost,
        }
    }
}

/// A solved master: its value (the SKUs with one plan included), the prices of the shared rows,
/// each SKU's convexity dual (SKUs with a choice) and, from the primal, the weights.
struct MasterSolution {
    value: f64,
    lambda: Vec<f64>,
    mu: Vec<Option<f64>>,
    theta: Option<Vec<f64>>,
}

impl Master {
    /// A solver with row duals (HiGHS, [`SolverKind::has_duals`]): the primal, with its duals.
    /// microlp gives none through good_lp, so it solves the master's dual instead,
    ///
    /// ```text
    /// max Σ_i μ_i − Σ_r λ_r · rhs_r   s.t.  μ_i − Σ_r use_ijr · λ_r ≤ own_ij  (each plan j of SKU i),
    ///     0 ≤ λ_r ≤ violation cost (the slack's price),
    /// ```
    ///
    /// whose optimum is the master's (LP duality); the plan then takes one primal solve.
    fn solve(
        &self,
        columns: &[Vec<SkuAt>],
        backend: SolverKind,
        violation_cost: f64,
    ) -> Result<MasterSolution> {
        let rhs: Vec<f64> = self.rows.iter().map(|&r| self.lp.rows[r].rhs).collect();
        if backend.has_duals() {
            let (sol, d) = self.lp.solve_with_duals(backend, crate::lp::LP_TIME)?;
            return Ok(MasterSolution {
                value: sol.objective + self.fixed_cost,
                lambda: self
                    .rows
                    .iter()
                    .map(|&r| (-d[r]).clamp(0.0, violation_cost))
                    .collect(),
                mu: self.free.iter().map(|f| f.map(|(row, _)| d[row])).collect(),
                theta: Some(sol.x),
            });
        }
        let mut dual = Lp::default();
        let lambda: Vec<usize> = rhs
            .iter()
            .map(|b| dual.col(0.0, violation_cost, *b, false))
            .collect();
        let mut mu = Vec::with_capacity(columns.len());
        for (plans, f) in columns.iter().zip(&self.free) {
            if f.is_none() {
                mu.push(None);
                continue;
            }
            // μ_i ≥ its cheapest plan's own cost at λ = 0 never binds (uses are ≥ 0).
            let least = plans.iter().map(|p| p.own).fold(f64::INFINITY, f64::min);
            let m = dual.col(least - 1.0, f64::INFINITY, -1.0, false);
            for plan in plans {
                let mut coefs = vec![(m, 1.0)];
                coefs.extend(plan.uses.iter().map(|(r, a)| (lambda[*r], -a)));
                dual.row(coefs, Sense::Le, plan.own);
            }
            mu.push(Some(m));
        }
        let sol = dual.solve(backend, crate::lp::LP_TIME, 0.0)?;
        Ok(MasterSolution {
            value: self.fixed_cost - sol.objective,
            lambda: lambda
                .iter()
                .map(|&c| sol.x[c].clamp(0.0, violation_cost))
                .collect(),
            mu: mu.iter().map(|m| m.map(|c| sol.x[c])).collect(),
            theta: None,
        })
    }
}

/// Add `plan` to a SKU's columns unless it is one of them; whether it was added.
fn add_plan(columns: &mut Vec<SkuAt>, plan: SkuAt) -> bool {
    let new = !columns.iter().any(|c| c.same_as(&plan));
    if new {
        columns.push(plan);
    }
    new
}

/// Solve the LP relaxation of `model` to the gap of `stop` (relative, plan against bound); its
/// seconds bound the price search (half of them) and the start of further master rounds (a
/// master LP runs to completion), its steps the price search's steps and the master rounds.
pub(super) fn solve(
    model: &GroupModel,
    items: &[&Prepared],
    backend: SolverKind,
    order_cost: f64,
    violation_cost: f64,
    stop: Limits,
) -> Result<Relaxed> {
    let started = Instant::now();
    let log = std::env::var_os("RESTOCK_SOLVER_LOG").is_some();
    // Half the time for the prices; the subgradient's own plans rarely keep every limit, so its
    // gap target is the master's job.
    let search = lagrange::search_prices(
        model,
        items,
        Orders::Relaxed,
        order_cost,
        violation_cost,
        Limits {
            seconds: stop.seconds / 2.0,
            ..stop
        },
        if items.len() <= COLLECT_UP_TO {
            PLANS_NEAR_BEST
        } else {
            0
        },
    );
    let (terms, limits) = (&search.terms, &search.limits);
    let mut bound = search.bound;
    let mut prices = search.prices.clone();
    let mut columns: Vec<Vec<SkuAt>> = search.at_best.into_iter().map(|s| vec![s]).collect();
    for (cols, near) in columns.iter_mut().zip(search.near_best) {
        for plan in near {
            add_plan(cols, plan);
        }
    }
    if let Some((_, plans)) = search.feasible {
        for (cols, plan) in columns.iter_mut().zip(plans) {
            add_plan(cols, plan);
        }
    }
    if !limits.is_empty() {
        for factor in LP_PRICE_FACTORS {
            let at: Vec<f64> = prices.iter().map(|l| l * factor).collect();
            let (plans, _, _) = lagrange::plans_at(
                items,
                terms,
                &at,
                limits,
                Orders::Relaxed,
                order_cost,
                violation_cost,
            );
            for (cols, plan) in columns.iter_mut().zip(plans) {
                add_plan(cols, plan);
            }
        }
    }
    let mut rounds = 0;
    let mut stopped = search.stopped;
    let mut optimal = limits.is_empty();
    // θ per SKU and column, from the last master.
    let mut weights: Vec<Vec<f64>> = columns.iter().map(|c| vec![1.0; c.len().min(1)]).collect();
    while !limits.is_empty() {
        rounds += 1;
        let master = Master::build(&columns, limits, violation_cost);
        let solved = master.solve(&columns, backend, violation_cost)?;
        let upper = solved.value;
        let free = master.free.iter().flatten().count();
        if log {
            eprintln!(
                "  master {rounds}: {free} SKUs with a choice, {} columns, plan {upper:.2}, \
                 bound {bound:.2}, {:.1} s",
                master.lp.cols.len(),
                started.elapsed().as_secs_f64()
            );
        }
        let closed = upper - bound <= stop.gap * upper.abs().max(1e-9);
        let limit = stop.reached(started, rounds);
        let limited = limit.is_some();
        let mut added = 0;
        if !closed && !limited {
            let lambda = &solved.lambda;
            let (plans, _, at) = lagrange::plans_at(
                items,
                terms,
                lambda,
                limits,
                Orders::Relaxed,
                order_cost,
                violation_cost,
            );
            if at > bound {
                bound = at;
            }
            prices = lambda.clone();
            // Columns whose reduced cost is negative: cheaper at the master's prices than what
            // the master pays for the SKU (its convexity dual, or its one plan priced).
            for (i, plan) in plans.into_iter().enumerate() {
                let current = solved.mu[i].unwrap_or_else(|| {
                    let c = &columns[i][0];
                    c.own + c.uses.iter().map(|(r, a)| lambda[*r] * a).sum::<f64>()
                });
                if plan.priced < current - 1e-9 * current.abs().max(1.0)
                    && add_plan(&mut columns[i], plan)
                {
                    added += 1;
                }
            }
            if added == 0 {
                // No column improves: the master's plan is the LP optimum.
                bound = bound.max(upper);
                optimal = true;
            }
        }
        if closed || limited || added == 0 {
            if !closed && limited {
                stopped = limit;
            }
            let theta = match solved.theta {
                Some(theta) => theta,
                // The dual gave the prices; the plan comes from the primal, once.
                None => master.lp.solve(backend, crate::lp::LP_TIME, 0.0)?.x,
            };
            weights = columns
                .iter()
                .zip(&master.free)
                .map(|(c, f)| match f {
                    Some((_, first)) => theta[*first..*first + c.len()].to_vec(),
                    None => vec![1.0],
                })
                .collect();
            break;
        }
    }
    let x = combine(model, items, &columns, &weights);
    Ok(Relaxed {
        x,
        bound,
        prices,
        iterations: search.iterations,
        rounds,
        stopped,
        optimal,
    })
}

/// The joint model's columns for a convex combination of each SKU's plans (stock, orders and
/// lost demand are linear; the shortfall below the floor and the excess over max stock are
/// taken at their least for the combined stock, which only lowers the cost).
fn combine(
    model: &GroupModel,
    items: &[&Prepared],
    columns: &[Vec<SkuAt>],
    weights: &[Vec<f64>],
) -> Vec<f64> {
    let mut x = vec![0.0; model.lp.cols.len()];
    for (((p, c), plans), w) in items.iter().zip(&model.cols).zip(columns).zip(weights) {
        let total: f64 = w.iter().sum::<f64>().max(1e-12);
        let mix = |f: &dyn Fn(&SkuAt) -> &[f64], k: usize| {
            plans.iter().zip(w).map(|(s, th)| th * f(s)[k]).sum::<f64>() / total
        };
        for (s, &n) in c.cases.iter().enumerate() {
            let cases = mix(&|s| &s.cases, s).max(0.0);
            x[n] = cases;
            if let Some(u) = c.used[s] {
                x[u] = cases * p.pack / p.order_cap();
            }
        }
        let weeks = 0..p.d.len();
        let inv: Vec<f64> = weeks
            .clone()
            .map(|t| mix(&|s| &s.inv, t).max(0.0))
            .collect();
        let unmet: Vec<f64> = weeks
            .map(|t| mix(&|s| &s.unmet, t).clamp(0.0, p.d[t]))
            .collect();
        c.set_stock(p, &mut x, &inv, &unmet);
    }
    model.set_slacks(&mut x);
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PlanConfig;

    /// `n` SKUs with varied demand, lead times, packs, MOQs, floors, max stock and stock.
    fn catalogue(n: usize, weeks: usize) -> Vec<Prepared> {
        (0..n)
            .map(|i| {
                let mu = 2.0 + (i * 37 % 23) as f64;
                let d: Vec<f64> = (0..weeks)
                    .map(|t| mu * (1.0 + 0.3 * (((i + 3 * t) % 5) as f64 - 2.0) / 2.0))
                    .collect();
                let mut arrivals = vec![0.0; weeks];
                arrivals[1] = if i % 4 == 0 { mu } else { 0.0 };
                let cost = 2.0 + (i % 7) as f64;
                let shortage = if i % 9 == 0 {
                    0.8 * cost
                } else {
                    cost + 4.0 + (i % 11) as f64
                };
                Prepared {
                    d,
                    arrivals,
                    on_hand: (i % 9) as f64,
                    lead: i % 3,
                    pack: [1.0, 4.0, 6.0, 12.0][i % 4],
                    moq: if i % 5 == 0 { 24.0 } else { 0.0 },
                    cost,
                    holding: 0.005 * cost,
                    shortage,
                    safety_cost: 0.5 * (shortage - cost).max(0.0) / weeks as f64,
                    safety_stock: 0.5 * mu,
                    floor: 0.5 * mu,
                    max_stock: (i % 6 == 0).then_some(3.0 * mu),
                    volume: 0.05 + 0.01 * (i % 6) as f64,
                    shortfall: 0.0,
                    supplier: format!("sup{}", i % 3),
                }
            })
            .collect()
    }

    /// Every row and bound of `lp` holds at `x` (to a tolerance relative to the row's size).
    fn assert_feasible(lp: &Lp, x: &[f64]) {
        for (j, c) in lp.cols.iter().enumerate() {
            assert!(
                x[j] >= c.lo - 1e-7 && x[j] <= c.hi + 1e-7,
                "column {j}: {} not in {c:?}",
                x[j]
            );
        }
        for (k, r) in lp.rows.iter().enumerate() {
            let lhs: f64 = r.coefs.iter().map(|(j, a)| a * x[*j]).sum();
            let tol = 1e-6 * r.rhs.abs().max(1.0);
            let ok = match r.sense {
                Sense::Le => lhs <= r.rhs + tol,
                Sense::Ge => lhs >= r.rhs - tol,
                Sense::Eq => (lhs - r.rhs).abs() <= tol,
            };
            assert!(ok, "row {k}: {lhs} vs {r:?}");
        }
    }

    #[test]
    fn column_generation_reaches_the_joint_lp_optimum() {
        let weeks = 6;
        let items = catalogue(80, weeks);
        let refs: Vec<&Prepared> = items.iter().collect();
        for (order_cost, budget, volume) in [(0.0, 700.0, 40.0), (5.0, 400.0, 25.0)] {
            let mut cfg = PlanConfig::default();
            cfg.horizon.weeks = weeks;
            cfg.defaults.order_cost = order_cost;
            cfg.solver.integer = false;
            cfg.budget.weekly = Some(budget);
            cfg.budget.per_supplier.insert("sup1".into(), 0.3 * budget);
            cfg.capacity.warehouse_volume = Some(volume);
            let v = 1e4;
            let model = super::super::model::build_group(&refs, &cfg, v);
            let joint = model.lp.solve(SolverKind::Highs, 60.0, 0.0).unwrap();
            // Columns until none improves: HiGHS solves the master with its duals, microlp the
            // master's dual.
            for backend in [SolverKind::Highs, SolverKind::Microlp] {
                let stop = Limits {
                    gap: 0.0,
                    seconds: 60.0,
                    steps: None,
                };
                let r = solve(&model, &refs, backend, order_cost, v, stop).unwrap();
                assert_feasible(&model.lp, &r.x);
                let objective = model.lp.objective_of(&r.x);
                let tol = 1e-6 * joint.objective.abs();
                assert!(
                    (objective - joint.objective).abs() < tol,
                    "{backend:?}: column generation {objective} vs joint LP {}",
                    joint.objective
                );
                assert!(
                    r.bound <= joint.objective + tol,
                    "{} > {}",
                    r.bound,
                    joint.objective
                );
                assert!(r.prices.iter().any(|p| *p > 0.0), "{:?}", r.prices);
                assert!(r.optimal, "{backend:?}: stopped before the optimum");
            }
        }
    }
}
