//! Batch forecasts from a trained run: every SKU once per week, routing to fallbacks, shards
//! and batches that do not change a SKU's numbers, unknown and missing SKUs, clear errors, the
//! known future given or not, the protection calibration at earlier origins, and the device
//! `auto` picks. How a run serves (ensembles, the trees) is in `forecast_serving`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_infer::{ForecastOptions, Shard};
use restock_train::config::BackendKind;
use restock_train::{Prepared, RunDir, SessionOptions, Silent};

use crate::training::{config, prepared};

/// (unique_id, day) -> (model, q10, q50, q90)
pub(crate) type Rows = BTreeMap<(String, i32), (String, f64, f64, f64)>;

/// A table's `unique_id` and `ds` (as day numbers) columns. CSV is scanned as text: dates are
/// cast back.
fn keys(df: &DataFrame) -> (StringChunked, Int32Chunked) {
    let ids = df.column("unique_id").unwrap().str().unwrap().clone();
    let ds = df
        .column("ds")
        .unwrap()
        .cast(&DataType::Date)
        .unwrap()
        .cast(&DataType::Int32)
        .unwrap();
    (ids, ds.i32().unwrap().clone())
}

pub(crate) fn read(path: &Path) -> Rows {
    let df = restock_data::table::scan(path).unwrap().collect().unwrap();
    let (ids, ds) = keys(&df);
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
pub(crate) fn weekly_file(dir: &Path, data: &Prepared) -> PathBuf {
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
        batch_size: Some(3),
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

/// A GPU (lavapipe's software Vulkan in CI) forecasts what the CPU does: its batches are
/// prepared on all cores and take turns on the device, while the next chunk is read and the last
/// one written.
#[test]
fn the_gpu_path_forecasts_what_the_cpu_does() {
    if let Err(e) = restock_train::backend::select(BackendKind::Wgpu, 0) {
        eprintln!("SKIPPED the_gpu_path_forecasts_what_the_cpu_does: {e}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let weekly = weekly_file(dir.path(), &data);
    let options = ForecastOptions {
        horizon: 4,
        intermittent_adi: 3.0,
        backend: Some(BackendKind::Cpu),
        ..Default::default()
    };
    let cpu = dir.path().join("cpu.csv");
    restock_infer::forecast(run.path(), &weekly, &cpu, &options, &mut |_, _, _| {}).unwrap();
    // Batches of 7 SKUs and chunks of 300 rows: several turns on the device per chunk, and
    // several chunks in flight between the reader, the network and the writer.
    let gpu = dir.path().join("gpu.csv");
    let o = ForecastOptions {
        backend: Some(BackendKind::Wgpu),
        batch_size: Some(7),
        chunk_rows: 300,
        ..options.clone()
    };
    let summary =
        restock_infer::forecast(run.path(), &weekly, &gpu, &o, &mut |_, _, _| {}).unwrap();
    assert!(summary.backend.starts_with("wgpu"), "{}", summary.backend);
    let (a, b) = (read(&cpu), read(&gpu));
    assert_eq!(a.len(), b.len());
    assert!(a.values().filter(|v| v.0 == "lstm").count() > 20);
    for (k, v) in &a {
        let w = &b[k];
        assert_eq!(v.0, w.0, "{k:?}");
        for (x, y) in [(v.1, w.1), (v.2, w.2), (v.3, w.3)] {
            assert!(
                (x - y).abs() <= 1e-3 * (1.0 + x.abs()),
                "{k:?}: cpu {v:?} vs gpu {w:?}"
            );
        }
    }
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
    // It reads back (to the last bits JSON keeps: serde_json's parser may round the last one).
    let back = run.calibration().unwrap().unwrap();
    assert_eq!((&back.levels, back.windows), (&c.levels, c.windows));
    for (a, b) in back
        .offsets
        .iter()
        .flatten()
        .zip(c.offsets.iter().flatten())
    {
        assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{a} vs {b}");
    }
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

/// `(unique_id, day) -> value` of one column of a table.
fn column_by_key(path: &Path, value: &str) -> BTreeMap<(String, i32), f64> {
    let df = restock_data::table::scan(path).unwrap().collect().unwrap();
    let (ids, ds) = keys(&df);
    let v = df.column(value).unwrap().cast(&DataType::Float64).unwrap();
    let v = v.f64().unwrap().clone();
    (0..df.height())
        .map(|i| {
            (
                (ids.get(i).unwrap().to_string(), ds.get(i).unwrap()),
                v.get(i).unwrap(),
            )
        })
        .collect()
}

/// Σ q50 / Σ reference − 1 over the network's rows, and the rows' WAPE against `actual`.
fn bias_and_wape(
    rows: &Rows,
    reference: &BTreeMap<(String, i32), f64>,
    actual: &BTreeMap<(String, i32), f64>,
) -> (f64, f64) {
    let (mut q, mut r, mut err, mut act) = (0.0, 0.0, 0.0, 0.0);
    for (key, (model, _, q50, _)) in rows {
        if model != "lstm" {
            continue;
        }
        q += q50;
        r += reference[key];
        err += (q50 - actual[key]).abs();
        act += actual[key];
    }
    (q / r - 1.0, err / act)
}

#[test]
fn a_given_plan_conditions_the_forecast_and_a_missing_one_is_unknown_not_no_promotion() {
    let dir = tempfile::tempdir().unwrap();
    let catalogue = dir.path().join("data");
    let ds = restock_tests::synthetic_weekly(&catalogue, 150, 104);
    let weekly = dir.path().join("weekly.parquet");
    ds.write(&weekly).unwrap();
    let train = |hide_plan: f64, name: &str| {
        let mut cfg = config(8);
        cfg.window.windows_per_epoch = 2048;
        cfg.window.hide_plan = hide_plan;
        cfg.model.hidden = 16;
        cfg.model.decoder_hidden = 16;
        let data = Prepared::new(&cfg, ds.clone()).unwrap();
        let run = RunDir::create(&dir.path().join(name), false).unwrap();
        restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent).unwrap();
        run
    };
    let run = train(0.5, "run");
    let forecast = |run: &RunDir, future: Option<PathBuf>, name: &str| {
        let out = dir.path().join(name);
        let options = ForecastOptions {
            horizon: 4,
            future,
            ..Default::default()
        };
        let summary =
            restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {})
                .unwrap();
        (read(&out), summary)
    };
    let plan_file = catalogue.join("known_future.csv");
    let (unplanned, s) = forecast(&run, None, "unplanned.parquet");
    assert!(s.plan.contains("forecast without a plan"), "{}", s.plan);
    let (planned, s) = forecast(&run, Some(plan_file.clone()), "planned.parquet");
    assert!(
        s.plan.contains("event_days, price, promo from") && s.plan.contains("known_future.csv"),
        "{}",
        s.plan
    );

    // The truth of the forecast weeks: demand, its true median, and the plan.
    let truth = catalogue.join("truth.parquet");
    let actual = column_by_key(&truth, "y");
    let promo = column_by_key(&plan_file, "promo");
    let oracle = column_by_key(&catalogue.join("oracle_forecast.parquet"), "q50");

    // A planned promotion raises the forecast of its week.
    let (mut up, mut promoted) = (0, 0);
    for (key, (model, _, q50, _)) in &planned {
        if model == "lstm" && promo[key] > 0.0 {
            promoted += 1;
            up += usize::from(*q50 > unplanned[key].2);
        }
    }
    assert!(promoted >= 10, "{promoted} promoted SKU-weeks");
    let (bias_planned, wape_planned) = bias_and_wape(&planned, &oracle, &actual);
    let (bias_unplanned, wape_unplanned) = bias_and_wape(&unplanned, &oracle, &actual);

    // A run that never learned "unknown" reads a missing plan as no promotion and no event.
    let old = train(0.0, "old");
    let (old_unplanned, s) = forecast(&old, None, "old.parquet");
    assert!(s.plan.contains("pass --future"), "{}", s.plan);
    let (bias_old, wape_old) = bias_and_wape(&old_unplanned, &oracle, &actual);
    eprintln!(
        "promoted {promoted}, raised {up}; bias vs the true median / WAPE: planned {bias_planned:.3} / \
         {wape_planned:.3}, unplanned {bias_unplanned:.3} / {wape_unplanned:.3}, \
         hide_plan = 0 unplanned {bias_old:.3} / {wape_old:.3}"
    );
    assert!(
        up * 10 >= promoted * 8,
        "{up} of {promoted} promoted weeks raised"
    );
    assert!(wape_planned < wape_unplanned, "the plan helps");
    assert!(
        bias_unplanned.abs() < bias_old.abs(),
        "unknown is not 'no promotion'"
    );

    // A plan that leaves out a SKU the network forecasts, or gives an input the run does not
    // read, is refused with the SKU or column named; nothing is written.
    let partial = dir.path().join("partial.csv");
    let text = std::fs::read_to_string(&plan_file).unwrap();
    let first_sku = &ds
        .series
        .iter()
        .find(|s| s.y.len() > 52 && s.y[s.y.len() - 52..].iter().any(|v| *v > 0.0))
        .expect("a SKU the network forecasts")
        .unique_id;
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with(&format!("{first_sku},")))
        .collect();
    std::fs::write(&partial, kept.join("\n")).unwrap();
    let fails = |future: PathBuf| {
        let out = dir.path().join("refused.parquet");
        let options = ForecastOptions {
            horizon: 4,
            future: Some(future),
            ..Default::default()
        };
        let e = restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {})
            .expect_err("a bad plan")
            .to_string();
        assert!(!out.exists());
        e
    };
    let e = fails(partial);
    assert!(
        e.contains(&format!("SKU {first_sku} is forecast but has no rows"))
            && e.contains("partial.csv"),
        "{e}"
    );
    let extra = dir.path().join("extra.csv");
    std::fs::write(
        &extra,
        text.replace("unique_id,ds,event_days", "unique_id,ds,views"),
    )
    .unwrap();
    let e = fails(extra);
    assert!(
        e.contains("column `views` is not a known-future input"),
        "{e}"
    );
}

#[test]
fn the_forecast_job_calibrates_protection_levels_on_earlier_origins() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    let weekly = weekly_file(dir.path(), &data);
    let cal = dir.path().join("f.protection.json");
    let options = ForecastOptions {
        horizon: 4,
        protection: Some(cal.clone()),
        ..Default::default()
    };
    let out = dir.path().join("f.parquet");
    let summary =
        restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {}).unwrap();
    assert!(summary.protection_cases > 0, "{summary:?}");
    let c = restock_planner::io::read_protection(&cal).unwrap();
    assert_eq!(c.by_weeks.len(), 4);
    assert_eq!(c.cases(), summary.protection_cases);
    // Any chunk and batch size gives the same calibration: each SKU's cases are its own.
    let small = dir.path().join("small.protection.json");
    let o = ForecastOptions {
        chunk_rows: 200,
        batch_size: Some(3),
        protection: Some(small.clone()),
        ..options.clone()
    };
    let small_out = dir.path().join("small.parquet");
    restock_infer::forecast(run.path(), &weekly, &small_out, &o, &mut |_, _, _| {}).unwrap();
    assert_eq!(restock_planner::io::read_protection(&small).unwrap(), c);
    // A shard samples its own SKUs: its part of the catalogue gets a calibration of its own.
    let part = dir.path().join("part.protection.json");
    let o = ForecastOptions {
        shard: Some(Shard::parse("0/2").unwrap()),
        protection: Some(part.clone()),
        ..options.clone()
    };
    let s0 = restock_infer::forecast(
        run.path(),
        &weekly,
        &dir.path().join("part.parquet"),
        &o,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert!(s0.protection_cases > 0 && s0.skus < summary.skus, "{s0:?}");
    assert!(restock_planner::io::read_protection(&part).is_ok());

    // Too little history for any origin: the job still forecasts, writes no calibration, removes
    // one left from an earlier job and says why.
    let keep = 9usize;
    let mut short = data.dataset.clone();
    let cut = short.last_week.offset(1 - keep as i64);
    let drop = short.first_week.weeks_until(cut).max(0) as usize;
    short.first_week = cut;
    if let Some(e) = &mut short.event_days {
        e.drain(..drop.min(e.len()));
    }
    for s in &mut short.series {
        let skip = s.start.weeks_until(cut).max(0) as usize;
        if skip > 0 {
            s.y.drain(..skip.min(s.y.len()));
            for c in &mut s.covariates {
                c.drain(..skip.min(c.len()));
            }
            s.start = cut;
        }
    }
    short.series.retain(|s| !s.y.is_empty());
    let short_path = dir.path().join("short.parquet");
    short.write(&short_path).unwrap();
    std::fs::write(&cal, "from an earlier job").unwrap();
    let s = restock_infer::forecast(
        run.path(),
        &short_path,
        &dir.path().join("short_f.parquet"),
        &options,
        &mut |_, _, _| {},
    )
    .unwrap();
    assert_eq!(s.skus, short.series.len());
    assert_eq!(s.protection_cases, 0);
    assert!(
        s.protection_note
            .as_deref()
            .is_some_and(|n| n.contains("normal rule")),
        "{s:?}"
    );
    assert!(!cal.exists());
}

/// `backend = "auto"` on a catalogue large enough to probe (4,096 SKUs or more): a network the
/// CPU forecasts faster than any GPU could start stays on the CPU without opening the GPU, and
/// the summary says why, with the CPU's estimate.
#[test]
fn auto_keeps_a_catalogue_the_cpu_finishes_before_a_gpu_starts_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let (run, data) = trained(dir.path());
    // The run's SKUs and copies of them under new names (forecast as unknown SKUs), past the
    // probing threshold. The job estimates its SKUs as rows over weeks, and the synthetic
    // catalogue has SKUs launched late: four times the threshold is past it.
    let mut big = data.dataset.clone();
    let originals = big.series.clone();
    let mut copy = 0;
    while big.series.len() < 4 * restock_infer::auto::MIN_PROBE_SKUS {
        for s in &originals {
            let mut s = s.clone();
            s.unique_id = format!("{}~{copy}", s.unique_id);
            big.series.push(s);
        }
        copy += 1;
    }
    big.series.sort_by(|a, b| a.unique_id.cmp(&b.unique_id));
    let weekly = dir.path().join("big.parquet");
    big.write(&weekly).unwrap();
    let options = ForecastOptions {
        horizon: 4,
        backend: Some(BackendKind::Auto),
        ..Default::default()
    };
    let out = dir.path().join("f.parquet");
    let summary =
        restock_infer::forecast(run.path(), &weekly, &out, &options, &mut |_, _, _| {}).unwrap();
    assert_eq!(summary.skus, big.series.len());
    assert!(summary.backend.starts_with("cpu"), "{}", summary.backend);
    assert!(
        summary.backend.contains("of network on the CPU for ~")
            && summary.backend.contains("the GPU was not opened"),
        "{}",
        summary.backend
    );
    assert_eq!(read(&out).len(), big.series.len() * 4);
}
