//! Limits SKUs share: a binding budget on three SKUs, impossible limits, the warehouse's room
//! for demand below forecast, groups of independent SKUs, the Lagrangian bound, limits
//! exceeded by stock on hand, and a limit of work instead of time.

use restock_core::OrderReason;
use restock_planner::config::SolverKind;
use restock_planner::{SkuInput, plan};
use restock_stats::ProtectionCalibration;

use crate::planner::{cfg, inputs, no_progress, params, sku, week0};

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

    // Before any order can land the stock is what it is: no reserve there, and a week over the
    // warehouse by stock on hand is reported over by that much only (one SKU with 200 on hand,
    // 10 arriving and 10 sold in week 0, the others none left: 50 m³ over 150).
    let mut full = inp.clone();
    full.skus[0].on_hand = 200.0;
    let mut c = cfg(8);
    c.capacity.warehouse_volume = Some(cap);
    let p = plan(&full, &c, &no_progress).unwrap();
    let first = p
        .summary
        .constraints
        .iter()
        .find(|k| k.name == "warehouse_volume" && k.week == week0().to_string())
        .expect("week 0 is over the warehouse");
    assert_eq!(first.reserve, 0.0);
    assert!((first.violated_by - 50.0).abs() < 1e-6, "{first:?}");
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
fn lagrangian_bound_sits_between_the_lp_relaxation_and_the_plan() {
    // 60 SKUs, 6 weeks, case packs 1-12, MOQs, lead times 0-2, a weekly budget that binds and a
    // warehouse capacity: the joint model is solved by Lagrangian relaxation. Its bound must be
    // at least the LP relaxation's optimum (the SKU problems keep whole cases) and at most the
    // plan's cost, and the plan must keep every limit.
    let (mut c, skus) = sixty_skus_sharing_limits(6);
    c.solver.mip_gap = 0.005;
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
        // The report says the stock takes that much whatever is ordered, and the plan adds
        // nothing to it.
        assert!(over.floor > over.limit, "{over:?}");
        assert!(over.used <= over.floor + 1e-6 * over.floor, "{over:?}");
        assert!(
            s.constraints
                .iter()
                .filter(|k| k.name != "warehouse_volume")
                .all(|k| k.floor == 0.0),
            "{:?}",
            s.constraints
        );
        assert!(
            s.gap_bound.unwrap() <= 0.005 + 1e-9,
            "integer {integer}: {s:?}"
        );
        assert_ne!(s.status, restock_planner::PlanStatus::TimeLimit);
    }
}

#[test]
fn a_step_limit_ends_the_price_search_at_the_same_plan_on_any_machine() {
    // 60 SKUs under a binding budget and warehouse, with a gap target of zero that no search
    // closes: held to a few price steps, the plan must say it stopped at the step limit (not at
    // the generous time limit) and come out the same every time, and a search allowed more steps
    // (the same first steps, then more) must bound the optimum at least as tightly. A step
    // limit of zero is refused, naming the key.
    let (mut c, skus) = sixty_skus_sharing_limits(6);
    c.solver.mip_gap = 0.0;
    c.solver.time_limit_seconds = 60.0;
    for integer in [true, false] {
        c.solver.integer = integer;
        let run = |steps: usize| {
            let mut c = c.clone();
            c.solver.max_price_steps = Some(steps);
            plan(&inputs(skus.clone()), &c, &no_progress).unwrap()
        };
        let (first, again, longer) = (run(3), run(3), run(60));
        let s = &first.summary;
        assert_eq!(
            s.status,
            restock_planner::PlanStatus::StepLimit,
            "integer {integer}: {s:?}"
        );
        assert_eq!(s.status.as_str(), "step_limit");
        assert!(s.gap_bound.unwrap() > 0.0, "{s:?}");
        assert_eq!(first.orders, again.orders, "integer {integer}");
        assert_eq!(first.skus, again.skus, "integer {integer}");
        assert_eq!(s.objective, again.summary.objective);
        assert_eq!(s.lp_bound, again.summary.lp_bound);
        // More steps bound the optimum at least as tightly.
        let (short, long) = (s.lp_bound.unwrap(), longer.summary.lp_bound.unwrap());
        assert!(long >= short - 1e-9 * short.abs(), "{long} < {short}");
    }
    let mut zero = c.clone();
    zero.solver.max_price_steps = Some(0);
    let err = zero
        .check(std::path::Path::new("plan.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("plan.toml") && err.contains("solver.max_price_steps"),
        "{err}"
    );
}

/// 60 SKUs over `weeks` weeks (case packs 1-12, MOQs, lead times 0-2) under a weekly budget that
/// binds and a warehouse capacity: a joint model for the Lagrangian relaxation.
fn sixty_skus_sharing_limits(weeks: usize) -> (restock_planner::PlanConfig, Vec<SkuInput>) {
    let mut c = cfg(weeks);
    c.budget.weekly = Some(900.0);
    c.capacity.warehouse_volume = Some(70.0);
    let skus = (0..60)
        .map(|i| {
            let mut p = params(2.0 + (i % 7) as f64, 6.0 + (i % 11) as f64, i % 3);
            p.case_pack = [1, 4, 6, 12][i % 4];
            p.moq = if i % 5 == 0 { 24 } else { 0 };
            p.unit_volume = 0.05 + 0.01 * (i % 6) as f64;
            let mu = 2.0 + (i * 37 % 23) as f64;
            sku(&format!("S{i:02}"), mu, 0.3 * mu, weeks, (i % 9) as f64, p)
        })
        .collect();
    (c, skus)
}
