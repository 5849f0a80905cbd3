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
//! Cost: purchase + fixed order cost + holding + shortage (lost revenue p) + safety-stock
//! shortfall + slack penalties − the ending stock valued at cost (so the plan is not myopic about
//! the last week). By the inventory balance, purchase − ending stock at cost = constant − c ·
//! unmet, so the solver minimises the equivalent *controllable* cost: holding + max(p − c, 0) ·
//! unmet + safety-stock shortfall + fixed order costs + penalties. This keeps the MIP gap relative to the costs the plan
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
//! lead time + review period ([`crate::protection_level`]), and SS is that level less expected demand
//! over the interval. With the forecaster's [`restock_stats::ProtectionCalibration`] (fitted on its own earlier
//! forecasts, `restock_stats::protection`), the level is μ_P + κ_P(α)·σ_P with the calibrated
//! κ; without one, the normal rule z(α)·σ_P with σ_t = (q_hi − q_lo) / (z(hi) − z(lo)) from the
//! outermost quantile levels and σ_P = sqrt(Σ σ_t²) (independent weeks), which under-covers real
//! demand.

use std::collections::BTreeMap;

use rayon::prelude::*;
#[cfg(test)]
use restock_stats::normal_quantile;

use crate::config::PlanConfig;
use crate::inputs::PlanInputs;
use crate::lp::LpSolution;
use crate::service::{allocate_fill_rate, economic_levels};
use crate::{Error, Result};

mod assemble;
mod dp;
mod greedy;
mod lagrange;
mod master;
mod model;
mod report;
mod sku;

pub use crate::economics::Economics;
use assemble::assemble;
use greedy::improve_within_limits;
use model::{GroupModel, GroupResult, build_group, complete, shared_duals};
pub use report::{
    ConstraintReport, CostBreakdown, Plan, PlanStatus, PlanSummary, SkuPlan, SkuShort, WeekUsage,
};
pub use sku::expected_demand;
use sku::{Prepared, prepare};

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

fn solve_group(
    members: Vec<usize>,
    prepared: &[Prepared],
    cfg: &PlanConfig,
    violation_cost: f64,
) -> Result<GroupResult> {
    let items: Vec<&Prepared> = members.iter().map(|&i| &prepared[i]).collect();
    let model = build_group(&items, cfg, violation_cost);
    if model.lp.has_integers() {
        solve_whole_cases(members, model, &items, cfg, violation_cost)
    } else {
        solve_relaxed(members, model, &items, cfg, violation_cost)
    }
}

/// Whether `RESTOCK_SOLVER_LOG` asks for the solver's progress on stderr.
fn solver_log() -> bool {
    std::env::var_os("RESTOCK_SOLVER_LOG").is_some()
}

/// The LP relaxation (continuous cases): each SKU's LP exactly by dynamic programming, the
/// shared rows by Lagrangian prices and column generation (see `master`).
fn solve_relaxed(
    members: Vec<usize>,
    model: GroupModel,
    items: &[&Prepared],
    cfg: &PlanConfig,
    violation_cost: f64,
) -> Result<GroupResult> {
    let sv = &cfg.solver;
    let order_cost = cfg.defaults.order_cost;
    let r = master::solve(
        &model,
        items,
        sv.backend,
        order_cost,
        violation_cost,
        limits(cfg),
    )?;
    let objective = model.lp.objective_of(&r.x);
    let bound = r.bound.min(objective);
    let gap = (objective - bound) / objective.abs().max(1e-9);
    let status = if r.optimal || gap <= 1e-9 {
        PlanStatus::Optimal
    } else if gap <= sv.mip_gap + 1e-9 {
        PlanStatus::GapLimit
    } else if let Some(limit) = r.stopped {
        limit
    } else {
        PlanStatus::GapOpen
    };
    if solver_log() {
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
    Ok(GroupResult {
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
            status,
        },
        duals,
    })
}

/// Whole cases: Lagrangian relaxation of the shared rows, one exact dynamic program per SKU
/// (see `lagrange`; without shared rows that is each SKU's optimum), the starting plans repaired
/// and filled by the greedy, and branch and bound for small joint models with a gap left.
fn solve_whole_cases(
    members: Vec<usize>,
    model: GroupModel,
    items: &[&Prepared],
    cfg: &PlanConfig,
    violation_cost: f64,
) -> Result<GroupResult> {
    let sv = &cfg.solver;
    let order_cost = cfg.defaults.order_cost;
    let clock = std::time::Instant::now();
    let relaxation = lagrange::solve(&model, items, order_cost, violation_cost, limits(cfg));
    let bound = relaxation.bound;
    let gap = |obj: f64| (obj - bound) / obj.abs().max(1e-9);
    let plan_of = |x: Vec<f64>| LpSolution {
        objective: model.lp.objective_of(&x),
        x,
        status: PlanStatus::Optimal,
    };
    // Each starting plan: repaired to the limits, then what they leave goes to the moves that
    // save the most per unit of priced limit (`improve_within_limits`); the cheapest wins.
    let mut sol: Option<LpSolution> = None;
    if solver_log() {
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
        let mut candidate = plan_of(complete(&model, items, x));
        if !model.shared.is_empty() {
            let x = improve_within_limits(
                &model,
                items,
                &candidate.x,
                &relaxation.prices,
                order_cost,
                &relaxation.family,
            );
            candidate = plan_of(complete(&model, items, x));
        }
        if solver_log() {
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
        && sv.max_price_steps.is_none()
    {
        // A few hundred SKUs can leave a real duality gap (whole cases of few SKUs compete for a
        // limit): branch and bound on the MILP. Its plan is completed by simulation like any
        // other (its LP columns could hold stock back while demand goes unmet) and kept if
        // cheaper; proven within its gap, it also lifts the bound.
        if let Ok(s) = model
            .lp
            .solve(sv.backend, sv.time_limit_seconds, sv.mip_gap)
        {
            if s.status == PlanStatus::Optimal {
                bound = bound.max(s.objective * (1.0 - sv.mip_gap));
            }
            let candidate = plan_of(complete(&model, items, s.x));
            if solver_log() {
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
            PlanStatus::Optimal
        } else {
            PlanStatus::GapLimit
        }
    } else if let Some(limit) = relaxation.stopped {
        limit
    } else {
        PlanStatus::GapOpen
    };
    let duals = shared_duals(&model, &relaxation.prices);
    if solver_log() {
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

/// Joint models up to this many columns (a few hundred SKUs) get branch and bound after the
/// Lagrangian plan when its gap is above the target (unless the plan is held to a number of
/// price steps: branch and bound stops only at the time limit).
const BRANCH_AND_BOUND_COLUMNS: usize = 20_000;

/// A model's share of the solver's limits.
fn limits(cfg: &PlanConfig) -> lagrange::Limits {
    lagrange::Limits {
        gap: cfg.solver.mip_gap,
        seconds: cfg.solver.time_limit_seconds,
        steps: cfg.solver.max_price_steps,
    }
}

/// Plan orders for every SKU of `inputs`.
///
/// # Errors
///
/// [`Error::Sku`] naming the SKU when its parameters are out of range (case pack, lead time,
/// costs, service level), its forecast has fewer weeks than the plan or a quantile that is
/// negative or not finite, or its stock on hand is negative; [`Error::Solver`] when the LP
/// solver itself fails. A budget or capacity that cannot be met is not an error: every shared
/// limit has a priced slack, and the plan reports what it violates.
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
    // By economics in a lost-sales shop: each SKU's least-cost level on its shop's curve.
    let economic = (allocation.is_none() && cfg.service.critical_ratio && cfg.service.lost_sales)
        .then(|| {
            economic_levels(
                &inputs.skus,
                inputs.levels.levels(),
                inputs.protection.as_ref(),
                cfg,
            )
        });
    // On all cores: a lost-sales level simulates each SKU's shop (`crate::lost_sales`).
    let prepared: Vec<Prepared> = inputs
        .skus
        .par_iter()
        .enumerate()
        .map(|(i, s)| {
            let alpha = allocation
                .as_ref()
                .map(|a| a.levels[i])
                .or_else(|| economic.as_ref().map(|e| e[i]));
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
