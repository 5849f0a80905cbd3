//! From solved groups to the plan: orders with their reasons, projected stock, costs, binding
//! limits and shortfalls, and the summary.

use restock_core::{OrderLine, OrderReason};

use crate::config::PlanConfig;
use crate::inputs::PlanInputs;

use super::model::GroupResult;
use super::report::*;
use super::sku::Prepared;

/// What the solved groups add up to.
struct Totals {
    costs: CostBreakdown,
    /// Purchase spend by order week.
    spend: Vec<f64>,
    /// End-of-week stock volume by week.
    volume: Vec<f64>,
    orders: Vec<OrderLine>,
    /// Each SKU's projection, with its index in the inputs.
    sku_plans: Vec<(usize, SkuPlan)>,
    shorts: Vec<SkuShort>,
    constraints: Vec<ConstraintReport>,
}

/// Tolerance for a quantity, a slack or a shortfall to count.
const EPS: f64 = 1e-6;

pub(super) fn assemble(
    inputs: &PlanInputs,
    cfg: &PlanConfig,
    prepared: &[Prepared],
    results: Vec<GroupResult>,
    n_models: usize,
    seconds: f64,
) -> Plan {
    let t_len = cfg.horizon.weeks;
    let mut totals = Totals {
        costs: CostBreakdown::default(),
        spend: vec![0.0; t_len],
        volume: vec![0.0; t_len],
        orders: Vec::new(),
        sku_plans: Vec::new(),
        shorts: Vec::new(),
        constraints: Vec::new(),
    };
    let (mut objective, mut bound_sum, mut status) = (0.0, Some(0.0), PlanStatus::Optimal);
    let rank = |m: &str| {
        ["dynamic_program", "column_generation", "lagrangian"]
            .iter()
            .position(|x| *x == m)
    };
    let mut method = "dynamic_program";
    for r in &results {
        objective += r.sol.objective;
        bound_sum = match (bound_sum, r.bound) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        status = status.max(r.sol.status);
        if rank(r.method).unwrap_or(usize::MAX) > rank(method).unwrap_or(usize::MAX) {
            method = r.method;
        }
        let tight_weeks = constraint_reports(r, inputs, t_len, &mut totals);
        for (k, &i) in r.members.iter().enumerate() {
            sku_outputs(r, k, i, prepared, inputs, cfg, &tight_weeks, &mut totals);
        }
    }
    let Totals {
        mut costs,
        spend,
        volume,
        mut orders,
        mut sku_plans,
        mut shorts,
        mut constraints,
    } = totals;
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
            week: inputs.start.offset(t as i64).to_string(),
            spend: spend[t],
            budget: cfg.budget.weekly,
            volume: volume[t],
            warehouse_volume: cfg.capacity.warehouse_volume,
        })
        .collect();
    let gap_bound = bound_sum.map(|b| ((objective - b) / objective.abs().max(1e-9)).max(0.0));
    let summary = PlanSummary {
        solver: cfg.solver.backend.as_str().into(),
        method: method.into(),
        status,
        integer: cfg.solver.integer,
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
        lost_sales_levels: cfg.service.lost_sales_levels(),
        demand_weeks_shares: inputs
            .skus
            .iter()
            .filter(|s| s.params.demand_weeks_share.is_some())
            .count(),
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

/// The group's shared rows that bind or are violated, reported (and their slack's penalty
/// counted); returns which weeks have one.
fn constraint_reports(
    r: &GroupResult,
    inputs: &PlanInputs,
    t_len: usize,
    totals: &mut Totals,
) -> Vec<bool> {
    let x = &r.sol.x;
    let mut tight_weeks = vec![false; t_len];
    for sr in &r.model.shared {
        let used = sr.used(&r.model.lp, x);
        let violated_by = x[sr.slack].max(0.0);
        // With whole cases a limit binds once not even the smallest case fits in what is left.
        let step = sr.step;
        let tolerance =
            if step.is_finite() { step } else { 0.0 }.max(EPS * sr.limit.abs().max(1.0));
        let shadow = r.duals.as_ref().map(|d| -d[sr.row]);
        // ... or once the relaxation prices it and the plan leaves next to nothing of it.
        let priced = shadow.is_some_and(|p| p > 1e-9) && used >= 0.999 * sr.limit;
        let binding = sr.limit - used < tolerance || priced;
        totals.costs.constraint_violation += violated_by * r.model.lp.cols[sr.slack].cost;
        if binding || violated_by > EPS {
            tight_weeks[sr.week] = true;
            totals.constraints.push(ConstraintReport {
                name: sr.name.clone(),
                week: inputs.start.offset(sr.week as i64).to_string(),
                limit: sr.limit,
                reserve: sr.reserve,
                used,
                floor: sr.floor,
                binding,
                violated_by,
                shadow_price: shadow,
            });
        }
    }
    tight_weeks
}

/// SKU `i` (the group's `k`-th member): its costs, stock volume and spend, its order lines
/// with their reasons, its shortfall and its projection.
#[allow(clippy::too_many_arguments)]
fn sku_outputs(
    r: &GroupResult,
    k: usize,
    i: usize,
    prepared: &[Prepared],
    inputs: &PlanInputs,
    cfg: &PlanConfig,
    tight_weeks: &[bool],
    totals: &mut Totals,
) {
    let t_len = cfg.horizon.weeks;
    let week = |t: usize| inputs.start.offset(t as i64);
    let x = &r.sol.x;
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
    let costs = &mut totals.costs;
    for t in 0..t_len {
        costs.holding += p.holding * inv[t];
        costs.shortage += p.shortage * unmet[t];
        costs.safety_shortfall += p.safety_cost * below[t];
        totals.volume[t] += p.volume * inv[t];
        if let Some(o) = c.over[t] {
            costs.constraint_violation += x[o].max(0.0) * r.model.lp.cols[o].cost;
        }
    }
    costs.salvage_credit += p.cost * inv[t_len - 1];
    let whole = |v: f64| {
        if cfg.solver.integer {
            v.round()
        } else {
            v.max(0.0)
        }
    };
    for (s, &n) in c.cases.iter().enumerate() {
        let cases = whole(x[n]);
        let qty = cases * p.pack;
        if qty <= EPS {
            continue;
        }
        if let Some(u) = c.used[s] {
            // What the objective charges: order cost × switch (whole in the MILP).
            costs.fixed_order += cfg.defaults.order_cost * whole(x[u]);
        }
        costs.purchase += qty * p.cost;
        totals.spend[s] += qty * p.cost;
        let a = s + p.lead;
        let reason = order_reason(
            Stock {
                pack: p.pack,
                moq: p.moq,
                safety_stock: p.safety_stock,
                floor: p.floor,
            },
            qty,
            // Stock at the end of the arrival week without this order.
            inv[a] - qty,
            // Short (or below the floor) in the week this order arrives...
            unmet[a],
            unmet[a] > EPS || below[a] > EPS,
            // ... while a limit binds in the week it is placed.
            tight_weeks[s],
        );
        totals.orders.push(OrderLine {
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
    if total_short > EPS {
        totals.shorts.push(SkuShort {
            unique_id: sku.unique_id.clone(),
            units_short: total_short,
            units_short_within_lead_time: unmet[..p.lead.min(t_len)].iter().sum(),
        });
    }
    totals.sku_plans.push((
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

/// What an order's reason is judged by: the SKU's case pack, MOQ, safety stock and floor
/// (the larger of the safety stock and the minimum stock).
#[derive(Debug, Clone, Copy)]
struct Stock {
    pack: f64,
    moq: f64,
    safety_stock: f64,
    floor: f64,
}

/// Why an order of `qty` units was placed, from the stock it arrives to (`without`: the
/// arrival week's end-of-week stock without it, negative when demand would go unmet), the demand
/// still lost that week (`unmet`), whether the SKU is short or below its floor after it
/// (`short_after`) and whether a shared limit binds in the week it is placed (`tight`). The
/// first rule that holds wins: held back by a binding limit; raised to the MOQ; rounded up to a
/// case pack; demand not covered; below the safety stock; below the minimum stock; else demand.
fn order_reason(
    p: Stock,
    qty: f64,
    without: f64,
    unmet: f64,
    short_after: bool,
    tight: bool,
) -> OrderReason {
    const EPS: f64 = 1e-6;
    let need = (p.floor - without).max(0.0) + unmet;
    if short_after && tight {
        OrderReason::CappedByConstraint
    } else if p.moq > 0.0 && (qty - p.moq).abs() < EPS && qty - need >= 1.0 {
        OrderReason::MoqRounding
    } else if p.pack > 1.0 && qty - need >= 1.0 && qty - need < p.pack {
        OrderReason::CasePackRounding
    } else if without < -EPS {
        OrderReason::ForecastDemand
    } else if without < p.safety_stock - EPS {
        OrderReason::BelowSafetyStock
    } else if without < p.floor - EPS {
        OrderReason::MinStock
    } else {
        OrderReason::ForecastDemand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_order_reason_by_its_rule() {
        // Safety stock 10, minimum stock 15 (the floor), case pack 6, MOQ 0 unless set.
        let sku = Stock {
            pack: 1.0,
            moq: 0.0,
            safety_stock: 10.0,
            floor: 15.0,
        };
        let cases = [
            // Short after it while a limit binds: held back.
            (
                sku,
                5.0,
                -3.0,
                2.0,
                true,
                true,
                OrderReason::CappedByConstraint,
            ),
            // Short after it but no limit binds: the demand reason of the stock it meets.
            (
                sku,
                5.0,
                -3.0,
                2.0,
                true,
                false,
                OrderReason::ForecastDemand,
            ),
            // Needs 3 (15 − 12), the MOQ of 20 ordered.
            (
                Stock { moq: 20.0, ..sku },
                20.0,
                12.0,
                0.0,
                false,
                false,
                OrderReason::MoqRounding,
            ),
            // Needs 3, one case of 6.
            (
                Stock { pack: 6.0, ..sku },
                6.0,
                12.0,
                0.0,
                false,
                false,
                OrderReason::CasePackRounding,
            ),
            // Demand would go unmet without it.
            (
                sku,
                8.0,
                -8.0,
                0.0,
                false,
                false,
                OrderReason::ForecastDemand,
            ),
            // Stock 4 without it: below the safety stock.
            (
                sku,
                11.0,
                4.0,
                0.0,
                false,
                false,
                OrderReason::BelowSafetyStock,
            ),
            // Stock 12 without it: above the safety stock, below the minimum stock.
            (sku, 3.0, 12.0, 0.0, false, false, OrderReason::MinStock),
            // Stock 20 without it: above every floor, ordered for later demand.
            (
                sku,
                5.0,
                20.0,
                0.0,
                false,
                false,
                OrderReason::ForecastDemand,
            ),
        ];
        for (i, (p, qty, without, unmet, short, tight, want)) in cases.into_iter().enumerate() {
            assert_eq!(
                order_reason(p, qty, without, unmet, short, tight),
                want,
                "case {i}"
            );
        }
    }
}
