//! The planner's input files: the synthetic catalogue's chain from files to a plan, and bad
//! tables named with their file, row and SKU.

use restock_planner::io::{PlanFiles, load};
use restock_planner::plan;

use crate::planner::{cfg, no_progress, week0};

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
        history: None,
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
    // How often a SKU sells is read from the SKU table, and must be a share.
    let minimal = |extra: &str, value: &str| {
        let mut text = format!("unique_id,unit_cost{extra}\n");
        for (i, s) in inp.skus.iter().enumerate() {
            let v = if i == 1 { value } else { "" };
            text.push_str(&format!(
                "{},2{}\n",
                s.unique_id,
                if extra.is_empty() {
                    String::new()
                } else {
                    format!(",{v}")
                }
            ));
        }
        text
    };
    let (shared, _) = load(
        &PlanFiles {
            sku_params: twice("share.csv", &minimal(",demand_weeks_share", "0.25")),
            ..files.clone()
        },
        &c,
    )
    .unwrap();
    assert_eq!(shared.skus[1].params.demand_weeks_share, Some(0.25));
    assert_eq!(shared.skus[0].params.demand_weeks_share, None);
    let err = load(
        &PlanFiles {
            sku_params: twice("share_bad.csv", &minimal(",demand_weeks_share", "1.5")),
            ..files.clone()
        },
        &c,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("share_bad.csv")
            && err.contains("row 2")
            && err.contains("demand_weeks_share"),
        "{err}"
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
fn the_sales_history_tells_each_sku_how_often_it_sells_before_the_plan() {
    use restock_data::{SkuSeries, WeeklyDataset};
    let start = week0();
    let series = |id: &str, from: i64, y: Vec<f64>| SkuSeries {
        unique_id: id.into(),
        start: start.offset(from),
        covariates: vec![],
        statics: vec![],
        y,
    };
    // A sold every week of its 20 before the plan, then nothing in the plan's own weeks (which
    // the history must not be read into); B sold in one week of its last 20; C's SKU table
    // already says; D has no history.
    let mut a = vec![3.0; 20];
    a.extend([0.0; 6]);
    let mut b = vec![0.0; 20];
    b[0] = 5.0;
    b[19] = 5.0;
    let history = WeeklyDataset {
        first_week: start.offset(-20),
        last_week: start.offset(5),
        covariates: vec![],
        statics: vec![],
        event_days: None,
        series: vec![
            series("A", -20, a),
            series("B", -20, b),
            series("C", -20, vec![1.0; 20]),
        ],
    };
    let mut c = crate::planner::params(4.0, 6.0, 2);
    c.demand_weeks_share = Some(0.3);
    let mut skus = vec![
        crate::planner::sku("A", 3.0, 1.0, 8, 0.0, crate::planner::params(4.0, 6.0, 2)),
        crate::planner::sku("B", 0.5, 1.0, 8, 0.0, crate::planner::params(4.0, 6.0, 2)),
        crate::planner::sku("C", 1.0, 0.5, 8, 0.0, c),
        crate::planner::sku("D", 1.0, 0.5, 8, 0.0, crate::planner::params(4.0, 6.0, 2)),
    ];
    restock_planner::io::fill_demand_weeks_shares(&mut skus, &history, start);
    let share = |i: usize| skus[i].params.demand_weeks_share;
    assert_eq!(share(0), Some(1.0));
    // B: two weeks of 20. A: its six zero weeks from the plan's start on are not read.
    assert_eq!(share(1), Some(0.1));
    assert_eq!(share(2), Some(0.3));
    assert_eq!(share(3), None);
}
