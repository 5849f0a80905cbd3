//! Hand-checkable planning cases: newsvendor, order-up-to with lead times, case packs, MOQ, on-order
//! stock, a binding budget on three SKUs, impossible limits, bad inputs, and the synthetic chain.

use rand::SeedableRng;
use rand_distr::{Distribution, Poisson};
use restock_core::{OrderReason, Quantiles, Week};
use restock_planner::config::SolverKind;
use restock_planner::io::{PlanFiles, load};
use restock_planner::{PlanConfig, PlanInputs, SkuInput, SkuParams, plan};
use restock_stats::ProtectionCalibration;

fn week0() -> Week {
    Week::from_monday(chrono::NaiveDate::from_ymd_opt(2024, 6, 3).unwrap()).unwrap()
}

fn cfg(weeks: usize) -> PlanConfig {
    let mut c = PlanConfig::default();
    c.horizon.weeks = weeks;
    c
}

/// A SKU with flat demand: median `mu`, q10/q90 at mu ∓ 1.2816 sigma.
fn sku(id: &str, mu: f64, sigma: f64, weeks: usize, on_hand: f64, params: SkuParams) -> SkuInput {
    let z = 1.2815515655446004;
    SkuInput {
        unique_id: id.into(),
        forecast: vec![vec![(mu - z * sigma).max(0.0), mu, mu + z * sigma]; weeks],
        on_hand,
        on_order: vec![],
        params,
    }
}

fn params(cost: f64, price: f64, lead: usize) -> SkuParams {
    let mut p = SkuParams::from_defaults(&PlanConfig::default(), cost);
    p.unit_price = Some(price);
    p.lead_time_weeks = lead;
    p
}

fn inputs(skus: Vec<SkuInput>) -> PlanInputs {
    PlanInputs {
        start: week0(),
        levels: Quantiles::default(),
        skus,
        protection: None,
    }
}

fn no_progress(_: usize) {}

#[test]
fn newsvendor_orders_the_critical_ratio_quantile() {
    // One week, no lead time, demand ~ N(100, 10). Unit cost 2, price 11: underage (lost margin) 9,
    // overage h = 1 per unit-week (holding rate 1/2 of cost; the leftover keeps its cost):
    // critical ratio 9 / (9 + 1) = 0.9 -> order 100 + 1.2816 * 10 = 112.8 -> 113 whole units.
    let mut c = cfg(1);
    c.service.critical_ratio = true;
    c.defaults.holding_rate_per_week = 1.0 / 2.0;
    // Honour the safety stock: a unit below it costs more than holding one more unit.
    c.defaults.safety_shortfall_factor = 1.0;
    for solver in [SolverKind::Highs, SolverKind::Microlp] {
        c.solver.backend = solver;
        let p = plan(
            &inputs(vec![sku("A", 100.0, 10.0, 1, 0.0, params(2.0, 11.0, 0))]),
            &c,
            &no_progress,
        )
        .unwrap();
        assert_eq!(p.orders.len(), 1, "{solver:?}");
        assert_eq!(p.orders[0].quantity, 113.0, "{solver:?}");
        assert!((p.skus[0].safety_stock - 12.8155).abs() < 1e-3);
        assert_eq!(p.summary.solver, solver.as_str());
        assert_eq!(p.summary.method, "dynamic_program");
    }
}

#[test]
fn order_up_to_with_lead_time_and_on_order_stock() {
    // Demand 10/week, sigma 2, lead time 1, review 1, service 95 %: SS = 1.645 * 2 * sqrt(2) = 4.65.
    // On hand 5 covers half of week 0 (5 lost, unavoidable); the order placed in week 0 arrives in
    // week 1 and lifts stock to SS: 10 + 4.65 -> 15 units; then 10 a week; none arrives after the end.
    // (The textbook level, a backorder system's: `service.lost_sales` off.)
    let mut c = cfg(6);
    c.service.lost_sales = false;
    let p = plan(
        &inputs(vec![sku("A", 10.0, 2.0, 6, 5.0, params(1.0, 3.0, 1))]),
        &c,
        &no_progress,
    )
    .unwrap();
    let ss = 1.6448536269514722 * 2.0 * 2f64.sqrt();
    assert!((p.skus[0].safety_stock - ss).abs() < 1e-6);
    let q: Vec<f64> = p.orders.iter().map(|o| o.quantity).collect();
    assert_eq!(q, vec![15.0, 10.0, 10.0, 10.0, 10.0]);
    for o in &p.orders {
        assert_eq!(
            o.order_week.weeks_until(o.arrival_week),
            1,
            "lead time shifts arrivals"
        );
    }
    assert_eq!(p.orders[0].reason, OrderReason::ForecastDemand);
    assert!((p.skus[0].unmet[0] - 5.0).abs() < 1e-6);
    assert_eq!(p.summary.skus_short[0].units_short_within_lead_time, 5.0);

    // 12 units already on order for week 1 reduce the first order by 12.
    let mut s = sku("A", 10.0, 2.0, 6, 5.0, params(1.0, 3.0, 1));
    s.on_order = vec![(1, 12.0)];
    let p = plan(&inputs(vec![s]), &c, &no_progress).unwrap();
    assert_eq!(p.orders[0].quantity, 3.0);

    // 21 on hand leaves 1 unit at the end of week 1 without an order: topped up to the safety stock.
    let p = plan(
        &inputs(vec![sku("A", 10.0, 2.0, 6, 21.0, params(1.0, 3.0, 1))]),
        &c,
        &no_progress,
    )
    .unwrap();
    assert_eq!(p.orders[0].quantity, 4.0);
    assert_eq!(p.orders[0].reason, OrderReason::BelowSafetyStock);
    assert!(p.summary.skus_short.is_empty());
}

/// The exact `alpha` quantile of Poisson(`mu`).
fn poisson_quantile(mu: f64, alpha: f64) -> f64 {
    let (mut p, mut cdf) = ((-mu).exp(), (-mu).exp());
    let mut x = 0.0;
    while cdf < alpha {
        x += 1.0;
        p *= mu / x;
        cdf += p;
    }
    x
}

/// The protection calibration of a forecaster that gives every week the quantiles `week`
/// (q10, q50, q90) of i.i.d. Poisson(`mu`) demand, fitted on 20,000 sampled 3-week paths.
fn poisson_calibration(week: &[f64], mu: f64, seed: u64) -> ProtectionCalibration {
    let values: Vec<f64> = (0..3).flat_map(|_| week.to_vec()).collect();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let poisson = Poisson::new(mu).unwrap();
    let mut cases = Vec::new();
    for _ in 0..20_000 {
        let actual: Vec<f64> = (0..3).map(|_| poisson.sample(&mut rng)).collect();
        cases.extend(ProtectionCalibration::cases_of(
            &values,
            &[0.1, 0.5, 0.9],
            &actual,
            0,
        ));
    }
    ProtectionCalibration::fit(3, &cases).unwrap()
}

#[test]
fn calibrated_poisson_sku_gets_the_textbook_order_up_to_level() {
    // Weekly demand i.i.d. Poisson(4), forecast with its exact q10/q50/q90 (2, 4, 7); the
    // forecaster's protection calibration is fitted on 20,000 sampled 3-week paths. The
    // order-up-to level (expected demand over the protection interval + safety stock) must be
    // the exact quantile of Poisson(4 P): at a service level, and at the newsvendor critical
    // ratio.
    let week = vec![2.0, 4.0, 7.0];
    let calibration = poisson_calibration(&week, 4.0, 11);
    let mean_week = 0.3 * 2.0 + 0.4 * 4.0 + 0.3 * 7.0; // Swanson's rule, as the planner takes it
    let one = |lead: usize, weeks: usize, c: &PlanConfig| {
        let mut inputs = inputs(vec![SkuInput {
            unique_id: "A".into(),
            forecast: vec![week.clone(); weeks],
            on_hand: 0.0,
            on_order: vec![],
            params: params(2.0, 11.0, lead),
        }]);
        inputs.protection = Some(calibration.clone());
        plan(&inputs, c, &no_progress).unwrap()
    };
    // Service level 0.95, lead time 1 + review 1: Poisson(8)'s 0.95 quantile, 13 (the level
    // of a backorder system; a lost-sales one is `a_lost_sales_level_keeps_its_target_...`).
    let mut c = cfg(3);
    c.service.level = 0.95;
    c.service.lost_sales = false;
    let p = one(1, 3, &c);
    let level = 2.0 * mean_week + p.skus[0].safety_stock;
    assert!(
        (level - poisson_quantile(8.0, 0.95)).abs() < 1e-6,
        "{level}"
    );
    // Newsvendor: one week, no lead time, cost 2, price 11, holding 1 per unit-week: critical
    // ratio 0.9, Poisson(4)'s 0.9 quantile is 7, ordered from zero stock.
    let mut c = cfg(1);
    c.service.critical_ratio = true;
    c.defaults.holding_rate_per_week = 1.0 / 2.0;
    c.defaults.safety_shortfall_factor = 1.0;
    let p = one(0, 1, &c);
    let level = mean_week + p.skus[0].safety_stock;
    assert!((level - poisson_quantile(4.0, 0.9)).abs() < 1e-6, "{level}");
    assert_eq!(p.orders.len(), 1);
    assert_eq!(p.orders[0].quantity, 7.0);
    // The normal rule with independent weeks sets another level (here, 4.3 + 1.28 · 1.95).
    let mut inputs = inputs(vec![sku("A", 4.0, 1.0, 1, 0.0, params(2.0, 11.0, 0))]);
    inputs.skus[0].forecast = vec![week.clone()];
    let normal = plan(&inputs, &c, &no_progress).unwrap();
    assert!((normal.skus[0].safety_stock - 1.2815515655 * 5.0 / 2.563103131).abs() < 1e-6);
}

/// Share of the weeks with demand served in full by a lost-sales shop that orders up to
/// `level` every week, orders arriving `lead` weeks later, on `weeks` weeks of Poisson(`mu`).
fn lost_sales_share(mu: f64, level: f64, lead: usize, weeks: usize, seed: u64) -> f64 {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let poisson = Poisson::new(mu).unwrap();
    let (mut stock, mut pipeline) = (level, vec![0.0; lead + 1]);
    let (mut with_demand, mut full) = (0usize, 0usize);
    for _ in 0..weeks {
        let position = stock + pipeline.iter().sum::<f64>();
        pipeline[lead] += (level - position).max(0.0);
        stock += pipeline.remove(0);
        pipeline.push(0.0);
        let d: f64 = poisson.sample(&mut rng);
        if d > 0.0 {
            with_demand += 1;
            full += usize::from(d <= stock);
        }
        stock = (stock - d).max(0.0);
    }
    full as f64 / with_demand as f64
}

#[test]
fn a_lost_sales_level_keeps_its_target_on_replayed_demand() {
    // Weekly Poisson(10), forecast with its q10/q50/q90, the calibration fitted on sampled
    // 3-week paths; lead time 2, weekly review. The protection interval's 0.8 quantile is a
    // backorder system's level: a lost-sales shop ordering up to it serves more than 0.82 of its
    // weeks, because demand it lost did not take the stock. The plan's level (service.lost_sales,
    // the default) serves 0.8 within 0.02 on demand neither the calibration nor the planner saw.
    let week = vec![6.0, 10.0, 14.0];
    let calibration = poisson_calibration(&week, 10.0, 5);
    let level_at = |lost_sales: bool| {
        let mut c = cfg(4);
        c.service.level = 0.8;
        c.service.lost_sales = lost_sales;
        let mut inputs = inputs(vec![SkuInput {
            unique_id: "A".into(),
            forecast: vec![week.clone(); 4],
            on_hand: 0.0,
            on_order: vec![],
            params: params(2.0, 11.0, 2),
        }]);
        inputs.protection = Some(calibration.clone());
        let p = plan(&inputs, &c, &no_progress).unwrap();
        // The summary says which levels the plan used.
        assert_eq!(p.summary.lost_sales_levels, lost_sales);
        3.0 * (0.3 * 6.0 + 0.4 * 10.0 + 0.3 * 14.0) + p.skus[0].safety_stock
    };
    let (quantile, lost_sales) = (level_at(false), level_at(true));
    let served_at_quantile = lost_sales_share(10.0, quantile.round(), 2, 200_000, 8);
    let served = lost_sales_share(10.0, lost_sales.round(), 2, 200_000, 8);
    assert!(
        served_at_quantile > 0.82,
        "the quantile {quantile} serves {served_at_quantile}"
    );
    assert!(lost_sales < quantile, "{lost_sales} against {quantile}");
    assert!(
        (served - 0.8).abs() <= 0.02,
        "the lost-sales level {lost_sales} serves {served}"
    );
    // A fill-rate target allocates levels of the same lost-sales shop (its units served
    // simulated at each); without lost sales, quantiles chosen on the backorder formula.
    for lost_sales in [true, false] {
        let mut c = cfg(4);
        c.service.fill_rate = Some(0.9);
        c.service.lost_sales = lost_sales;
        let p = plan(
            &inputs(vec![sku("A", 10.0, 2.0, 4, 0.0, params(2.0, 11.0, 2))]),
            &c,
            &no_progress,
        )
        .unwrap();
        assert_eq!(p.summary.lost_sales_levels, lost_sales);
        assert_eq!(p.summary.service_method, "fill_rate");
        assert!(p.summary.expected_fill_rate.is_some_and(|f| f >= 0.9));
    }
}

#[test]
fn case_packs_and_moq_round_up() {
    let c = cfg(1);
    let mut pr = params(1.0, 5.0, 0);
    pr.case_pack = 6;
    let p = plan(
        &inputs(vec![sku("A", 7.0, 0.0, 1, 0.0, pr.clone())]),
        &c,
        &no_progress,
    )
    .unwrap();
    assert_eq!((p.orders[0].quantity, p.orders[0].cases), (12.0, 2.0));
    assert_eq!(p.orders[0].reason, OrderReason::CasePackRounding);

    pr.case_pack = 1;
    pr.moq = 20;
    let p = plan(
        &inputs(vec![sku("A", 7.0, 0.0, 1, 0.0, pr.clone())]),
        &c,
        &no_progress,
    )
    .unwrap();
    assert_eq!(p.orders[0].quantity, 20.0);
    assert_eq!(p.orders[0].reason, OrderReason::MoqRounding);

    // An item that sells below its cost is not worth buying, MOQ or not.
    pr.unit_price = Some(0.01);
    let mut c2 = cfg(1);
    c2.defaults.holding_rate_per_week = 0.5;
    let p = plan(
        &inputs(vec![sku("A", 7.0, 0.0, 1, 0.0, pr)]),
        &c2,
        &no_progress,
    )
    .unwrap();
    assert!(p.orders.is_empty());
}

#[test]
fn per_sku_service_level_and_costs_override_the_config() {
    // One week, demand N(100, 10): a 97.5 % service level for this SKU -> 100 + 1.96 * 10 = 119.6 -> 120.
    let mut pr = params(2.0, 11.0, 0);
    pr.service_level = Some(0.975);
    let mut c = cfg(1);
    c.service.lost_sales = false;
    let p = plan(
        &inputs(vec![sku("A", 100.0, 10.0, 1, 0.0, pr.clone())]),
        &c,
        &no_progress,
    )
    .unwrap();
    assert_eq!(p.orders[0].quantity, 120.0);
    // A shortage cost below the unit cost: not worth buying.
    pr.shortage_cost = Some(1.0);
    let p = plan(
        &inputs(vec![sku("A", 100.0, 10.0, 1, 0.0, pr.clone())]),
        &cfg(1),
        &no_progress,
    )
    .unwrap();
    assert!(p.orders.is_empty());
    pr.service_level = Some(1.5);
    assert!(
        plan(
            &inputs(vec![sku("A", 100.0, 10.0, 1, 0.0, pr)]),
            &cfg(1),
            &no_progress
        )
        .unwrap_err()
        .to_string()
        .contains("service_level")
    );
}

#[test]
fn zero_demand_orders_nothing() {
    let p = plan(
        &inputs(vec![sku("A", 0.0, 0.0, 4, 0.0, params(1.0, 2.0, 1))]),
        &cfg(4),
        &no_progress,
    )
    .unwrap();
    assert!(p.orders.is_empty());
    assert!(p.summary.skus_short.is_empty());
    assert_eq!(p.summary.models, 1);
}

#[test]
fn a_sku_table_without_prices_is_planned_at_the_default_markup() {
    // The minimal SKU table (unique_id, unit_cost) read from a file: without a price a lost
    // unit used to cost exactly its purchase, and the plan ordered nothing at a 0.95 target.
    let dir = tempfile::tempdir().unwrap();
    let mut forecasts = String::from("unique_id,ds,q10,q50,q90\n");
    for w in 0..8 {
        forecasts.push_str(&format!("A,{},6,10,14\n", week0().offset(w)));
    }
    let path = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let files = PlanFiles {
        protection: None,
        forecasts: path("forecasts.csv", &forecasts),
        inventory: path("inventory.csv", "unique_id,on_hand\nA,15\n"),
        open_orders: None,
        sku_params: path("sku_params.csv", "unique_id,unit_cost\nA,4\n"),
    };
    let c = cfg(8);
    let (inp, warnings) = load(&files, &c).unwrap();
    assert!(
        warnings.iter().any(
            |w| w.contains("1 SKUs have neither unit_price nor shortage_cost")
                && w.contains("2 × their unit cost")
        ),
        "{warnings:?}"
    );
    let p = plan(&inp, &c, &no_progress).unwrap();
    let ordered: f64 = p.orders.iter().map(|o| o.quantity).sum();
    // Weeks 2..8 (after the default 2-week lead time) need 6 × 10 units; 15 on hand covers
    // the first week and a half.
    assert!(ordered >= 55.0, "{ordered} {:?}", p.orders);
    let sku = &p.skus[0];
    assert!(sku.unmet[2..].iter().all(|&u| u == 0.0), "{sku:?}");
    // At a markup of 1 such a SKU has nothing to lose: nothing is ordered.
    let mut flat = c.clone();
    flat.defaults.price_markup = 1.0;
    assert!(plan(&inp, &flat, &no_progress).unwrap().orders.is_empty());
    // A markup below 1 is refused, naming the key.
    flat.defaults.price_markup = 0.5;
    let err = flat.check(std::path::Path::new("plan.toml")).unwrap_err();
    assert!(err.to_string().contains("defaults.price_markup"), "{err}");
}

#[test]
fn a_binding_budget_goes_to_the_highest_marginal_value() {
    // Three SKUs, one week, no lead time, deterministic demand 10, unit cost 1, prices 5 / 3 / 2.
    // Budget 15: A (saves 5 - 1 per unit) takes 10, B (3 - 1) the remaining 5, C nothing.
    // One more unit of budget buys one more unit of B: shadow price 3 - 1 = 2.
    let mut c = cfg(1);
    c.budget.weekly = Some(15.0);
    for solver in [SolverKind::Highs, SolverKind::Microlp] {
        c.solver.backend = solver;
        let skus = vec![
            sku("A", 10.0, 0.0, 1, 0.0, params(1.0, 5.0, 0)),
            sku("B", 10.0, 0.0, 1, 0.0, params(1.0, 3.0, 0)),
            sku("C", 10.0, 0.0, 1, 0.0, params(1.0, 2.0, 0)),
        ];
        let p = plan(&inputs(skus), &c, &no_progress).unwrap();
        let q: Vec<(&str, f64)> = p
            .orders
            .iter()
            .map(|o| (o.unique_id.as_str(), o.quantity))
            .collect();
        assert_eq!(q, vec![("A", 10.0), ("B", 5.0)], "{solver:?}");
        assert_eq!(p.summary.models, 1);
        let b = &p.summary.constraints[0];
        assert_eq!(
            (b.name.as_str(), b.binding, b.violated_by),
            ("budget", true, 0.0)
        );
        assert!((b.used - 15.0).abs() < 1e-6);
        // The budget's Lagrange multiplier, whichever solver is configured.
        assert!((b.shadow_price.unwrap() - 2.0).abs() < 1e-6, "{b:?}");
        assert_eq!(p.orders[1].reason, OrderReason::CappedByConstraint);
        assert_eq!(p.summary.skus_short.len(), 2);
    }
}

#[test]
fn impossible_limits_give_a_plan_and_say_what_is_violated() {
    // A zero budget binds and leaves everything short; stock on hand above the warehouse capacity
    // violates it whatever is ordered, and the report says by how much.
    let mut c = cfg(2);
    c.budget.weekly = Some(0.0);
    let mut pr = params(1.0, 5.0, 0);
    pr.unit_volume = 1.0;
    c.capacity.warehouse_volume = Some(30.0);
    let p = plan(
        &inputs(vec![
            sku("A", 10.0, 0.0, 2, 50.0, pr.clone()),
            sku("B", 10.0, 0.0, 2, 0.0, pr),
        ]),
        &c,
        &no_progress,
    )
    .unwrap();
    assert!(p.orders.is_empty());
    let wh: Vec<_> = p
        .summary
        .constraints
        .iter()
        .filter(|k| k.name == "warehouse_volume")
        .collect();
    assert!((wh[0].violated_by - 10.0).abs() < 1e-6, "{wh:?}"); // 50 - 10 sold = 40 > 30
    assert!(p.summary.costs.constraint_violation > 0.0);
    assert!(
        p.summary
            .skus_short
            .iter()
            .any(|s| s.unique_id == "B" && (s.units_short - 20.0).abs() < 1e-6)
    );
}

#[test]
fn the_warehouse_holds_when_the_catalogue_sells_less_than_forecast() {
    // 30 SKUs forecast at 10 a week (q10/q50/q90 = 10 ∓ 1.28·3), lead time 2, nothing on hand
    // and 10 arriving in each of weeks 0 and 1, one m³ a unit, a warehouse of 150 m³ that binds
    // in week 2, when the first orders land. At the 40 origins of the forecaster's
    // calibration the whole catalogue sold 0 .. 5 % below its forecasts, so at 0.95 the
    // week an order lands must keep room for demand 4.87 % short over the 3 weeks from its
    // order to that week's end.
    let (skus, lead, cap) = (30, 2, 150.0);
    let week = [
        10.0 - 1.2815515655446004 * 3.0,
        10.0,
        10.0 + 1.2815515655446004 * 3.0,
    ];
    let values: Vec<f64> = (0..3).flat_map(|_| week).collect();
    let mut cases = Vec::new();
    for o in 0..40 {
        let sold = 10.0 * (1.0 - 0.05 * o as f64 / 39.0);
        for i in 0..skus {
            // Each SKU 4 a week above or below the catalogue's level: a spread for the levels.
            let own = if i % 2 == 0 { sold + 4.0 } else { sold - 4.0 };
            cases.extend(ProtectionCalibration::cases_of(
                &values,
                &[0.1, 0.5, 0.9],
                &[own; 3],
                o,
            ));
        }
    }
    let calibration = ProtectionCalibration::fit(3, &cases).unwrap();
    let short = calibration.shortfall(lead + 1, 0.95);
    assert!((short - 0.05 * 38.0 / 39.0).abs() < 1e-9, "{short}");

    let mut pr = params(1.0, 10.0, lead);
    pr.unit_volume = 1.0;
    let mut inp = inputs(
        (0..skus)
            .map(|i| SkuInput {
                on_order: vec![(0, 10.0), (1, 10.0)],
                ..sku(&format!("S{i:02}"), 10.0, 3.0, 8, 0.0, pr.clone())
            })
            .collect(),
    );
    inp.protection = Some(calibration);
    // End-of-week stock in the week the first orders land, when every SKU sells `sold` (< 10)
    // a week from now on.
    let landed = |confidence: f64, sold: f64| {
        let mut c = cfg(8);
        c.capacity.warehouse_volume = Some(cap);
        c.capacity.warehouse_confidence = confidence;
        let p = plan(&inp, &c, &no_progress).unwrap();
        let wh = p
            .summary
            .constraints
            .iter()
            .find(|k| {
                k.name == "warehouse_volume" && k.week == week0().offset(lead as i64).to_string()
            })
            .cloned();
        let ordered: f64 = p
            .orders
            .iter()
            .filter(|l| l.order_week == week0())
            .map(|l| l.quantity)
            .sum();
        (skus as f64 * (20.0 - 3.0 * sold) + ordered, wh)
    };
    // On the expected path the warehouse is full; 4.87 % less demand overfills it by the
    // volume of what was not sold (44 m³).
    let (expected, wh) = landed(0.0, 10.0);
    assert!(
        expected <= cap + 1e-6 && expected > cap - skus as f64,
        "{expected}"
    );
    assert_eq!(wh.map(|w| w.reserve), Some(0.0));
    let (over, _) = landed(0.0, 10.0 * (1.0 - short));
    assert!(over > cap + 40.0, "{over}");
    // With the reserve the stock fits on that demand, and the report says what was kept back:
    // the shortfall of 3 weeks' expected demand of every SKU.
    let (kept, wh) = landed(0.95, 10.0 * (1.0 - short));
    assert!(kept <= cap + 1e-6 && kept > cap - skus as f64, "{kept}");
    let wh = wh.expect("the warehouse binds in the week the orders land");
    assert!(
        (wh.reserve - short * 30.0 * skus as f64).abs() < 1e-6,
        "{wh:?}"
    );
    assert!((wh.limit - (cap - wh.reserve)).abs() < 1e-9);
}

#[test]
fn independent_skus_are_separate_models_and_suppliers_group() {
    let mut c = cfg(4);
    let skus: Vec<SkuInput> = (0..6)
        .map(|i| {
            let mut p = params(1.0, 4.0, 1);
            p.supplier = if i < 3 { "s1".into() } else { "s2".into() };
            sku(&format!("S{i}"), 5.0 + i as f64, 1.0, 4, 0.0, p)
        })
        .collect();
    let free = plan(&inputs(skus.clone()), &c, &no_progress).unwrap();
    assert_eq!(free.summary.models, 6);
    c.budget.per_supplier.insert("s1".into(), 1e6);
    let grouped = plan(&inputs(skus), &c, &no_progress).unwrap();
    assert_eq!(grouped.summary.models, 4, "s1's three SKUs share a model");
    assert_eq!(
        free.orders, grouped.orders,
        "a slack budget changes nothing"
    );
}

#[test]
fn synthetic_chain_and_bad_tables() {
    let dir = tempfile::tempdir().unwrap();
    let cat = restock_data::synth::SynthCatalogue::generate(&restock_data::synth::SynthConfig {
        skus: 60,
        weeks: 60,
        ..Default::default()
    })
    .unwrap();
    cat.write(dir.path()).unwrap();
    let files = PlanFiles {
        protection: None,
        forecasts: dir.path().join("oracle_forecast.parquet"),
        inventory: dir.path().join("inventory.csv"),
        open_orders: Some(dir.path().join("open_orders.csv")),
        sku_params: dir.path().join("sku_params.csv"),
    };
    let mut c = cfg(8);
    c.budget.weekly = Some(2000.0);
    c.capacity.warehouse_volume = Some(50.0);
    let (inp, warnings) = load(&files, &c).unwrap();
    assert_eq!(inp.skus.len(), 60);
    // Without the forecaster's calibration the warehouse keeps no room for demand below
    // forecast, and the user is told.
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("warehouse_confidence") && w.contains("was not given")),
        "{warnings:?}"
    );
    let p = plan(&inp, &c, &no_progress).unwrap();
    assert_ne!(p.summary.status, restock_planner::PlanStatus::TimeLimit);
    // 60 SKUs leave a small duality gap; the plan is proven within 1 % of optimal.
    assert!(
        p.summary.gap_bound.unwrap() < 0.01,
        "{:?}",
        p.summary.gap_bound
    );
    for w in &p.summary.weeks {
        assert!(w.spend <= 2000.0 + 1e-6, "{w:?}");
    }
    for o in &p.orders {
        let pk = inp
            .skus
            .iter()
            .find(|s| s.unique_id == o.unique_id)
            .unwrap()
            .params
            .clone();
        assert_eq!(o.quantity % pk.case_pack as f64, 0.0);
        assert!(pk.moq == 0 || o.quantity >= pk.moq as f64);
        assert_eq!(
            o.order_week.weeks_until(o.arrival_week),
            pk.lead_time_weeks as i64
        );
    }
    restock_planner::io::write(
        &p,
        &dir.path().join("orders.parquet"),
        &dir.path().join("s.json"),
    )
    .unwrap();

    // Bad tables: errors name file, row and SKU.
    let bad = dir.path().join("bad_params.csv");
    std::fs::write(&bad, "unique_id,unit_cost\nSKU00000,-1\n").unwrap();
    let err = load(
        &PlanFiles {
            sku_params: bad,
            ..files.clone()
        },
        &c,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bad_params.csv") && err.contains("row 1") && err.contains("unit_cost"),
        "{err}"
    );
    let missing = dir.path().join("few_params.csv");
    std::fs::write(&missing, "unique_id,unit_cost\nSKU00000,1\n").unwrap();
    let err = load(
        &PlanFiles {
            sku_params: missing,
            ..files.clone()
        },
        &c,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("SKU00001") && err.contains("unit_cost is required"),
        "{err}"
    );
    let inv = dir.path().join("inv.csv");
    std::fs::write(&inv, "unique_id,on_hand\nSKU00003,-4\n").unwrap();
    let err = load(
        &PlanFiles {
            inventory: inv,
            ..files.clone()
        },
        &c,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("inv.csv") && err.contains("SKU00003") && err.contains("negative"),
        "{err}"
    );
    let mut long = cfg(9);
    long.budget.weekly = None;
    let err = load(&files, &long).unwrap_err().to_string();
    assert!(
        err.contains("no forecast for week") && err.contains("9 weeks"),
        "{err}"
    );
    // A SKU given twice is refused with both rows, in each table (before, the last row won
    // silently: a forecasts file holding two models' rows planned on whichever came last).
    let twice = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let mut forecasts = String::from("unique_id,ds,q10,q50,q90\n");
    for w in [0, 1, 1] {
        forecasts.push_str(&format!("SKU00000,{},1,2,3\n", week0().offset(w)));
    }
    for (files, row, first) in [
        (
            PlanFiles {
                inventory: twice("inv2.csv", "unique_id,on_hand\nSKU00003,4\nSKU00003,5\n"),
                ..files.clone()
            },
            2,
            1,
        ),
        (
            PlanFiles {
                sku_params: twice(
                    "params2.csv",
                    "unique_id,unit_cost\nSKU00000,1\nSKU00001,1\nSKU00000,2\n",
                ),
                ..files.clone()
            },
            3,
            1,
        ),
        (
            PlanFiles {
                forecasts: twice("forecasts2.csv", &forecasts),
                ..files.clone()
            },
            3,
            2,
        ),
    ] {
        let err = load(&files, &c).unwrap_err().to_string();
        assert!(
            err.contains(&format!("row {row} "))
                && err.contains(&format!("row {first})"))
                && (err.contains("given again") || err.contains("a second forecast")),
            "{err}"
        );
    }
    // SKUs of the SKU table without a forecast are named in a warning.
    let extra = twice(
        "params_extra.csv",
        &format!(
            "{}ZZZ_NO_FORECAST,1\n",
            std::fs::read_to_string(dir.path().join("sku_params.csv"))
                .unwrap()
                .lines()
                .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",") + "\n")
                .collect::<String>()
        ),
    );
    let (_, warnings) = load(
        &PlanFiles {
            sku_params: extra,
            ..files.clone()
        },
        &c,
    )
    .unwrap();
    assert!(
        warnings.iter().any(|w| w.contains("1 SKUs")
            && w.contains("ZZZ_NO_FORECAST")
            && w.contains("no forecast")),
        "{warnings:?}"
    );
    // Forecasts without a spread are planned, with a warning.
    let mut median = String::from("unique_id,ds,q50\n");
    for s in &inp.skus {
        for w in 0..8 {
            median.push_str(&format!("{},{},5\n", s.unique_id, week0().offset(w)));
        }
    }
    let (_, warnings) = load(
        &PlanFiles {
            forecasts: twice("median.csv", &median),
            ..files.clone()
        },
        &c,
    )
    .unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("median.csv") && w.contains("no spread")),
        "{warnings:?}"
    );
    // A date that is not a Monday is named as given, with its week's Monday.
    let tuesday = week0().monday().succ_opt().unwrap();
    let err = load(
        &PlanFiles {
            forecasts: twice(
                "tuesday.csv",
                &format!("unique_id,ds,q10,q50,q90\nSKU00000,{tuesday},1,2,3\n"),
            ),
            ..files.clone()
        },
        &c,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("ds {tuesday} is not a Monday"))
            && err.contains(&week0().to_string()),
        "{err}"
    );
}

#[test]
fn lagrangian_bound_sits_between_the_lp_relaxation_and_the_plan() {
    // 60 SKUs, 6 weeks, case packs 1-12, MOQs, lead times 0-2, a weekly budget that binds and a
    // warehouse capacity: the joint model is solved by Lagrangian relaxation. Its bound must be
    // at least the LP relaxation's optimum (the SKU problems keep whole cases) and at most the
    // plan's cost, and the plan must keep every limit.
    let weeks = 6;
    let mut c = cfg(weeks);
    c.budget.weekly = Some(900.0);
    c.capacity.warehouse_volume = Some(70.0);
    c.solver.mip_gap = 0.005;
    let skus: Vec<SkuInput> = (0..60)
        .map(|i| {
            let mut p = params(2.0 + (i % 7) as f64, 6.0 + (i % 11) as f64, i % 3);
            p.case_pack = [1, 4, 6, 12][i % 4];
            p.moq = if i % 5 == 0 { 24 } else { 0 };
            p.unit_volume = 0.05 + 0.01 * (i % 6) as f64;
            let mu = 2.0 + (i * 37 % 23) as f64;
            sku(&format!("S{i:02}"), mu, 0.3 * mu, weeks, (i % 9) as f64, p)
        })
        .collect();
    let joint = plan(&inputs(skus.clone()), &c, &no_progress).unwrap();
    let s = &joint.summary;
    let bound = s.lp_bound.unwrap();
    assert!(s.method.starts_with("lagrangian"), "{}", s.method);
    assert!(bound <= s.objective + 1e-6, "{bound} > {}", s.objective);
    assert!(
        s.constraints
            .iter()
            .any(|k| k.name == "budget" && k.binding)
    );
    assert!(
        s.constraints.iter().all(|k| k.violated_by == 0.0),
        "{:?}",
        s.constraints
    );
    let mut lp = c.clone();
    lp.solver.integer = false;
    let relaxed = plan(&inputs(skus), &lp, &no_progress).unwrap();
    let r = &relaxed.summary;
    assert_eq!(
        r.how_solved(),
        "lagrangian + highs column generation (LP relaxation)"
    );
    // The LP's own bound is below the whole-case bound, and its plan within the target gap.
    let lp_bound = r.lp_bound.unwrap();
    assert!(
        lp_bound <= bound + 1e-6 * bound.abs(),
        "LP bound {lp_bound} above the Lagrangian bound {bound}"
    );
    assert!(r.gap_bound.unwrap() <= 0.005 + 1e-9, "{r:?}");
    assert!(
        r.objective <= s.objective,
        "LP {} vs whole cases {}",
        r.objective,
        s.objective
    );
    assert!(s.gap_bound.unwrap() < 0.05, "{s:?}");
}

#[test]
fn a_limit_exceeded_by_stock_on_hand_is_priced_at_its_penalty_at_once() {
    // 40 SKUs whose stock on hand fills twice the warehouse in the first weeks, whatever is
    // ordered, with a binding budget: those warehouse rows are violated by every plan, so their
    // best price is the slack's and the bound must close within a one-second price search (it
    // used to climb to that price step by step and stop at the time limit, 90 % apart).
    let weeks = 6;
    let mut c = cfg(weeks);
    c.budget.weekly = Some(400.0);
    c.capacity.warehouse_volume = Some(20.0);
    c.solver.time_limit_seconds = 1.0;
    let skus: Vec<SkuInput> = (0..40)
        .map(|i| {
            let mut p = params(2.0 + (i % 5) as f64, 6.0 + (i % 7) as f64, 1 + i % 2);
            p.unit_volume = 0.1;
            p.case_pack = [1, 6][i % 2];
            let mu = 3.0 + (i % 4) as f64;
            sku(&format!("S{i:02}"), mu, 0.3 * mu, weeks, 10.0 + 2.0 * mu, p)
        })
        .collect();
    for integer in [true, false] {
        c.solver.integer = integer;
        let s = plan(&inputs(skus.clone()), &c, &no_progress)
            .unwrap()
            .summary;
        let over = s
            .constraints
            .iter()
            .find(|k| k.name == "warehouse_volume" && k.violated_by > 0.0)
            .unwrap_or_else(|| panic!("{:?}", s.constraints));
        assert!(over.shadow_price.is_some_and(|p| p > 1e3), "{over:?}");
        assert!(
            s.gap_bound.unwrap() <= 0.005 + 1e-9,
            "integer {integer}: {s:?}"
        );
        assert_ne!(s.status, restock_planner::PlanStatus::TimeLimit);
    }
}
