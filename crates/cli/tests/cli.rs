//! The `restock` binary end to end: exit codes, files written, errors printed once with their cause.

use std::path::Path;
use std::process::{Command, Output};

fn restock(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restock"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

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
    let o = restock(
        &[
            "plan",
            "--config",
            "plan.toml",
            "--forecasts",
            "cat/oracle_forecast.parquet",
            "--inventory",
            "cat/inventory.csv",
            "--open-orders",
            "cat/open_orders.csv",
            "--sku-params",
            "cat/sku_params.csv",
            "--out",
            "orders.csv",
        ],
        d,
    );
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
    for w in summary["weeks"].as_array().unwrap() {
        assert!(w["spend"].as_f64().unwrap() <= 3000.0 + 1e-6);
    }
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

    let o = restock(&["frobnicate"], d);
    assert!(!o.status.success());
}
