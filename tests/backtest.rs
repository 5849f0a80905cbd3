//! Backtests and inventory simulations on a trained run: only the past is seen at a cutoff or a
//! review week, every model is scored on the same series, stock is conserved week by week, and
//! budgets hold.

use std::collections::HashMap;

use restock_backtest::simulate::POLICIES;
use restock_backtest::{
    BacktestOptions, Error, ReplayInputs, RunWeeks, ServiceTarget, Shortage, SimulationOptions,
    backtest, simulate, sweep,
};
use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_infer::Network;
use restock_planner::{PlanConfig, SkuParams};

use crate::forecast::trained;

/// The replay's inputs, as the tests give them.
fn replay<'a>(
    network: &'a Network,
    run_weeks: RunWeeks,
    ds: &'a WeeklyDataset,
    params: &'a HashMap<String, SkuParams>,
    cfg: &'a PlanConfig,
) -> ReplayInputs<'a> {
    ReplayInputs {
        network,
        run_weeks,
        ds,
        params,
        cfg,
    }
}

fn options(windows: usize, step: usize) -> BacktestOptions {
    BacktestOptions {
        windows,
        step,
        horizon: 4,
        min_history: 12,
        group_by: Some("category".into()),
        ..Default::default()
    }
}

/// The dataset with demand after `after` multiplied by 10.
fn future_changed(ds: &WeeklyDataset, after: Week) -> WeeklyDataset {
    let mut ds = ds.clone();
    for s in &mut ds.series {
        for t in 0..s.y.len() {
            if s.week(t) > after {
                s.y[t] = s.y[t] * 10.0 + 3.0;
            }
        }
    }
    ds
}

#[test]
fn backtest_scores_every_model_from_held_out_cutoffs_only() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let ds = &data.dataset;
    let network = Network::open(run.path(), None).unwrap();
    let weeks = RunWeeks::of(run.summary().unwrap().as_ref());
    assert_eq!(weeks.train_end, Some(data.train_end));
    assert_eq!(weeks.valid_end, Some(data.valid_end));

    let bt = backtest(&network, weeks, ds, &options(2, 2), &mut |_, _| {}).unwrap();
    let s = &bt.summary;
    assert_eq!(s.models.len(), 2 + restock_stats::Baseline::NAMES.len());
    assert_eq!(s.models.last().map(String::as_str), Some("auto_arima"));
    assert_eq!(s.models[..2], ["restock".to_string(), "lstm".to_string()]);
    let last = ds.last_week;
    let cuts: Vec<String> = s.cutoffs.iter().map(|c| c.cutoff.clone()).collect();
    assert_eq!(
        cuts,
        [last.offset(-6).to_string(), last.offset(-4).to_string()]
    );
    // Both cutoffs are after the training weeks; the first forecasts validation weeks (which
    // chose the epoch), the second exactly the test weeks.
    assert!(s.cutoffs.iter().all(|c| !c.in_training));
    assert!(s.cutoffs[0].in_validation && !s.cutoffs[1].in_validation);
    // Every model is scored on the same series at each cutoff.
    for (ci, c) in s.cutoffs.iter().enumerate() {
        assert!(c.series > 20, "{c:?}");
        for m in 0..s.models.len() {
            let n = bt
                .forecasts
                .iter()
                .filter(|f| f.cutoff == ci && f.model == m)
                .count();
            assert_eq!(n, c.series, "{} at {}", s.models[m], c.cutoff);
        }
    }
    assert_eq!(s.overall.len(), s.models.len());
    for r in &s.overall {
        assert!(
            r.accuracy.wape.is_finite() && r.accuracy.wape > 0.0,
            "{r:?}"
        );
        assert_eq!(
            r.accuracy.series,
            s.cutoffs.iter().map(|c| c.series).sum::<usize>()
        );
    }
    for dim in ["cutoff", "abc", "xyz", "category"] {
        assert!(s.slices.iter().any(|r| r.dimension == dim), "{dim}");
    }
    // Protection-interval coverage: every model at every level, never falling as the level rises
    // (the planner's order-up-to level only grows with it), and the network's median-level
    // coverage computed again here from its forecasts and the actuals.
    let levels = restock_backtest::backtest::PROTECTION_LEVELS;
    assert_eq!(s.protection.len(), s.models.len() * levels.len());
    for m in &s.models {
        let shares: Vec<f64> = s
            .protection
            .iter()
            .filter(|p| p.model == *m)
            .map(|p| p.share)
            .collect();
        assert!(shares.windows(2).all(|w| w[0] <= w[1]), "{m} {shares:?}");
        assert!(
            shares.iter().all(|v| (0.0..=1.0).contains(v)),
            "{m} {shares:?}"
        );
    }
    let (mut hits, mut n) = (0, 0);
    let (mut over, mut total) = (0.0, 0.0);
    for f in bt.forecasts.iter().filter(|f| f.model == 1) {
        let series = &ds.series[f.sku];
        let cut = last.offset(if f.cutoff == 0 { -6 } else { -4 });
        let from = (series.start.weeks_until(cut) + 1) as usize;
        let demand: f64 = series.y[from..from + 3].iter().sum();
        let mean: f64 = f
            .values
            .chunks(3)
            .take(3)
            .map(|q| restock_planner::expected_demand(q, &s.levels))
            .sum();
        hits += usize::from(demand <= mean + 1e-9);
        n += 1;
        over += mean - demand;
        total += demand;
    }
    let at_median = s
        .protection
        .iter()
        .find(|p| p.model == "lstm" && p.level == 0.5)
        .unwrap();
    // The normal rule's level at 0.5 is the expected demand over the interval.
    let normal = at_median.normal_share.unwrap();
    assert!((normal - hits as f64 / n as f64).abs() < 1e-12);
    // The bias of that expected demand, and of the calibrated distribution's mean: one row per
    // model, the first computed again here.
    assert_eq!(s.protection_mean.len(), s.models.len());
    let lstm = s
        .protection_mean
        .iter()
        .find(|p| p.model == "lstm")
        .unwrap();
    assert_eq!(lstm.weeks, 3);
    assert!((lstm.quantile_bias - over / total).abs() < 1e-9, "{lstm:?}");
    assert!(
        s.protection_mean
            .iter()
            .all(|p| p.calibrated_bias.is_finite() && p.calibrated_bias >= -1.0),
        "{:?}",
        s.protection_mean
    );
    assert!(
        bt.summary
            .table()
            .contains("bias of expected demand over 3 weeks")
    );

    // restock's forecasts at the last cutoff are what the forecast job writes from the data cut
    // there, given the plan (events, prices, promotions) recorded for the weeks after it.
    let cut = last.offset(-4);
    let truncated = dir.path().join("cut.parquet");
    ds.truncate(cut).unwrap().write(&truncated).unwrap();
    let plan = dir.path().join("plan.csv");
    let (price, promo) = (
        ds.covariate_index("price").unwrap(),
        ds.covariate_index("promo").unwrap(),
    );
    let mut text = String::from("unique_id,ds,event_days,price,promo\n");
    for s in &ds.series {
        for h in 1..=4 {
            let week = cut.offset(h);
            let t = s.start.weeks_until(week) as usize;
            text.push_str(&format!(
                "{},{week},{},{},{}\n",
                s.unique_id,
                ds.event_days_of(week),
                s.covariates[price][t],
                s.covariates[promo][t]
            ));
        }
    }
    std::fs::write(&plan, text).unwrap();
    let out = dir.path().join("f.parquet");
    let job = restock_infer::ForecastOptions {
        horizon: 4,
        future: Some(plan),
        ..Default::default()
    };
    restock_infer::forecast(run.path(), &truncated, &out, &job, &mut |_, _, _| {}).unwrap();
    let df = restock_data::table::scan(&out).unwrap().collect().unwrap();
    let ids = df.column("unique_id").unwrap().str().unwrap().clone();
    let q50 = df.column("q50").unwrap().f64().unwrap().clone();
    let mut written: HashMap<String, Vec<f64>> = HashMap::new();
    for i in 0..df.height() {
        written
            .entry(ids.get(i).unwrap().to_string())
            .or_default()
            .push(q50.get(i).unwrap());
    }
    let mut compared = 0;
    for f in bt
        .forecasts
        .iter()
        .filter(|f| f.cutoff == 1 && f.model == 0)
    {
        let id = &ds.series[f.sku].unique_id;
        let medians: Vec<f64> = (0..4).map(|h| f.values[h * 3 + 1]).collect();
        assert_eq!(&medians, &written[id], "{id}");
        compared += 1;
    }
    assert_eq!(compared, s.cutoffs[1].series);

    // Demand after the first cutoff changes the scores, never the forecasts made at it.
    let first = last.offset(-6);
    let changed = future_changed(ds, first);
    let bt2 = backtest(&network, weeks, &changed, &options(2, 2), &mut |_, _| {}).unwrap();
    let at_first = |b: &restock_backtest::Backtest| -> Vec<Vec<f64>> {
        b.forecasts
            .iter()
            .filter(|f| f.cutoff == 0)
            .map(|f| f.values.clone())
            .collect()
    };
    assert_eq!(at_first(&bt), at_first(&bt2));
    assert_ne!(
        s.overall[0].accuracy.wape,
        bt2.summary.overall[0].accuracy.wape
    );

    // A cutoff inside the training weeks is refused, unless asked for, and then flagged.
    let err = backtest(&network, weeks, ds, &options(3, 4), &mut |_, _| {}).unwrap_err();
    assert!(matches!(err, Error::InSample { .. }), "{err}");
    assert!(err.to_string().contains("--allow-in-sample"), "{err}");
    let mut o = options(3, 4);
    o.allow_in_sample = true;
    let inside = backtest(&network, weeks, ds, &o, &mut |_, _| {}).unwrap();
    assert!(inside.summary.cutoffs[0].in_training);

    // A bad group and a too-long horizon are clear errors.
    let mut o = options(1, 1);
    o.group_by = Some("colour".into());
    let err = backtest(&network, weeks, ds, &o, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("colour") && err.to_string().contains("category"));
    let mut o = options(1, 1);
    o.protection_weeks = 5;
    let err = backtest(&network, weeks, ds, &o, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("--protection-weeks 5"), "{err}");
    let mut o = options(1, 1);
    o.horizon = 9;
    let err = backtest(&network, weeks, ds, &o, &mut |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("at most 4"), "{err}");

    // Files.
    let out = dir.path().join("bt");
    bt.write(ds, &out).unwrap();
    for f in [
        "backtest.json",
        "accuracy.csv",
        "scores.parquet",
        "forecasts.parquet",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let json: restock_backtest::BacktestSummary =
        serde_json::from_str(&std::fs::read_to_string(out.join("backtest.json")).unwrap()).unwrap();
    assert_eq!(json.overall.len(), bt.summary.overall.len());
}

fn params(ds: &WeeklyDataset) -> HashMap<String, SkuParams> {
    ds.series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut p = SkuParams::from_defaults(&PlanConfig::default(), 2.0 + (i % 3) as f64);
            p.unit_price = Some(p.unit_cost * 1.5);
            p.lead_time_weeks = 1 + i % 2;
            p.case_pack = if i % 4 == 0 { 6 } else { 1 };
            (s.unique_id.clone(), p)
        })
        .collect()
}

fn plan_config(budget: f64) -> PlanConfig {
    let mut cfg = PlanConfig::default();
    cfg.horizon.weeks = 4;
    cfg.budget.weekly = Some(budget);
    cfg.solver.time_limit_seconds = 5.0;
    cfg.solver.mip_gap = 0.01;
    cfg
}

#[test]
fn simulation_conserves_stock_respects_the_budget_and_sees_only_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let ds = &data.dataset;
    let network = Network::open(run.path(), None).unwrap();
    let weeks = RunWeeks::of(run.summary().unwrap().as_ref());
    let params = params(ds);
    // A budget below the catalogue's weekly purchases at cost, so that it binds.
    let weekly_cost: f64 = ds
        .series
        .iter()
        .map(|s| s.y.iter().rev().take(8).sum::<f64>() / 8.0 * params[&s.unique_id].unit_cost)
        .sum();
    let cfg = plan_config(0.8 * weekly_cost);
    let opts = SimulationOptions {
        weeks: 6,
        ..Default::default()
    };
    let sim = simulate(
        replay(&network, weeks, ds, &params, &cfg),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    let s = &sim.summary;
    assert_eq!(s.weeks, 6);
    // Under a binding budget, no plan spends over it in any week.
    assert_eq!(s.planned_over_limits, 0);
    assert_eq!(s.policies.len(), POLICIES.len());
    let names: Vec<&str> = s.policies.iter().map(|r| r.policy.as_str()).collect();
    assert_eq!(
        names,
        [
            "restock",
            "order_up_to",
            "order_up_to_tsb",
            "order_up_to_arima"
        ]
    );
    assert!(s.skus > 30, "{s:?}");
    for r in &s.policies {
        assert!((0.0..=1.0).contains(&r.fill_rate), "{r:?}");
        assert_eq!(r.weeks_over_budget, 0, "{r:?}");
        assert!(r.max_weekly_spend <= 0.8 * weekly_cost + 1e-6, "{r:?}");
        assert!(r.orders > 0, "{r:?}");
        assert!((r.total_cost - r.holding_cost - r.shortage_cost - r.ordering_cost).abs() < 1e-6);
    }
    // The class breakdown adds up to each policy's totals.
    for r in &s.policies {
        let rows: Vec<_> = s.by_class.iter().filter(|c| c.policy == r.policy).collect();
        assert!(rows.len() >= 2, "{:?}", s.by_class);
        assert_eq!(rows.iter().map(|c| c.skus).sum::<usize>(), s.skus);
        let stock: f64 = rows.iter().map(|c| c.avg_stock_value).sum();
        assert!((stock - r.avg_stock_value).abs() < 1e-6 * r.avg_stock_value.max(1.0));
        let cost: f64 = rows.iter().map(|c| c.cost).sum();
        assert!((cost - r.holding_cost - r.shortage_cost).abs() < 1e-6 * cost.max(1.0));
        // The policy's share of demand weeks without a stock-out is a weighted mean of its
        // classes' shares.
        let cycle: Vec<f64> = rows.iter().map(|c| c.cycle_service.unwrap()).collect();
        let overall = 1.0 - r.stockout_share;
        let (lo, hi) = cycle
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &c| {
                (a.min(c), b.max(c))
            });
        assert!(
            lo - 1e-9 <= overall && overall <= hi + 1e-9,
            "{overall} {cycle:?}"
        );
    }
    // Per SKU and policy: stock is conserved, orders arrive after their lead time, nothing is
    // served that was not there.
    for (pi, _) in POLICIES.iter().enumerate() {
        let mut served = 0.0;
        let mut demand = 0.0;
        // Each unit lost costs its lost margin (price 1.5 × cost: half its cost), not its price.
        let mut lost_margin = 0.0;
        // The same on the SKU-weeks from each SKU's lead time on, and its stock-outs there.
        let (mut reached_served, mut reached_demand) = (0.0, 0.0);
        let (mut reached_weeks, mut reached_stockouts) = (0usize, 0usize);
        // And what they cost (holding + lost margin), and each SKU's mean stock value there.
        let (mut reached_cost, mut reached_value) = (0.0, 0.0);
        for (i, id) in sim.skus.iter().enumerate() {
            let e = restock_planner::Economics::of(&params[id], &cfg);
            let rows: Vec<_> = sim
                .trajectories
                .iter()
                .filter(|r| r.policy == pi && r.sku == i)
                .collect();
            assert_eq!(rows.len(), 6);
            let lead = params[id].lead_time_weeks;
            let mut previous: Option<f64> = None;
            for (w, r) in rows.iter().enumerate() {
                assert!(r.served <= r.demand + 1e-9 && r.served >= 0.0);
                if let Some(p) = previous {
                    assert!(
                        (r.stock - (p + r.arrived - r.served)).abs() < 1e-6,
                        "{id} week {w}"
                    );
                    assert!(r.served <= p + r.arrived + 1e-9);
                }
                if w >= lead {
                    assert_eq!(r.arrived, rows[w - lead].ordered, "{id} week {w}");
                }
                assert!(r.stock >= -1e-9, "lost sales: stock never negative");
                previous = Some(r.stock);
                served += r.served;
                demand += r.demand;
                lost_margin += (r.demand - r.served) * 0.5 * params[id].unit_cost;
                if w >= lead {
                    reached_served += r.served;
                    reached_demand += r.demand;
                    reached_weeks += usize::from(r.demand > 0.0);
                    reached_stockouts += usize::from(r.demand - r.served > 1e-9);
                    reached_cost += r.stock * e.holding + (r.demand - r.served) * e.lost_margin;
                    reached_value += r.stock * params[id].unit_cost / (rows.len() - lead) as f64;
                }
            }
        }
        let p = &s.policies[pi];
        assert!((p.fill_rate - served / demand).abs() < 1e-9);
        assert!(
            (p.shortage_cost - lost_margin).abs() < 1e-6 * lost_margin.max(1.0),
            "{} against {lost_margin}",
            p.shortage_cost
        );
        assert!(reached_demand > 0.0 && reached_weeks > 0 && reached_demand < demand);
        assert!((p.fill_rate_ordered - reached_served / reached_demand).abs() < 1e-9);
        let cycle = 1.0 - reached_stockouts as f64 / reached_weeks as f64;
        assert!((p.cycle_service_ordered - cycle).abs() < 1e-9, "{p:?}");
        let cost = reached_cost + p.ordering_cost;
        assert!(
            (p.total_cost_ordered - cost).abs() < 1e-6 * cost.max(1.0),
            "{} against {cost}",
            p.total_cost_ordered
        );
        assert!(p.total_cost_ordered < p.total_cost, "{p:?}");
        assert!(
            (p.avg_stock_value_ordered - reached_value).abs() < 1e-6 * reached_value.max(1.0),
            "{} against {reached_value}",
            p.avg_stock_value_ordered
        );
    }

    // Demand in the last two weeks cannot change the orders placed before them.
    let last = ds.last_week;
    let changed = future_changed(ds, last.offset(-2));
    let sim2 = simulate(
        replay(&network, weeks, &changed, &params, &cfg),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    let orders = |x: &restock_backtest::Simulation| -> Vec<f64> {
        x.trajectories
            .iter()
            .filter(|r| r.week <= 3)
            .map(|r| r.ordered)
            .collect()
    };
    assert_eq!(orders(&sim), orders(&sim2));

    // Backorders: unserved demand waits, so stock = previous + arrived - demand.
    let back = SimulationOptions {
        weeks: 6,
        shortage: Shortage::Backorders,
        ..Default::default()
    };
    let sim3 = simulate(
        replay(&network, weeks, ds, &params, &cfg),
        &back,
        &mut |_, _| {},
    )
    .unwrap();
    let mut negative = false;
    for pi in 0..2 {
        for i in 0..sim3.skus.len() {
            let rows: Vec<_> = sim3
                .trajectories
                .iter()
                .filter(|r| r.policy == pi && r.sku == i)
                .collect();
            for w in 1..rows.len() {
                let expect = rows[w - 1].stock + rows[w].arrived - rows[w].demand;
                assert!((rows[w].stock - expect).abs() < 1e-6);
                negative |= rows[w].stock < 0.0;
            }
        }
    }
    assert!(negative, "a binding budget leaves some demand backordered");

    // Weeks the network was fitted on are refused; a SKU without parameters is named.
    let err = simulate(
        replay(&network, weeks, ds, &params, &cfg),
        &SimulationOptions {
            weeks: 12,
            ..Default::default()
        },
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(matches!(err, Error::InSample { .. }), "{err}");
    let mut missing = params.clone();
    let gone = ds.series[0].unique_id.clone();
    missing.remove(&gone);
    let err = simulate(
        replay(&network, weeks, ds, &missing, &cfg),
        &opts,
        &mut |_, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains(&gone), "{err}");

    // Files.
    let out = dir.path().join("sim");
    sim.write(&out).unwrap();
    for f in ["simulation.json", "weekly.csv", "trajectories.parquet"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

#[test]
fn the_sweep_replays_every_policy_at_every_target_on_the_same_demand() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let ds = &data.dataset;
    let network = Network::open(run.path(), None).unwrap();
    let weeks = RunWeeks::of(run.summary().unwrap().as_ref());
    let params = params(ds);
    let mut cfg = plan_config(0.0);
    cfg.budget.weekly = None;
    let opts = SimulationOptions {
        weeks: 4,
        ..Default::default()
    };
    let targets = [
        ServiceTarget::Level(0.7),
        ServiceTarget::Level(0.95),
        ServiceTarget::Economic,
    ];
    let mut calls = 0;
    let s = sweep(
        replay(&network, weeks, ds, &params, &cfg),
        &opts,
        &targets,
        &mut restock_backtest::ReplayMemo::default(),
        &mut |_, _| calls += 1,
    )
    .unwrap();
    assert_eq!(calls, 3);
    assert_eq!(s.points.len(), 3 * POLICIES.len());
    for (t, target) in ["0.7", "0.95", "economic"].iter().enumerate() {
        let at: Vec<&str> = s.points[t * POLICIES.len()..(t + 1) * POLICIES.len()]
            .iter()
            .map(|p| {
                assert_eq!(p.target, *target);
                assert!((p.cycle_service - (1.0 - p.result.stockout_share)).abs() < 1e-12);
                p.result.policy.as_str()
            })
            .collect();
        assert_eq!(at, POLICIES);
    }
    // Each point is the simulation at that target: the 0.95 point is the plain simulation
    // with the config's level set to 0.95 (its forecasts made afresh, not from the sweep's memo).
    let mut at_95 = cfg.clone();
    at_95.service.level = 0.95;
    let plain = simulate(
        replay(&network, weeks, ds, &params, &at_95),
        &opts,
        &mut |_, _| {},
    )
    .unwrap();
    for (p, r) in s.points[POLICIES.len()..2 * POLICIES.len()]
        .iter()
        .zip(&plain.summary.policies)
    {
        assert_eq!(p.result.fill_rate, r.fill_rate);
        assert_eq!(p.result.avg_stock_value, r.avg_stock_value);
    }
    // A higher target buys fill rate with stock for the order-up-to rules.
    for b in &POLICIES[1..] {
        let of = |t: &str| {
            s.points
                .iter()
                .find(|p| p.target == t && p.result.policy == *b)
                .unwrap()
                .result
                .clone()
        };
        assert!(
            of("0.95").avg_stock_value > of("0.7").avg_stock_value,
            "{b}"
        );
        assert!(of("0.95").fill_rate >= of("0.7").fill_rate, "{b}");
    }
    assert_eq!(s.equal_fill.len(), 3);
    assert!(s.economic_cost_ratio.is_some());
    assert_eq!(s.limits_exceeded, 0);
    let out = dir.path().join("sweep");
    std::fs::create_dir_all(&out).unwrap();
    s.write(&out).unwrap();
    let back: restock_backtest::Sweep =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(back.points.len(), s.points.len());
}

#[test]
fn an_ensemble_serves_the_mean_of_the_network_and_its_members() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let ds = &data.dataset;
    let mut network = Network::open(run.path(), None).unwrap();
    let members = restock_infer::parse_members(&["tsb".into(), "auto_ets".into()]).unwrap();
    network.combine_with(members).unwrap();
    let err = restock_infer::parse_members(&["prophet".into()]).unwrap_err();
    assert!(err.to_string().contains("--combine \"prophet\""), "{err}");
    // This run has no trees: they cannot be combined.
    let trees = restock_infer::parse_members(&["lightgbm".into()]).unwrap();
    let mut alone = Network::open(run.path(), None).unwrap();
    let err = alone.combine_with(trees).unwrap_err();
    assert!(err.to_string().contains("this run has no trees"), "{err}");
    let weeks = RunWeeks::of(run.summary().unwrap().as_ref());
    let bt = backtest(&network, weeks, ds, &options(2, 2), &mut |_, _| {}).unwrap();
    let s = &bt.summary;
    let col = |name: &str| s.models.iter().position(|m| m == name).unwrap();
    let (restock, lstm, tsb, ets) = (col("restock"), col("lstm"), col("tsb"), col("auto_ets"));
    // Per SKU and cutoff: restock serves the mean of the network's and the members' quantiles
    // (or a fallback, for the SKUs the network does not serve).
    let mut by_key: HashMap<(usize, usize), HashMap<usize, &Vec<f64>>> = HashMap::new();
    for f in &bt.forecasts {
        by_key
            .entry((f.sku, f.cutoff))
            .or_default()
            .insert(f.model, &f.values);
    }
    let mut combined = 0;
    for m in by_key.values() {
        let mean: Vec<f64> = (0..m[&lstm].len())
            .map(|j| (m[&lstm][j] + m[&tsb][j] + m[&ets][j]) / 3.0)
            .collect();
        if m[&restock]
            .iter()
            .zip(&mean)
            .all(|(a, b)| (a - b).abs() < 1e-9)
        {
            combined += 1;
        }
    }
    assert!(
        combined * 10 >= by_key.len() * 8,
        "{combined} of {}",
        by_key.len()
    );
    // The mean of median forecasts errs at most the members' mean error at every point (the
    // triangle inequality), so the ensemble's WAPE is at most the members' mean WAPE, up to the
    // SKUs routed to a fallback instead (0.03 of noise here).
    let wape = |m: usize| {
        let r = s.overall.iter().find(|r| r.model == s.models[m]).unwrap();
        r.accuracy.wape
    };
    let members = [lstm, tsb, ets].map(wape).into_iter().sum::<f64>() / 3.0;
    eprintln!(
        "ensemble {:.3}, lstm {:.3}, tsb {:.3}, auto_ets {:.3}",
        wape(restock),
        wape(lstm),
        wape(tsb),
        wape(ets)
    );
    assert!(
        wape(restock) <= members + 0.03,
        "{} > {members} + 0.03",
        wape(restock)
    );
}

#[test]
fn cold_starts_are_scored_on_skus_launched_after_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let ds = restock_tests::synthetic_weekly(dir.path(), 300, 156);
    // Split at the median launch week of the SKUs launched in the data.
    let mut launched: Vec<Week> = ds
        .series
        .iter()
        .filter(|s| s.start > ds.first_week)
        .map(|s| s.start)
        .collect();
    launched.sort();
    assert!(launched.len() >= 20, "{} launches", launched.len());
    // The latest launch week with enough whole 26-week profiles before it and a SKU launched
    // after it with 8 weeks to score.
    let whole_before = |split: Week| launched.iter().filter(|w| w.offset(25) <= split).count();
    let scorable_after = |split: Week| {
        ds.series
            .iter()
            .filter(|s| s.start > split && s.y.len() >= 8)
            .count()
    };
    let split = *launched
        .iter()
        .rev()
        .find(|&&w| whole_before(w) >= restock_stats::launch::MIN_LAUNCHES && scorable_after(w) > 0)
        .expect("a split with launches on both sides");
    let c = restock_backtest::cold_start(&ds, split, &[1, 2, 4], 4).unwrap();
    assert!(c.launches >= restock_stats::launch::MIN_LAUNCHES);
    assert_eq!(c.ages.iter().map(|a| a.age).collect::<Vec<_>>(), [1, 2, 4]);
    // Exactly the SKUs launched after the split with age + 4 weeks of data are scored.
    for a in &c.ages {
        let want = ds
            .series
            .iter()
            .filter(|s| s.start > split && s.y.len() >= a.age + 4)
            .count();
        assert_eq!(a.skus, want);
        assert!(a.skus > 0);
        // The trees, fitted on the catalogue up to the split, are scored on the same SKUs.
        let trees = a.trees_wape.expect("trees fitted on 300 SKUs");
        for v in [a.curve_wape, a.moving_average_wape, trees] {
            assert!(v.is_finite() && v >= 0.0, "{a:?}");
        }
        assert!(a.trees_bias.is_some_and(f64::is_finite), "{a:?}");
    }
    assert!(c.table().contains("moving average WAPE"));
    assert!(c.table().contains("trees WAPE"));
    // A split before any launch: a clear error.
    let err = restock_backtest::cold_start(&ds, ds.first_week, &[1], 4).unwrap_err();
    assert!(err.to_string().contains("too few"), "{err}");
}
