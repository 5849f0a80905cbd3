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

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use restock_core::{Horizon, Week};
use restock_data::WeeklyDataset;
use restock_data::future::KnownFuture;
use restock_infer::Network;
use restock_infer::protection::calibration_origins;
use restock_planner::{Economics, PlanConfig, PlanInputs, SkuInput, SkuParams};
use restock_stats::{Baseline, ProtectionCalibration, ProtectionCase};

use crate::backtest::RunWeeks;
use crate::order_up_to::{fit_budget, order_up_to, rule_forecasts};
use crate::{Error, Result};

mod results;
mod serving;

use results::by_class;
pub use results::{
    ClassResult, POLICIES, PolicyResult, Shortage, Simulation, SimulationSummary, SkuWeek,
    WeekRecord,
};
use serving::{Serving, SkuState};

/// Options of a simulation.
#[derive(Debug, Clone)]
pub struct SimulationOptions {
    /// Weeks replayed (the last weeks of the data).
    pub weeks: usize,
    /// Lost sales or backorders.
    pub shortage: Shortage,
    /// Simulate weeks the network was trained on anyway.
    pub allow_in_sample: bool,
    /// SKUs per network batch.
    pub batch_size: usize,
    /// The forecast job's intermittent threshold.
    pub intermittent_adi: f64,
    /// Set restock's order-up-to levels from its calibrated protection-interval quantiles
    /// ([`ProtectionCalibration`]: fitted on its forecasts at a year of origins before the replay,
    /// `restock_infer::protection`, then on the replay's own forecasts as their weeks are
    /// sold); false:
    /// the normal rule with independent weeks.
    pub calibrate_protection: bool,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            weeks: 8,
            shortage: Shortage::LostSales,
            allow_in_sample: false,
            batch_size: 4096,
            intermittent_adi: f64::INFINITY,
            calibrate_protection: true,
        }
    }
}

/// The forecasters of the order-up-to policies: a 4-week moving average (the rule of thumb),
/// TSB (the best statistical method of the protocol's published table) and AutoARIMA (the best
/// of restock's backtests on M5): good classical buyers, not only a weak one.
pub const RULE_FORECASTERS: [&str; 3] = ["moving_average", "tsb", "auto_arima"];

/// Simulate the last `options.weeks` weeks of `ds` under every policy. `params` gives every
/// simulated SKU's parameters (an error names a SKU without); `progress(done, weeks)` is called
/// after each week.
#[allow(clippy::too_many_arguments)]
pub fn simulate(
    network: &Network,
    run_weeks: RunWeeks,
    ds: &WeeklyDataset,
    params: &HashMap<String, SkuParams>,
    cfg: &PlanConfig,
    options: &SimulationOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Simulation> {
    let mut memo = ReplayMemo::default();
    simulate_with(
        network, run_weeks, ds, params, cfg, options, &mut memo, progress,
    )
}

/// What a replay forecasts that depends neither on the policy nor on the service target (each
/// week's history is the recorded demand): restock's served forecasts and protection
/// calibration, and the classical buyers' forecasts, by review week. A sweep keeps one across
/// its replays, so each week is forecast once; the time it took is still counted in every
/// replay's `decision_seconds`.
#[derive(Debug, Default)]
pub struct ReplayMemo {
    /// The options it was filled under: (first week, weeks, protection calibrated).
    key: Option<(Week, usize, bool)>,
    /// restock's forecasts per SKU, its calibration (and its cases), and the seconds they took.
    restock: BTreeMap<usize, (Vec<Vec<f64>>, Option<ProtectionCalibration>, usize, f64)>,
    /// Each buyer's forecasts per SKU, and the seconds they took, by (rule, week).
    rules: BTreeMap<(usize, usize), (Vec<Vec<f64>>, f64)>,
}

/// [`simulate`], reusing and filling `memo`.
#[allow(clippy::too_many_arguments)]
pub fn simulate_with(
    network: &Network,
    run_weeks: RunWeeks,
    ds: &WeeklyDataset,
    params: &HashMap<String, SkuParams>,
    cfg: &PlanConfig,
    options: &SimulationOptions,
    memo: &mut ReplayMemo,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Simulation> {
    let started = Instant::now();
    let o = options;
    let plan_weeks = cfg.horizon.weeks;
    let review = cfg.horizon.review_period_weeks.max(1);
    if plan_weeks > network.horizon() {
        return Err(Error::Option(format!(
            "the plan config's horizon.weeks = {plan_weeks} is longer than the run's forecasts \
             ({} weeks, its window.horizon)",
            network.horizon()
        )));
    }
    let total_weeks = ds.first_week.weeks_until(ds.last_week) + 1;
    if o.weeks == 0 || o.weeks as i64 >= total_weeks {
        return Err(Error::Option(format!(
            "--weeks {}: must be between 1 and {} (the data has {total_weeks} weeks)",
            o.weeks,
            total_weeks - 1
        )));
    }
    let start = ds.last_week.offset(1 - o.weeks as i64);
    if let Some(t) = run_weeks.train_end
        && start.offset(-1) < t
        && !o.allow_in_sample
    {
        return Err(Error::InSample {
            cutoff: start.offset(-1).to_string(),
            train_end: t.to_string(),
        });
    }
    let history_view = ds
        .truncate(start.offset(-1))
        .ok_or_else(|| Error::Option("no history before the simulated weeks".into()))?;
    let ids: Vec<String> = history_view
        .series
        .iter()
        .map(|s| s.unique_id.clone())
        .collect();
    if ids.is_empty() {
        return Err(Error::Option(format!(
            "no SKU has history before the first simulated week {start}"
        )));
    }
    let full: HashMap<&str, usize> = ds
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (s.unique_id.as_str(), i))
        .collect();
    let mut sku_params = Vec::with_capacity(ids.len());
    for id in &ids {
        let p = params.get(id).cloned().ok_or_else(|| Error::Sku {
            sku: id.clone(),
            message: "no SKU parameters (unit_cost is required)".into(),
        })?;
        p.check(id)?;
        sku_params.push(p);
    }
    // Actual demand per simulated SKU and week.
    let demand: Vec<Vec<f64>> = ids
        .iter()
        .map(|id| {
            let s = &ds.series[full[id.as_str()]];
            (0..o.weeks)
                .map(|w| {
                    let t = s.start.weeks_until(start.offset(w as i64));
                    s.y[t as usize]
                })
                .collect()
        })
        .collect();
    let levels = network.levels().clone();
    let rules: Vec<Baseline> = RULE_FORECASTERS
        .iter()
        .map(|name| Baseline::parse(name).map_err(|e| Error::Option(e.to_string())))
        .collect::<Result<_>>()?;
    let mut states: Vec<Vec<SkuState>> = POLICIES
        .iter()
        .map(|_| {
            history_view
                .series
                .iter()
                .zip(&sku_params)
                .map(|(s, p)| {
                    let recent = &s.y[s.y.len().saturating_sub(8)..];
                    let rate = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
                    SkuState {
                        stock: (rate * (p.lead_time_weeks + review) as f64).round(),
                        pipeline: BTreeMap::new(),
                    }
                })
                .collect()
        })
        .collect();
    let mut results: Vec<PolicyResult> = POLICIES
        .iter()
        .map(|p| PolicyResult {
            policy: p.to_string(),
            fill_rate: 0.0,
            stockout_weeks: 0,
            stockout_share: 0.0,
            avg_stock_value: 0.0,
            end_stock_value: 0.0,
            holding_cost: 0.0,
            shortage_cost: 0.0,
            ordering_cost: 0.0,
            total_cost: 0.0,
            purchase_cost: 0.0,
            orders: 0,
            units_ordered: 0.0,
            units_short: 0.0,
            max_weekly_spend: 0.0,
            weeks_over_budget: 0,
            max_volume: 0.0,
            weeks_over_capacity: 0,
            decision_seconds: 0.0,
        })
        .collect();
    let economics: Vec<Economics> = sku_params.iter().map(|p| Economics::of(p, cfg)).collect();
    let mut weekly = Vec::new();
    let mut trajectories = Vec::with_capacity(POLICIES.len() * ids.len() * o.weeks);
    let mut demand_weeks = 0usize;
    let mut total_demand = 0.0;
    let mut solver = String::new();
    let mut plan_status = restock_planner::PlanStatus::Optimal;
    let mut max_plan_gap: Option<f64> = None;
    // Position of each simulated SKU (the catalogue cut at a review week holds them in this
    // order, plus SKUs that started later, which are dropped).
    let pos: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let horizon = Horizon::new(plan_weeks).map_err(|e| Error::Option(e.to_string()))?;
    let k = levels.len();
    // restock's protection calibration: cases from its forecasts before the replay, then from
    // the replay's own forecasts (by week made) as their weeks are sold.
    let mut cases: Vec<ProtectionCase> = Vec::new();
    let mut made: Vec<(usize, Vec<Vec<f64>>, usize)> = Vec::new();
    let mut protection_cases = 0usize;
    let key = (start, o.weeks, o.calibrate_protection);
    if memo.key != Some(key) {
        *memo = ReplayMemo {
            key: Some(key),
            ..ReplayMemo::default()
        };
    }
    let cached = (0..o.weeks)
        .step_by(review)
        .all(|w| memo.restock.contains_key(&w));
    if o.calibrate_protection && !cached {
        cases = network.protection_cases(
            ds,
            &calibration_origins(start.offset(-1), plan_weeks),
            plan_weeks,
            network.min_context().max(8),
            o.intermittent_adi,
            o.batch_size,
        )?;
    }
    for w in 0..o.weeks {
        let week = start.offset(w as i64);
        // Orders placed this week, per policy and SKU.
        let mut ordered: Vec<Vec<f64>> = vec![vec![0.0; ids.len()]; POLICIES.len()];
        if w % review == 0 {
            let mut view = ds
                .truncate(week.offset(-1))
                .ok_or_else(|| Error::Option("no history before a review week".into()))?;
            view.series
                .retain(|s| pos.contains_key(s.unique_id.as_str()));
            // restock: forecasts + planner.
            let t = Instant::now();
            if !cached {
                // The plan recorded for the weeks ahead (unknown past the data's end).
                let recorded = KnownFuture::recorded(ds, week, plan_weeks, &network.plan_columns());
                let f = network.forecast_catalogue(
                    &view,
                    horizon,
                    network.min_context().max(8),
                    o.intermittent_adi,
                    o.batch_size,
                    Some(&recorded),
                )?;
                let protection = if o.calibrate_protection {
                    // The replay's forecasts add their P-week cases once those weeks are sold.
                    for (made_at, values, added) in &mut made {
                        let known = (w - *made_at).min(plan_weeks);
                        if known <= *added {
                            continue;
                        }
                        for (i, v) in values.iter().enumerate() {
                            let actual = &demand[i][*made_at..*made_at + known];
                            cases.extend(
                                ProtectionCalibration::cases_of(v, levels.levels(), actual)
                                    .into_iter()
                                    .filter(|c| c.weeks > *added),
                            );
                        }
                        *added = known;
                    }
                    made.push((w, f.values.clone(), 0));
                    ProtectionCalibration::fit(plan_weeks, &cases)
                } else {
                    None
                };
                let used = protection.as_ref().map_or(0, ProtectionCalibration::cases);
                memo.restock
                    .insert(w, (f.values, protection, used, t.elapsed().as_secs_f64()));
            }
            let (values, protection, n_cases, seconds) = &memo.restock[&w];
            protection_cases = *n_cases;
            if cached {
                results[0].decision_seconds += seconds;
            }
            let f_values = values;
            let inputs = PlanInputs {
                protection: protection.clone(),
                start: week,
                levels: levels.clone(),
                skus: ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| {
                        let st = &states[0][i];
                        let backlog = (-st.stock).max(0.0);
                        let forecast: Vec<Vec<f64>> = (0..plan_weeks)
                            .map(|h| {
                                let q = &f_values[i][h * k..(h + 1) * k];
                                q.iter()
                                    .map(|v| v + if h == 0 { backlog } else { 0.0 })
                                    .collect()
                            })
                            .collect();
                        SkuInput {
                            unique_id: id.clone(),
                            forecast,
                            on_hand: st.stock.max(0.0),
                            on_order: st
                                .pipeline
                                .iter()
                                .map(|(a, q)| (week.weeks_until(*a).max(0) as usize, *q))
                                .collect(),
                            params: sku_params[i].clone(),
                        }
                    })
                    .collect(),
            };
            let plan = restock_planner::plan(&inputs, cfg, &|_| {})?;
            solver = plan.summary.how_solved();
            plan_status = plan_status.max(plan.summary.status);
            if let Some(g) = plan.summary.gap_bound {
                max_plan_gap = Some(max_plan_gap.map_or(g, |m: f64| m.max(g)));
            }
            for line in plan.orders.iter().filter(|l| l.order_week == week) {
                ordered[0][pos[line.unique_id.as_str()]] += line.quantity;
            }
            results[0].decision_seconds += t.elapsed().as_secs_f64();

            // The order-up-to buyers: each its forecaster + the same safety-stock rule.
            for (pi, rule) in rules.iter().enumerate().map(|(r, f)| (r + 1, f)) {
                let t = Instant::now();
                let positions: Vec<f64> = states[pi]
                    .iter()
                    .map(|st| st.stock + st.pipeline.values().sum::<f64>())
                    .collect();
                let mkey = (pi, w);
                if !memo.rules.contains_key(&mkey) {
                    let values = rule_forecasts(rule, &view, &sku_params, &levels, review)?;
                    memo.rules.insert(mkey, (values, t.elapsed().as_secs_f64()));
                } else {
                    results[pi].decision_seconds += memo.rules[&mkey].1;
                }
                let wanted = order_up_to(
                    &memo.rules[&mkey].0,
                    &positions,
                    &sku_params,
                    &economics,
                    &levels,
                    review,
                );
                ordered[pi] = fit_budget(wanted, &sku_params, cfg);
                results[pi].decision_seconds += t.elapsed().as_secs_f64();
            }
        }

        // Serve the week.
        let serving = Serving {
            week,
            w,
            demand: &demand,
            sku_params: &sku_params,
            economics: &economics,
            shortage: o.shortage,
            weeks: o.weeks,
            cfg,
        };
        for (pi, result) in results.iter_mut().enumerate() {
            let (rec, with_demand, units) =
                serving.serve(pi, &mut states[pi], &ordered[pi], result, &mut trajectories);
            if pi == 0 {
                demand_weeks += with_demand;
                total_demand += units;
            }
            weekly.push(rec);
        }
        progress(w + 1, o.weeks);
    }
    for r in &mut results {
        let served = total_demand - r.units_short;
        r.fill_rate = if total_demand > 0.0 {
            served / total_demand
        } else {
            1.0
        };
        r.stockout_share = r.stockout_weeks as f64 / demand_weeks.max(1) as f64;
        r.ordering_cost = r.orders as f64 * cfg.defaults.order_cost;
        r.total_cost = r.holding_cost + r.shortage_cost + r.ordering_cost;
    }
    let summary = SimulationSummary {
        start: start.to_string(),
        end: ds.last_week.to_string(),
        weeks: o.weeks,
        review_period_weeks: review,
        shortage: o.shortage,
        skus: ids.len(),
        skus_without_history: ds.series.len() - ids.len(),
        service_level: cfg.service.level,
        weekly_budget: cfg.budget.weekly,
        warehouse_volume: cfg.capacity.warehouse_volume,
        solver,
        plan_status,
        max_plan_gap,
        protection_cases,
        policies: results,
        by_class: by_class(
            &trajectories,
            &crate::classes::classify(&history_view, start.offset(-1))
                .iter()
                .map(|c| c.label())
                .collect::<Vec<_>>(),
            &sku_params,
            &economics,
            o.weeks,
        ),
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok(Simulation {
        summary,
        weekly,
        skus: ids,
        start,
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
