//! `restock demo` end to end through the binary: every artefact of the whole job present and
//! consistent, the commands refusing bad input on its outputs, a failed report leaving the last
//! one whole, and the report drawn in a headless browser.

// Helpers of tests unwrap as the tests do: a failure is the test's (clippy.toml allows it
// in the tests themselves).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

mod common;
use common::{assert_refused, restock, stderr};

/// `restock demo`: synth -> ingest -> train -> forecast -> plan -> backtest -> simulate ->
/// report, every artefact present and consistent (the checks on each part in the functions
/// after it), and the commands refusing bad input on its outputs.
#[test]
fn demo_runs_the_whole_job() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let o = restock(&["demo", "--skus", "60", "--out", "demo"], d);
    assert!(o.status.success(), "{}", stderr(&o));
    for f in [
        "weekly.parquet",
        "run/model.bpk",
        "run/evaluation.json",
        "forecasts.parquet",
        "forecasts.parquet.summary.json",
        "orders.csv",
        "orders.summary.json",
        "backtest/backtest.json",
        "backtest/accuracy.csv",
        "backtest/scores.parquet",
        "backtest/forecasts.parquet",
        "simulation/simulation.json",
        "simulation/weekly.csv",
        "simulation/trajectories.parquet",
        "report/report.html",
        "report/charts/accuracy_by_model.svg",
        "report/charts/fan_00.svg",
        "report/charts/simulation_stock_value.svg",
        "report/charts/tradeoff_fill_stock.svg",
        "report/tables/tradeoff.csv",
        "report/tables/simulation_by_class.csv",
        "simulation/sweep.json",
        "report/charts/plan_spend.svg",
        "report/tables/abc_xyz.csv",
        "report/tables/protection_coverage.csv",
        "report/tables/simulation.csv",
    ] {
        assert!(d.join("demo").join(f).exists(), "{f} missing");
    }
    demo_outputs_agree(d);
    commands_on_the_demo_refuse_bad_input(d);
    a_failed_report_keeps_the_last_one(d);
    backtest_replay_and_report_of_the_demo(d);
    assert!(stderr(&o).contains("report.html"), "{}", stderr(&o));
    // Running it again without --force is refused.
    let o = restock(&["demo", "--skus", "60", "--out", "demo"], d);
    assert!(!o.status.success() && stderr(&o).contains("--force"));
    renders_in_a_browser(&d.join("demo/report/report.html"), d);
}

/// A file of the demo's outputs, as JSON.
fn demo_json(d: &Path, file: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(d.join("demo").join(file)).unwrap()).unwrap()
}

/// The demo's forecasts cover every SKU, its plan keeps the budget and takes its levels from
/// the forecast job's protection calibration.
fn demo_outputs_agree(d: &Path) {
    let json = |f: &str| demo_json(d, f);
    // Every SKU forecast, every week.
    let summary = json("forecasts.parquet.summary.json");
    let weekly_skus = summary["skus"].as_u64().unwrap();
    assert!(weekly_skus >= 55, "{summary}");
    assert_eq!(summary["rows"].as_u64().unwrap(), weekly_skus * 8);
    // The network serves alone or in the ensemble its validation weeks chose, or the trees
    // alone (serving.json).
    let serving = json("run/serving.json");
    let served = if serving["combine"].as_array().unwrap().is_empty() {
        "lstm"
    } else if serving["network"] == false {
        "lightgbm"
    } else {
        "ensemble"
    };
    assert!(
        summary["by_model"][served].as_u64().unwrap() > 0,
        "{summary} {serving}"
    );
    // The plan keeps its budget every week, and its lost-sales levels knew how often each SKU
    // sold, from the weekly sales the forecasts were made from, as the replay's did.
    let plan = json("orders.summary.json");
    assert_eq!(plan["skus"].as_u64().unwrap(), weekly_skus);
    assert_eq!(plan["demand_weeks_shares"].as_u64().unwrap(), weekly_skus);
    for w in plan["weeks"].as_array().unwrap() {
        let (spend, budget) = (w["spend"].as_f64().unwrap(), w["budget"].as_f64().unwrap());
        assert!(spend <= budget + 1e-6, "{w}");
    }
    // The forecast job fitted its protection-interval calibration on a year of earlier
    // origins, and the plan took its order-up-to levels from it.
    let protection = json("forecasts.parquet.protection.json");
    assert_eq!(protection["by_weeks"].as_array().unwrap().len(), 8);
    // ... with each band's mean error, and the report gives every model's bias of expected
    // demand over the interval beside its coverage.
    assert!(
        protection["by_weeks"][0]["mean"][0]
            .as_f64()
            .unwrap()
            .is_finite()
    );
    let coverage =
        std::fs::read_to_string(d.join("demo/report/tables/protection_coverage.csv")).unwrap();
    assert!(
        coverage
            .lines()
            .next()
            .unwrap()
            .contains("bias (quantiles)"),
        "{coverage}"
    );
    assert!(
        summary["protection_cases"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(
        plan["protection"]
            .as_str()
            .unwrap()
            .starts_with("calibrated ("),
        "{plan}"
    );
}

/// On the demo's outputs, bad input to `plan`, `backtest` and `simulate` is refused with its
/// cause named, before anything is written.
fn commands_on_the_demo_refuse_bad_input(d: &Path) {
    // The normal rule on request, and a broken calibration file is an error naming it.
    let replan = |extra: &[&str], out: &str| {
        let mut args = vec![
            "plan",
            "--builtin-config",
            "--forecasts",
            "demo/forecasts.parquet",
            "--inventory",
            "demo/data/inventory.csv",
            "--open-orders",
            "demo/data/open_orders.csv",
            "--sku-params",
            "demo/data/sku_params.csv",
            "--out",
            out,
        ];
        args.extend_from_slice(extra);
        restock(&args, d)
    };
    let normal_run = replan(&["--normal-protection"], "normal.csv");
    assert!(normal_run.status.success(), "{}", stderr(&normal_run));
    let normal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("normal.summary.json")).unwrap())
            .unwrap();
    assert_eq!(normal["protection"], "normal rule");
    std::fs::write(d.join("bad.json"), r#"{"levels": [0.5], "by_weeks": []}"#).unwrap();
    let bad_run = replan(&["--protection", "bad.json"], "bad.csv");
    assert_refused(
        &bad_run,
        &["bad.json", "interval lengths"],
        &d.join("bad.csv"),
    );
    // Cold starts need launches before the split: too few is an error that says so, before
    // anything is written.
    let cold = restock(
        &[
            "backtest",
            "--run",
            "demo/run",
            "--data",
            "demo/weekly.parquet",
            "--out",
            "cold",
            "--cold-start-split",
            "2025-06-02",
        ],
        d,
    );
    assert_refused(&cold, &["too few for launch curves"], &d.join("cold"));
    // A replay of a catalogue without prices needs them from somewhere: the error says where,
    // before anything is written.
    {
        use polars::prelude::*;
        let mut weekly =
            ParquetReader::new(std::fs::File::open(d.join("demo/weekly.parquet")).unwrap())
                .finish()
                .unwrap();
        let rows = weekly.height();
        weekly
            .replace(
                "price",
                Column::full_null("price".into(), rows, &DataType::Float64),
            )
            .unwrap();
        ParquetWriter::new(std::fs::File::create(d.join("noprice.parquet")).unwrap())
            .finish(&mut weekly)
            .unwrap();
    }
    let unpriced = restock(
        &[
            "simulate",
            "--run",
            "demo/run",
            "--data",
            "noprice.parquet",
            "--weeks",
            "4",
            "--out",
            "unpriced",
        ],
        d,
    );
    assert_refused(
        &unpriced,
        &["neither a price", "--default-price"],
        &d.join("unpriced"),
    );
    // A limit of no price steps at all is refused, naming the flag.
    let stepless = restock(
        &[
            "simulate",
            "--run",
            "demo/run",
            "--data",
            "demo/weekly.parquet",
            "--max-price-steps",
            "0",
            "--out",
            "stepless",
        ],
        d,
    );
    assert_refused(&stepless, &["--max-price-steps"], &d.join("stepless"));
}

/// A report that fails leaves the last one whole; a cold-start evaluation gets its table.
fn a_failed_report_keeps_the_last_one(d: &Path) {
    // A report that fails (here a backtest folder that is not there) leaves the earlier one
    // whole, its charts and tables included, and no staging folder behind.
    let before = std::fs::read(d.join("demo/report/report.html")).unwrap();
    let charts = std::fs::read_dir(d.join("demo/report/charts"))
        .unwrap()
        .count();
    let failed = restock(
        &[
            "report",
            "--data",
            "demo/weekly.parquet",
            "--backtest",
            "nowhere",
            "--out",
            "demo/report",
            "--force",
        ],
        d,
    );
    assert!(!failed.status.success());
    assert!(stderr(&failed).contains("nowhere"), "{}", stderr(&failed));
    assert_eq!(
        std::fs::read(d.join("demo/report/report.html")).unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_dir(d.join("demo/report/charts"))
            .unwrap()
            .count(),
        charts
    );
    assert!(
        std::fs::read_dir(d.join("demo")).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".tmp-")),
        "a staging folder was left behind"
    );
    // A backtest folder with a cold-start evaluation gets its table in the report.
    std::fs::write(
        d.join("demo/backtest/cold_start.json"),
        r#"{"split": "2024-06-03", "launches": 40, "horizon": 8, "ages": [
            {"age": 1, "skus": 12, "curve_wape": 0.8, "curve_bias": -0.5,
             "moving_average_wape": 0.7, "moving_average_bias": -0.2}]}"#,
    )
    .unwrap();
    let report2 = restock(
        &[
            "report",
            "--data",
            "demo/weekly.parquet",
            "--backtest",
            "demo/backtest",
            "--out",
            "report2",
        ],
        d,
    );
    assert!(report2.status.success(), "{}", stderr(&report2));
    let table = std::fs::read_to_string(d.join("report2/tables/cold_start.csv")).unwrap();
    assert!(
        table.lines().nth(1).unwrap().starts_with("1,12,0.800"),
        "{table}"
    );
    let html = std::fs::read_to_string(d.join("report2/report.html")).unwrap();
    assert!(html.contains("launch profiles of 40 SKUs"));
    // The demo's simulation section says what its total cost holds; wide tables scroll in
    // the page.
    let html = std::fs::read_to_string(d.join("demo/report/report.html")).unwrap();
    assert!(html.contains("each unit of demand lost at its lost margin"));
    assert!(html.contains("<div class=\"wide\"><table>"));
    std::fs::remove_file(d.join("demo/backtest/cold_start.json")).unwrap();
}

/// The demo's backtest, replay, trade-off sweep and report say what they should.
fn backtest_replay_and_report_of_the_demo(d: &Path) {
    let json = |f: &str| demo_json(d, f);
    // The backtest scores restock and the baselines on the same series.
    let bt = json("backtest/backtest.json");
    let overall = bt["overall"].as_array().unwrap();
    assert_eq!(
        overall.len(),
        10,
        "restock, lstm, seven baselines and the run's trees"
    );
    assert_eq!(overall[9]["model"], "lightgbm");
    let series: Vec<u64> = overall
        .iter()
        .map(|m| m["series"].as_u64().unwrap())
        .collect();
    assert!(
        series.iter().all(|n| *n == series[0] && *n > 0),
        "{series:?}"
    );
    // The simulation replays 16 weeks for both policies within the budget.
    let sim = json("simulation/simulation.json");
    assert_eq!(sim["weeks"].as_u64().unwrap(), 16);
    for p in sim["policies"].as_array().unwrap() {
        assert_eq!(p["weeks_over_budget"].as_u64().unwrap(), 0, "{p}");
        let fill = p["fill_rate"].as_f64().unwrap();
        assert!(fill > 0.0 && fill <= 1.0, "{p}");
    }
    // Its plans are held to a number of price steps rather than to the clock, so that the
    // replay comes out the same on any machine: none may have stopped at the time limit.
    let status = sim["plan_status"].as_str().unwrap();
    assert!(
        ["optimal", "gap_limit", "gap_open", "step_limit"].contains(&status),
        "{status}"
    );
    // The trade-off sweep: every policy at each of the demo's two targets.
    let sweep = json("simulation/sweep.json");
    let points = sweep["points"].as_array().unwrap();
    assert_eq!(points.len(), 2 * 4, "{sweep}");
    for policy in [
        "restock",
        "order_up_to",
        "order_up_to_tsb",
        "order_up_to_arima",
    ] {
        let targets: Vec<&str> = points
            .iter()
            .filter(|p| p["policy"] == policy)
            .map(|p| p["target"].as_str().unwrap())
            .collect();
        assert_eq!(targets, ["0.8", "economic"], "{policy}");
    }
    // restock's plans at each target were held to price steps, not to the clock, either; and
    // no plan put a week over the budget or the warehouse itself (the replayed stock may still
    // overflow when the catalogue sells below its forecasts).
    assert_eq!(sim["planned_over_limits"].as_u64(), Some(0), "{sim}");
    for p in points.iter().filter(|p| p["policy"] == "restock") {
        let status = p["plan_status"].as_str().unwrap();
        assert!(status != "time_limit", "{p}");
        assert_eq!(p["planned_over_limits"].as_u64(), Some(0), "{p}");
    }
    // The report is self-contained and says what it shows.
    let html = std::fs::read_to_string(d.join("demo/report/report.html")).unwrap();
    for needle in [
        "<svg",
        "ABC × XYZ",
        "restock",
        "order_up_to",
        "order_up_to_tsb",
        "order_up_to_arima",
        "seasonal_naive",
        "Service against stock",
        "Order plan",
    ] {
        assert!(html.contains(needle), "{needle} missing from the report");
    }
    // Nothing is fetched when it is opened (the SVG namespace URI is a name, not a fetch).
    for fetch in [
        "src=\"http",
        "href=\"http",
        "<link",
        "<script",
        "@import",
        "url(http",
    ] {
        assert!(!html.contains(fetch), "the report loads {fetch}..");
    }
}

/// Open the report in headless Chromium and check the screenshot shows a drawn page: a PNG of
/// the window's size that is far larger than the screenshot of a blank page of the same size
/// (a blank page compresses to almost nothing). Chromium comes from Debian's `chromium`
/// (`.ci/run` installs it).
fn renders_in_a_browser(html: &Path, dir: &Path) {
    let browser = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(browser) = browser else {
        assert!(
            std::env::var_os("RESTOCK_SKIP_BROWSER").is_some(),
            "no chromium to render the report; install Debian's chromium (as .ci/run does) or set RESTOCK_SKIP_BROWSER=1"
        );
        eprintln!("SKIPPED: no chromium (RESTOCK_SKIP_BROWSER is set)");
        return;
    };
    let blank = dir.join("blank.html");
    std::fs::write(&blank, "<!DOCTYPE html><html><body></body></html>").unwrap();
    let shoot = |page: &Path, name: &str| -> Vec<u8> {
        let shot = dir.join(name);
        let o = Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                "--window-size=1100,2400",
                &format!("--screenshot={}", shot.display()),
                &format!("file://{}", page.display()),
            ])
            .output()
            .expect("chromium runs");
        assert!(
            shot.is_file(),
            "no screenshot of {}: {}",
            page.display(),
            stderr(&o)
        );
        std::fs::read(&shot).unwrap()
    };
    let report = shoot(html, "report.png");
    let empty = shoot(&blank, "blank.png");
    // PNG signature, then the IHDR chunk: width and height, big-endian, at bytes 16..24.
    assert_eq!(&report[..8], b"\x89PNG\r\n\x1a\n");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    assert_eq!((be(&report[16..20]), be(&report[20..24])), (1100, 2400));
    assert!(
        report.len() > 6 * empty.len(),
        "the report's screenshot ({} bytes) is hardly bigger than a blank page's ({} bytes)",
        report.len(),
        empty.len()
    );
}
