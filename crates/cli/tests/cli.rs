//! The `restock` binary end to end: exit codes, files written, errors printed once with their cause.

// Helpers of tests unwrap as the tests do: a failure is the test's (clippy.toml allows it
// in the tests themselves).
#![allow(clippy::unwrap_used)]

use std::process::Command;

mod common;
use common::{assert_refused, restock, stderr};

#[test]
fn synth_ingest_plan_chain() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = restock(
        &["synth", "--skus", "40", "--weeks", "70", "--out", "cat"],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "sales.csv",
        "calendar.csv",
        "truth.parquet",
        "oracle_forecast.parquet",
        "inventory.csv",
        "open_orders.csv",
        "sku_params.csv",
        "ingest.toml",
    ] {
        assert!(d.join("cat").join(f).exists(), "{f}");
    }
    let o = restock(
        &[
            "ingest",
            "--config",
            "cat/ingest.toml",
            "--out",
            "weekly.parquet",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("duplicate_rows_summed") && err.contains("SKU-weeks"),
        "{err}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("weekly.quality.json")).unwrap())
            .unwrap();
    // Every SKU is either written or dropped for never selling.
    let no_sales: u64 = report["removed"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["reason"] == "no_sales")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(report["input_skus"].as_u64().unwrap(), 40);
    assert_eq!(report["output_skus"].as_u64().unwrap() + no_sales, 40);
    assert!(report["output_rows"].as_u64().unwrap() > 40 * 20);

    // Existing outputs are not replaced without --force.
    let o = restock(
        &[
            "ingest",
            "--config",
            "cat/ingest.toml",
            "--out",
            "weekly.parquet",
        ],
        d,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--force"));

    std::fs::write(
        d.join("plan.toml"),
        "[budget]\nweekly = 3000.0\n[solver]\nbackend = \"microlp\"\ninteger = false\n",
    )
    .unwrap();
    // `restock plan` on the catalogue's oracle forecasts with a config, orders to `out`.
    let plan = |config: &str, out: &str| {
        restock(
            &[
                "plan",
                "--config",
                config,
                "--forecasts",
                "cat/oracle_forecast.parquet",
                "--inventory",
                "cat/inventory.csv",
                "--open-orders",
                "cat/open_orders.csv",
                "--sku-params",
                "cat/sku_params.csv",
                "--out",
                out,
            ],
            d,
        )
    };
    let o = plan("plan.toml", "orders.csv");
    assert!(o.status.success(), "{}", stderr(&o));
    let orders = std::fs::read_to_string(d.join("orders.csv")).unwrap();
    assert!(
        orders.starts_with("unique_id,order_ds,arrival_ds,quantity,cases,cost,reason"),
        "{orders}"
    );
    assert!(orders.lines().count() > 5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("orders.summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["solver"], "microlp");
    assert_eq!(summary["method"], "column_generation");
    assert!(
        summary["gap_bound"].as_f64().unwrap() <= 0.005 + 1e-9,
        "{summary}"
    );
    for w in summary["weeks"].as_array().unwrap() {
        assert!(w["spend"].as_f64().unwrap() <= 3000.0 + 1e-6);
    }
    let printed = String::from_utf8_lossy(&o.stdout).to_string() + &stderr(&o);
    assert!(
        printed.contains("at service level, lost-sales levels"),
        "{printed}"
    );
    // Without the sales history the lost-sales levels cannot know how often each SKU sells,
    // and say so; with it (`--history`), every SKU with sales gets its chance of a demand week.
    assert!(
        printed.contains("do not know how often each SKU sells") && printed.contains("--history"),
        "{printed}"
    );
    assert_eq!(summary["demand_weeks_shares"], 0, "{summary}");
    let with_history = |history: &str, out: &str| {
        restock(
            &[
                "plan",
                "--config",
                "plan.toml",
                "--forecasts",
                "cat/oracle_forecast.parquet",
                "--inventory",
                "cat/inventory.csv",
                "--sku-params",
                "cat/sku_params.csv",
                "--history",
                history,
                "--out",
                out,
            ],
            d,
        )
    };
    let o = with_history("weekly.parquet", "orders-history.csv");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        !stderr(&o).contains("how often each SKU sells"),
        "{}",
        stderr(&o)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(d.join("orders-history.summary.json")).unwrap(),
    )
    .unwrap();
    let shares = summary["demand_weeks_shares"].as_u64().unwrap();
    let written = report["output_skus"].as_u64().unwrap();
    assert!(shares > 0 && shares <= written, "{shares} of {written}");
    // A history that is not a weekly dataset is an error naming it, and writes nothing.
    let o = with_history("cat/sku_params.csv", "orders-bad.csv");
    assert_refused(&o, &["cat/sku_params.csv", "ds"], &d.join("orders-bad.csv"));

    // A fill-rate target: per-SKU lost-sales levels, the expected fill rate said and recorded.
    std::fs::write(
        d.join("plan-fill.toml"),
        "[service]\nfill_rate = 0.9\n[budget]\nweekly = 3000.0\n[solver]\nbackend = \"microlp\"\ninteger = false\n",
    )
    .unwrap();
    let o = plan("plan-fill.toml", "orders-fill.csv");
    assert!(o.status.success(), "{}", stderr(&o));
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("orders-fill.summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["service_method"], "fill_rate");
    assert_eq!(summary["lost_sales_levels"], true);
    let expected = summary["expected_fill_rate"].as_f64().unwrap();
    assert!((0.9..0.95).contains(&expected), "{summary}");
    let printed = String::from_utf8_lossy(&o.stdout).to_string() + &stderr(&o);
    assert!(
        printed.contains(&format!(
            "at fill rate (expected {expected:.3}), lost-sales levels"
        )),
        "{printed}"
    );
}

#[test]
fn bad_input_exits_non_zero_with_a_named_cause() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("s.csv"),
        "unique_id,ds,y\nA,2024-01-01,1\nA,2024-01-02,x\n",
    )
    .unwrap();
    std::fs::write(d.join("c.toml"), "[source]\npath = \"s.csv\"\n").unwrap();
    let o = restock(&["ingest", "--config", "c.toml", "--out", "w.parquet"], d);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("error:")
            && err.contains("s.csv")
            && err.contains("row 2")
            && err.contains("\"x\""),
        "{err}"
    );
    assert!(!d.join("w.parquet").exists(), "nothing half-written");
    assert!(!err.contains("panicked"));

    let o = restock(
        &[
            "ingest",
            "--preset",
            "m6",
            "--input",
            ".",
            "--out",
            "w.parquet",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown preset \"m6\""));

    std::fs::write(d.join("p.toml"), "[budget]\nweekly = 1.0\nmonthly = 2.0\n").unwrap();
    let o = restock(
        &[
            "plan",
            "--config",
            "p.toml",
            "--forecasts",
            "f.csv",
            "--inventory",
            "i.csv",
            "--sku-params",
            "s.csv",
            "--out",
            "o.csv",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("monthly"), "{}", stderr(&o));

    // Backtest, simulation and report name what is missing.
    let o = restock(
        &[
            "backtest",
            "--run",
            "no_run",
            "--data",
            "w.parquet",
            "--out",
            "bt",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no_run"), "{}", stderr(&o));
    let o = restock(
        &[
            "simulate",
            "--run",
            "no_run",
            "--data",
            "w.parquet",
            "--margin",
            "1.5",
            "--out",
            "sim",
        ],
        d,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--margin"), "{}", stderr(&o));
    let o = restock(&["report", "--data", "missing.parquet", "--out", "rep"], d);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("missing.parquet"), "{}", stderr(&o));
    assert!(!d.join("rep/report.html").exists());

    let o = restock(&["frobnicate"], d);
    assert!(!o.status.success());
}

/// `restock train` killed mid-run and resumed ends with the same weights as a run left alone,
/// and `restock forecast` serves the run.
#[test]
fn train_killed_and_resumed_then_forecast() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = restock(
        &[
            "synth", "--skus", "40", "--weeks", "70", "--clean", "--out", "cat",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = restock(
        &[
            "ingest",
            "--config",
            "cat/ingest.toml",
            "--out",
            "weekly.parquet",
        ],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let config = "name = \"kill\"\nseed = 3\n[data]\nweekly = \"weekly.parquet\"\ntest_weeks = 4\nvalid_weeks = 4\nmin_history = 12\n\
        [window]\ncontext = 12\nhorizon = 4\nmin_context = 4\nwindows_per_epoch = 2048\n\
        [model]\nhidden = 12\n[optim]\nbatch_size = 64\nepochs = 4\npatience = 0\n[backend]\nkind = \"cpu\"\n";
    std::fs::write(d.join("t.toml"), config).unwrap();

    // Left alone.
    let o = restock(
        &["--quiet", "train", "--config", "t.toml", "--out", "full"],
        d,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // Killed once the first epoch is committed, then resumed.
    let mut child = Command::new(env!("CARGO_BIN_EXE_restock"))
        .args(["--quiet", "train", "--config", "t.toml", "--out", "cut"])
        .current_dir(d)
        .spawn()
        .unwrap();
    let state = d.join("cut/state.json");
    let started = std::time::Instant::now();
    while !state.exists() {
        assert!(started.elapsed().as_secs() < 300, "no epoch finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let at_kill = std::fs::read_to_string(&state).unwrap();
    assert!(
        at_kill.contains("\"finished\": false"),
        "killed after the end: {at_kill}"
    );
    // A second run without --force is refused, with the way out named.
    let o = restock(&["train", "--config", "t.toml", "--out", "cut"], d);
    assert!(
        !o.status.success() && stderr(&o).contains("--resume"),
        "{}",
        stderr(&o)
    );
    let o = restock(&["--quiet", "train", "--resume", "cut"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    let metrics = |run: &str| std::fs::read_to_string(d.join(run).join("metrics.csv")).unwrap();
    let losses = |m: String| -> Vec<String> {
        m.lines()
            .map(|l| l.split(',').take(3).collect::<Vec<_>>().join(","))
            .collect()
    };
    assert_eq!(losses(metrics("full")), losses(metrics("cut")));
    assert!(d.join("cut/evaluation.json").exists());

    // Forecasts of both runs agree to the bit, and every SKU is there.
    for run in ["full", "cut"] {
        let o = restock(
            &[
                "forecast",
                "--run",
                run,
                "--data",
                "weekly.parquet",
                "--horizon",
                "4",
                "--out",
                &format!("{run}.csv"),
            ],
            d,
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert!(stderr(&o).contains("SKUs"), "{}", stderr(&o));
    }
    let a = std::fs::read_to_string(d.join("full.csv")).unwrap();
    assert_eq!(a, std::fs::read_to_string(d.join("cut.csv")).unwrap());
    assert_eq!(a.lines().next().unwrap(), "unique_id,ds,model,q10,q50,q90");
    assert!(d.join("full.csv.summary.json").exists());
    // Bad input: a clear error and a non-zero exit.
    let o = restock(
        &[
            "forecast",
            "--run",
            "full",
            "--data",
            "weekly.parquet",
            "--horizon",
            "5",
            "--out",
            "x.csv",
        ],
        d,
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("at most 4 weeks"), "{}", stderr(&o));
}
