//! Inventory simulation: replay actual demand week by week under several replenishment policies
//! and count what each does to service, stock and cost.
//!
//! The last `weeks` weeks of the data are replayed. Each review week `t` (every
//! `horizon.review_period_weeks` of the plan config, from the first simulated week) a policy sees
//! the history up to week `t − 1` only, and decides what to order in week `t`; an order arrives
//! `lead_time_weeks` later (0: in time for week `t`'s demand). Within a week: arrivals, then demand
//! is served from stock; unserved demand is lost, or with backorders carried and served first
//! from later stock.
//!
//! Policies, on the same demand, stock and parameters:
//! - `restock`: the forecast job's forecasts (network and fallbacks) from the run, and the planner
//!   re-run with the plan config (budget, capacity, case packs, MOQ, service target); the orders
//!   it places for week `t` are executed, the rest of the plan is dropped (rolling horizon);
//! - `order_up_to`, `order_up_to_tsb`, `order_up_to_arima`: the textbook periodic-review policy
//!   fed by a 4-week moving average (the rule of thumb), by TSB and by AutoARIMA (good classical
//!   buyers). Its level
//!   S = Σ expected demand over lead time + review period + z(α) σ_P, with the expected demand
//!   and σ_P taken from the moving average's own quantiles in the same way, and at the same
//!   service level α, as the planner takes them from restock's forecasts; it orders S − inventory position, rounded up to case packs and MOQ, and cuts
//!   every order in proportion (down to whole cases) when the week's purchases would exceed a
//!   budget. It does not look at warehouse capacity.
//!
//! All start from the same stock: one protection interval of demand at the recent rate (mean
//! of the 8 weeks before the simulation × (lead time + review period)), nothing on order.
//!
//! Costs: holding = end-of-week stock × unit cost × holding rate; shortage = units not served in
//! the week they were asked for × the planner's shortage cost; ordering = order lines × the
//! config's fixed order cost; total = holding + shortage + ordering (purchases are reported
//! apart: the units bought are the units sold plus the change in stock).

use std::collections::HashMap;
use std::time::Instant;

use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_planner::{PlanConfig, SkuParams};
use restock_stats::Baseline;

use crate::order_up_to::{fit_budget, order_up_to, rule_forecasts};
use crate::{Error, Result};

mod inputs;
mod memo;
mod replay;
mod restock_buyer;
mod results;
mod serving;

pub use inputs::{ReplayInputs, SimulationOptions};
pub use memo::ReplayMemo;
use replay::Replay;
use restock_buyer::RestockBuyer;

pub use results::{
    ClassResult, POLICIES, PolicyResult, Shortage, Simulation, SimulationSummary, SkuWeek,
    WeekRecord,
};
use results::{ReachedWeeks, by_class};
use serving::{Serving, SkuState};

/// The forecasters of the order-up-to policies: a 4-week moving average (the rule of thumb),
/// TSB (the best statistical method of the protocol's published table) and AutoARIMA (the best
/// of restock's backtests on M5): good classical buyers, not only a weak one.
pub const RULE_FORECASTERS: [&str; 3] = ["moving_average", "tsb", "auto_arima"];

/// Simulate the last `options.weeks` weeks of the catalogue of `inputs` under every policy;
/// `progress(done, weeks)` is called after each week.
pub fn simulate(
    inputs: ReplayInputs<'_>,
    options: &SimulationOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Simulation> {
    let mut memo = ReplayMemo::default();
    simulate_with(inputs, options, &mut memo, progress)
}

/// [`simulate`], reusing and filling `memo`.
pub fn simulate_with(
    inputs: ReplayInputs<'_>,
    options: &SimulationOptions,
    memo: &mut ReplayMemo,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Simulation> {
    let started = Instant::now();
    let ReplayInputs {
        network,
        run_weeks,
        ds,
        params,
        cfg,
    } = inputs;
    let o = options;
    let review = cfg.horizon.review_period_weeks.max(1);
    let replay = Replay::new(run_weeks, ds, params, cfg, o.weeks, o.allow_in_sample)?;
    let mut restock = RestockBuyer::new(&inputs, &replay, o, memo)?;
    let levels = network.levels().clone();
    let rules: Vec<Baseline> = RULE_FORECASTERS
        .iter()
        .map(|name| Baseline::parse(name).map_err(|e| Error::Option(e.to_string())))
        .collect::<Result<_>>()?;
    let mut states: Vec<Vec<SkuState>> = POLICIES
        .iter()
        .map(|_| replay.starting_states(review))
        .collect();
    let mut results: Vec<PolicyResult> = POLICIES.iter().map(|p| PolicyResult::named(p)).collect();
    let mut reached = vec![ReachedWeeks::default(); POLICIES.len()];
    let n = replay.ids.len();
    let mut weekly = Vec::new();
    let mut trajectories = Vec::with_capacity(POLICIES.len() * n * o.weeks);
    let (mut demand_weeks, mut total_demand) = (0usize, 0.0);
    let longest_lead = replay
        .sku_params
        .iter()
        .map(|p| p.lead_time_weeks)
        .max()
        .unwrap_or(0);
    for w in 0..o.weeks {
        let week = replay.start.offset(w as i64);
        // Orders placed this week, per policy and SKU.
        let mut ordered: Vec<Vec<f64>> = vec![vec![0.0; n]; POLICIES.len()];
        if w % review == 0 {
            let view = replay.view_at(ds, week)?;
            let (orders, seconds) = restock.orders(memo, &replay, w, week, &view, &states[0])?;
            ordered[0] = orders;
            results[0].decision_seconds += seconds;
            // The order-up-to buyers: each its forecaster + the same safety-stock rule.
            for (pi, rule) in rules.iter().enumerate().map(|(r, f)| (r + 1, f)) {
                let t = Instant::now();
                let key = (pi, w);
                if let Some((_, seconds)) = memo.rules.get(&key) {
                    results[pi].decision_seconds += seconds;
                } else {
                    let values = rule_forecasts(rule, &view, &replay.sku_params, &levels, review)?;
                    memo.rules.insert(key, (values, t.elapsed().as_secs_f64()));
                }
                let positions: Vec<f64> = states[pi]
                    .iter()
                    .map(|st| st.stock + st.pipeline.values().sum::<f64>())
                    .collect();
                let wanted = order_up_to(
                    &memo.rules[&key].0,
                    &positions,
                    &replay.sku_params,
                    &replay.economics,
                    &levels,
                    review,
                );
                ordered[pi] = fit_budget(wanted, &replay.sku_params, cfg);
                results[pi].decision_seconds += t.elapsed().as_secs_f64();
            }
        }

        // Serve the week.
        let serving = Serving {
            week,
            w,
            demand: &replay.demand,
            sku_params: &replay.sku_params,
            economics: &replay.economics,
            shortage: o.shortage,
            weeks: o.weeks,
            longest_lead,
            cfg,
        };
        for (pi, (result, reached)) in results.iter_mut().zip(&mut reached).enumerate() {
            let (rec, with_demand, units) = serving.serve(
                pi,
                &mut states[pi],
                &ordered[pi],
                result,
                reached,
                &mut trajectories,
            );
            if pi == 0 {
                demand_weeks += with_demand;
                total_demand += units;
            }
            weekly.push(rec);
        }
        progress(w + 1, o.weeks);
    }
    for (r, reached) in results.iter_mut().zip(&reached) {
        r.finish(total_demand, demand_weeks, cfg.defaults.order_cost, reached);
    }
    let summary = SimulationSummary {
        start: replay.start.to_string(),
        end: ds.last_week.to_string(),
        weeks: o.weeks,
        review_period_weeks: review,
        shortage: o.shortage,
        skus: n,
        skus_without_history: ds.series.len() - n,
        service_level: cfg.service.level,
        weekly_budget: cfg.budget.weekly,
        warehouse_volume: cfg.capacity.warehouse_volume,
        solver: restock.solver,
        plan_status: restock.plan_status,
        max_plan_gap: restock.max_plan_gap,
        planned_over_limits: restock.planned_over_limits,
        protection_cases: restock.protection_cases,
        policies: results,
        by_class: by_class(
            &trajectories,
            &crate::classes::classify(&replay.history, replay.start.offset(-1))
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>(),
            &replay.sku_params,
            &replay.economics,
            o.shortage,
            o.weeks,
        ),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Simulation {
        summary,
        weekly,
        skus: replay.ids,
        start: replay.start,
        trajectories,
    })
}

/// Parameters for SKUs missing from a SKU table: the config's defaults, the last known price
/// before `until` (or `default_price` for a SKU without one) as the unit price and
/// `(1 − margin)` of it as the unit cost. SKUs with neither are left out (and reported as
/// missing by [`simulate`]).
pub fn params_from_prices(
    ds: &WeeklyDataset,
    until: Week,
    margin: f64,
    default_price: Option<f64>,
    cfg: &PlanConfig,
) -> HashMap<String, SkuParams> {
    let c = ds.covariate_index(restock_core::columns::PRICE);
    ds.series
        .iter()
        .filter_map(|s| {
            let end = (s.start.weeks_until(until) + 1).clamp(0, s.y.len() as i64) as usize;
            let price = c
                .and_then(|c| {
                    s.covariates[c][..end]
                        .iter()
                        .rev()
                        .copied()
                        .find(|p| p.is_finite() && *p > 0.0)
                })
                .or(default_price)?;
            let mut p = SkuParams::from_defaults(cfg, price * (1.0 - margin));
            p.unit_price = Some(price);
            Some((s.unique_id.clone(), p))
        })
        .collect()
}
