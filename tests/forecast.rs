//! Batch forecasts from a trained run: every SKU once per week, routing to fallbacks, shards
//! and batches that do not change a SKU's numbers, unknown and missing SKUs, clear errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_infer::{ForecastOptions, Shard};
use restock_train::{Prepared, RunDir, SessionOptions, Silent};

use crate::training::{config, prepared};

/// (unique_id, day) -> (model, q10, q50, q90)
type Rows = BTreeMap<(String, i32), (String, f64, f64, f64)>;

fn read(path: &Path) -> Rows {
    let df = restock_data::table::scan(path).unwrap().collect().unwrap();
    let ids = df.column("unique_id").unwrap().str().unwrap().clone();
    // CSV is scanned as text: dates and numbers are cast back.
    let ds = df
        .column("ds")
        .unwrap()
        .cast(&DataType::Date)
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap();
    let ds = ds.i32().unwrap().clone();
    let model = df.column("model").unwrap().str().unwrap().clone();
    let q = |c: &str| {
        let col = df.column(c).unwrap().cast(&DataType::Float64).unwrap();
        col.f64().unwrap().clone()
    };
    let (q10, q50, q90) = (q("q10"), q("q50"), q("q90"));
    (0..df.height())
        .map(|i| {
            (
                (ids.get(i).unwrap().to_string(), ds.get(i).unwrap()),
                (
                    model.get(i).unwrap().to_string(),
                    q10.get(i).unwrap(),
                    q50.get(i).unwrap(),
                    q90.get(i).unwrap(),
                ),
            )
        })
        .collect()
}

pub(crate) fn trained(dir: &Path) -> (RunDir, Prepared) {
    let cfg = config(2);
    let data = prepared(&dir.join("data"), &cfg);
    let run = RunDir::create(&dir.join("run"), false).unwrap();
    restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent).unwrap();
    (run, data)
}

/// The run's catalogue as `dir/weekly.parquet`, what `restock forecast` reads.
fn weekly_file(dir: &Path, data: &Prepared) -> PathBuf {
    let weekly = dir.join("weekly.parquet");
    data.dataset.write(&weekly).unwrap();
    weekly
}

#[test]
fn every_sku_is_forecast_the_same_in_any_batch_or_shard() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let weekly = weekly_file(dir.path(), &data);
    let options = ForecastOptions {
        horizon: 4,
        intermittent_adi: 3.0,
        ..Default::default()
    };
    let out = dir.path().join("f.parquet");
    let summary =
        restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {}).unwrap();
    let rows = read(&out);
    let skus = data.dataset.series.len();
    assert_eq!(summary.skus, skus);
    assert_eq!(rows.len(), skus * 4);
    assert_eq!(summary.unknown_to_run + summary.missing_from_data, 0);
    let first = data.dataset.last_week.offset(1).day_number();
    for s in &data.dataset.series {
        for h in 0..4 {
            let (model, q10, q50, q90) = &rows[&(s.unique_id.clone(), first + 7 * h)];
            assert!(
                0.0 <= *q10 && q10 <= q50 && q50 <= q90,
                "{} {model}",
                s.unique_id
            );
            let route = restock_infer::route(&s.y, 8, 3.0);
            assert_eq!(model, route.model(), "{}", s.unique_id);
        }
    }
    // The synthetic catalogue has smooth, intermittent and dead SKUs: more than one route.
    assert!(summary.by_model.len() >= 2, "{:?}", summary.by_model);
    assert!(
        summary.by_model.contains_key("lstm"),
        "{:?}",
        summary.by_model
    );

    // Small batches and small chunks give the same numbers.
    let small = dir.path().join("small.csv");
    let o = ForecastOptions {
        batch_size: 3,
        chunk_rows: 200,
        ..options.clone()
    };
    restock_infer::forecast(run.path(), &weekly, &small, &o, &mut |_, _, _| {}).unwrap();
    let small_rows = read(&small);
    assert_eq!(small_rows.len(), rows.len());
    for (k, v) in &rows {
        let w = &small_rows[k];
        // CSV round-trips floats to their shortest exact text.
        assert!(
            v.0 == w.0 && v.1 == w.1 && v.2 == w.2 && v.3 == w.3,
            "{k:?}: {v:?} vs {w:?}"
        );
    }

    // Three shards partition the catalogue and reproduce the numbers.
    let mut union = Rows::new();
    for i in 0..3 {
        let path = dir.path().join(format!("s{i}.parquet"));
        let o = ForecastOptions {
            shard: Some(Shard::parse(&format!("{i}/3")).unwrap()),
            ..options.clone()
        };
        restock_infer::forecast(run.path(), &weekly, &path, &o, &mut |_, _, _| {}).unwrap();
        for (k, v) in read(&path) {
            assert!(union.insert(k, v).is_none(), "a SKU in two shards");
        }
    }
    assert_eq!(union, rows);
}

#[test]
fn unknown_and_missing_skus_are_counted_and_bad_options_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let mut ds = data.dataset.clone();
    let dropped = ds.series.remove(0).unique_id;
    ds.series[0].unique_id = "ZZZ_NEW".into();
    ds.series.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let weekly = dir.path().join("weekly.parquet");
    ds.write(&weekly).unwrap();
    let out = dir.path().join("f.parquet");
    let options = ForecastOptions {
        horizon: 4,
        ..Default::default()
    };
    let s =
        restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {}).unwrap();
    assert_eq!(s.unknown_to_run, 1);
    assert_eq!(s.missing_from_data, 2);
    assert!(s.missing_examples.contains(&dropped));
    assert!(read(&out).keys().any(|(id, _)| id == "ZZZ_NEW"));

    let fails = |o: ForecastOptions| {
        let path = dir.path().join("bad.parquet");
        restock_infer::forecast(run.path(), &weekly, &path, &o, &mut |_, _, _| {})
            .expect_err("bad option")
            .to_string()
    };
    assert!(
        fails(ForecastOptions {
            horizon: 0,
            ..Default::default()
        })
        .contains("horizon")
    );
    assert!(
        fails(ForecastOptions {
            horizon: 9,
            ..Default::default()
        })
        .contains("at most 4")
    );
    assert!(Shard::parse("3/3").is_err() && Shard::parse("x").is_err());
    let missing = restock_infer::forecast(
        run.path(),
        &dir.path().join("nope.parquet"),
        &out,
        &options,
        &mut |_, _, _| {},
    )
    .expect_err("no data");
    assert!(missing.to_string().contains("nope.parquet"), "{missing}");
    // Nothing half-written is left behind by the failures.
    assert!(!dir.path().join("bad.parquet").exists());
}

#[test]
fn calibration_puts_each_level_at_its_share_and_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let weekly = weekly_file(dir.path(), &data);
    let options = ForecastOptions {
        horizon: 4,
        ..Default::default()
    };
    let raw = dir.path().join("raw.parquet");
    restock_infer::forecast(run.path(), &weekly, &raw, &options, &mut |_, _, _| {}).unwrap();

    let c = restock_train::calibrate(&run, &data, 64).unwrap();
    assert!(run.file("calibration.json").is_file());
    assert_eq!(run.calibration().unwrap().as_ref(), Some(&c));
    assert!(c.windows > 20, "{c:?}");
    assert_eq!(c.offsets.len(), 4);
    // On the validation windows each level now has its share of targets at or below it (ties
    // at zero demand can only add to it).
    for (got, want) in c.coverage_after.iter().zip(&c.levels) {
        assert!(*got >= want - 1e-9 && *got <= want + 0.1, "{c:?}");
    }

    let served = dir.path().join("served.parquet");
    restock_infer::forecast(run.path(), &weekly, &served, &options, &mut |_, _, _| {}).unwrap();
    let (before, after) = (read(&raw), read(&served));
    assert_eq!(before.len(), after.len());
    let mut moved = 0;
    for (key, (model, q10, q50, q90)) in &after {
        assert!(0.0 <= *q10 && q10 <= q50 && q50 <= q90, "{key:?}");
        let b = &before[key];
        if model == "lstm" && (b.1 != *q10 || b.2 != *q50 || b.3 != *q90) {
            moved += 1;
        }
        if model != "lstm" {
            assert_eq!(
                b,
                &(model.clone(), *q10, *q50, *q90),
                "fallbacks are not calibrated"
            );
        }
    }
    assert!(moved > 0, "the network's quantiles are served calibrated");
}

#[test]
fn a_hand_edited_model_json_is_an_error_that_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let path = run.file("model.json");
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    json["layers"] = serde_json::json!(0);
    std::fs::write(&path, json.to_string()).unwrap();
    let err = run.model_config().unwrap_err().to_string();
    assert!(
        err.contains("model.json") && err.contains("layers"),
        "{err}"
    );
    let weekly = weekly_file(dir.path(), &data);
    let out = dir.path().join("f.parquet");
    let err = restock_infer::forecast(
        run.path(),
        &weekly,
        &out,
        &ForecastOptions::default(),
        &mut |_, _, _| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("layers"), "{err}");
}
