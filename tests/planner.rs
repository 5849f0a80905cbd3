//! Hand-checkable planning of single SKUs: newsvendor, order-up-to with lead times and on-order
//! stock, calibrated Poisson levels, lost-sales levels on replayed demand, case packs and MOQ,
//! per-SKU overrides and default prices. Shared limits are in `planner_limits`, the input
//! files in `planner_inputs`.

use rand::SeedableRng;
use rand_distr::{Distribution, Poisson};
use restock_core::{OrderReason, Quantiles, Week};
use restock_planner::config::SolverKind;
use restock_planner::io::{PlanFiles, load};
use restock_planner::{PlanConfig, PlanInputs, SkuInput, SkuParams, plan};
use restock_stats::ProtectionCalibration;

pub(crate) fn week0() -> Week {
    Week::from_monday(chrono::NaiveDate::from_ymd_opt(2024, 6, 3).unwrap()).unwrap()
}

pub(crate) fn cfg(weeks: usize) -> PlanConfig {
    let mut c = PlanConfig::default();
    c.horizon.weeks = weeks;
    c
}

/// A SKU with flat demand: median `mu`, q10/q90 at mu ∓ 1.2816 sigma.
pub(crate) fn sku(
    id: &str,
    mu: f64,
    sigma: f64,
    weeks: usize,
    on_hand: f64,
    params: SkuParams,
) -> SkuInput {
    let z = 1.2815515655446004;
    SkuInput {
        unique_id: id.into(),
        forecast: vec![vec![(mu - z * sigma).max(0.0), mu, mu + z * sigma]; weeks],
        on_hand,
        on_order: vec![],
        params,
    }
}

pub(crate) fn params(cost: f64, price: f64, lead: usize) -> SkuParams {
    let mut p = SkuParams::from_defaults(&PlanConfig::default(), cost);
    p.unit_price = Some(price);
    p.lead_time_weeks = lead;
    p
}

pub(crate) fn inputs(skus: Vec<SkuInput>) -> PlanInputs {
    PlanInputs {
        start: week0(),
        levels: Quantiles::default(),
        skus,
        protection: None,
    }
}

pub(crate) fn no_progress(_: usize) {}

#[test]
fn newsvendor_orders_the_critical_ratio_quantile() {
    // One week, no lead time, demand ~ N(100, 10). Unit cost 2, price 11: underage (lost margin) 9,
    // overage h = 1 per unit-week (holding rate 1/2 of cost; the leftover keeps its cost):
    // critical ratio 9 / (9 + 1) = 0.9 -> order 100 + 1.2816 * 10 = 112.8 -> 113 whole units.
    // (The textbook quantile, a single sale's: `service.lost_sales` off; in a lost-sales shop
    // the level of least cost is `economic_levels_are_the_least_cost_ones_of_the_shop`.)
    let mut c = cfg(1);
    c.service.critical_ratio = true;
    c.service.lost_sales = false;
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
    c.service.lost_sales = false;
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

/// What a lost-sales shop that orders up to `level` every week, orders arriving `lead` weeks
/// later, does on `weeks` weeks of Poisson(`mu`): the share of the weeks with demand served in
/// full, the mean end-of-week stock and the mean units lost a week.
struct LostSalesRun {
    share: f64,
    held: f64,
    lost: f64,
}

fn lost_sales_run(mu: f64, level: f64, lead: usize, weeks: usize, seed: u64) -> LostSalesRun {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let poisson = Poisson::new(mu).unwrap();
    let (mut stock, mut pipeline) = (level, vec![0.0; lead + 1]);
    let (mut with_demand, mut full) = (0usize, 0usize);
    let (mut held, mut lost) = (0.0, 0.0);
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
        lost += (d - stock).max(0.0);
        stock = (stock - d).max(0.0);
        held += stock;
    }
    LostSalesRun {
        share: full as f64 / with_demand as f64,
        held: held / weeks as f64,
        lost: lost / weeks as f64,
    }
}

/// One SKU forecast with the quantiles `week` for 4 weeks, cost 2, price 11, lead time 2, none
/// on hand, with the forecaster's `calibration`.
fn weekly_sku(week: &[f64], calibration: &ProtectionCalibration) -> PlanInputs {
    let mut inputs = inputs(vec![SkuInput {
        unique_id: "A".into(),
        forecast: vec![week.to_vec(); 4],
        on_hand: 0.0,
        on_order: vec![],
        params: params(2.0, 11.0, 2),
    }]);
    inputs.protection = Some(calibration.clone());
    inputs
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
        let p = plan(&weekly_sku(&week, &calibration), &c, &no_progress).unwrap();
        // The summary says which levels the plan used.
        assert_eq!(p.summary.lost_sales_levels, lost_sales);
        3.0 * (0.3 * 6.0 + 0.4 * 10.0 + 0.3 * 14.0) + p.skus[0].safety_stock
    };
    let (quantile, lost_sales) = (level_at(false), level_at(true));
    let served_at_quantile = lost_sales_run(10.0, quantile.round(), 2, 200_000, 8).share;
    let served = lost_sales_run(10.0, lost_sales.round(), 2, 200_000, 8).share;
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
fn economic_levels_are_the_least_cost_ones_of_the_shop() {
    // Weekly Poisson(10), lead time 2, weekly review, the calibration fitted on sampled paths.
    // Unit cost 2, price 11: a lost unit costs its margin 9; holding 0.2 a unit-week (rate
    // 0.1). By economics in a lost-sales shop (`service.lost_sales`, the default) the level
    // is the one whose holding + lost margin a week, replayed on demand neither the
    // calibration nor the planner saw, is within 2 % of the least any level reaches.
    let week = vec![6.0, 10.0, 14.0];
    let calibration = poisson_calibration(&week, 10.0, 5);
    let mut c = cfg(4);
    c.service.critical_ratio = true;
    c.defaults.holding_rate_per_week = 0.1;
    let p = plan(&weekly_sku(&week, &calibration), &c, &no_progress).unwrap();
    assert!(p.summary.lost_sales_levels);
    assert_eq!(p.summary.service_method, "critical_ratio");
    let level = 3.0 * (0.3 * 6.0 + 0.4 * 10.0 + 0.3 * 14.0) + p.skus[0].safety_stock;
    let cost = |s: f64| {
        let run = lost_sales_run(10.0, s, 2, 200_000, 21);
        0.2 * run.held + 9.0 * run.lost
    };
    let least = (20..=60)
        .map(|s| cost(f64::from(s)))
        .fold(f64::INFINITY, f64::min);
    let at = cost(level.round());
    assert!(
        at <= 1.02 * least,
        "level {level}: {at} a week against {least}"
    );
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
        history: None,
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
