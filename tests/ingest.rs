//! Synthetic catalogue -> ingest: the cleaned weekly demand equals the generated demand, every
//! cleaning rule is counted, and bad input gets errors that name file, row, column and value.

use std::collections::HashMap;
use std::path::Path;

use rand::SeedableRng;
use restock_data::config::{DuplicatePolicy, IngestConfig, NegativePolicy, OutlierMethod};
use restock_data::features::{FeatureSchema, FeatureSpec, build};
use restock_data::synth::{SynthCatalogue, SynthConfig};
use restock_data::windows::{WindowSpec, Windows};
use restock_data::{WeeklyDataset, ingest};

fn synth(dir: &Path, skus: usize, weeks: usize, dirty: bool) -> SynthCatalogue {
    let cfg = SynthConfig {
        skus,
        weeks,
        dirty,
        ..Default::default()
    };
    let cat = SynthCatalogue::generate(&cfg).unwrap();
    cat.write(dir).unwrap();
    cat
}

#[test]
fn synthetic_catalogue_roundtrips_through_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let cat = synth(dir.path(), 120, 80, true);
    let cfg = IngestConfig::load(&dir.path().join("ingest.toml")).unwrap();
    let (ds, report) = ingest(&cfg).unwrap();

    // Weekly demand equals the generated weekly demand from each SKU's first sale on.
    let truth: HashMap<&str, &restock_data::synth::SynthSku> =
        cat.skus.iter().map(|s| (s.unique_id.as_str(), s)).collect();
    let (first, last) = cat.history();
    assert_eq!((ds.first_week, ds.last_week), (first, last));
    let mut expected_skus = 0;
    for s in &cat.skus {
        if s.y[..80].iter().any(|v| *v > 0.0) {
            expected_skus += 1;
        }
    }
    assert_eq!(ds.series.len(), expected_skus);
    for s in &ds.series {
        let t = truth[s.unique_id.as_str()];
        let offset = first.weeks_until(s.start) as usize;
        assert!(
            t.y[..offset].iter().all(|v| *v == 0.0),
            "{} starts at its first sale",
            s.unique_id
        );
        assert!(t.y[offset] > 0.0);
        assert_eq!(s.y.as_slice(), &t.y[offset..80], "{}", s.unique_id);
        assert_eq!(s.statics, vec![t.category.to_string(), t.store.to_string()]);
        assert!(s.covariates.iter().all(|c| c.len() == s.y.len()));
    }
    // Dirty rows are found and counted; every unit is accounted for.
    assert!(
        report.changed_count("duplicate_rows_summed") > 0,
        "{report:#?}"
    );
    assert!(report.changed_count("negative_clipped") > 0);
    assert!(report.changed_count("price_imputed") > 0);
    assert!(
        (report.accounted_units() - report.output_units).abs() < 1e-6,
        "{report:#?}"
    );
    assert_eq!(report.output_rows, ds.rows());
    assert!(ds.event_days.as_ref().unwrap().iter().any(|e| *e > 0.0));

    // The Parquet form reads back identically.
    let out = dir.path().join("weekly.parquet");
    ds.write(&out).unwrap();
    let back = WeeklyDataset::read(&out).unwrap();
    assert_eq!(back, ds);
}

#[test]
fn unknown_plan_inputs_are_flagged_and_training_hides_them_the_same_way() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 30, 60, false);
    let (mut ds, _) =
        ingest(&IngestConfig::load(&dir.path().join("ingest.toml")).unwrap()).unwrap();
    let spec = FeatureSpec {
        plan_flags: true,
        ..FeatureSpec::default()
    };
    let schema = FeatureSchema::for_dataset(&ds, spec);
    let known: Vec<&str> = schema
        .names
        .iter()
        .zip(&schema.known)
        .filter(|(_, k)| **k)
        .map(|(n, _)| n.as_str())
        .collect();
    let inputs = schema.plan_inputs();
    let columns: Vec<&str> = inputs.iter().map(|p| p.column).collect();
    assert_eq!(columns, ["event_days", "price", "promo"]);
    for p in &inputs {
        assert!(known[p.flag].ends_with("_given"), "{known:?}");
    }
    // Without flags there are no plan inputs: older runs read as before.
    assert!(
        FeatureSchema::for_dataset(&ds, FeatureSpec::default())
            .plan_inputs()
            .is_empty()
    );

    // The last week's plan unknown (NaN): flags 0 and neutral values; the week before known.
    let last = ds.last_week;
    let weeks = (ds.first_week.weeks_until(last) + 1) as usize;
    ds.event_days.as_mut().unwrap()[weeks - 1] = f64::NAN;
    let (price, promo) = (
        ds.covariate_index("price").unwrap(),
        ds.covariate_index("promo").unwrap(),
    );
    // A SKU on promotion at a discount in the week before the last.
    let sku = ds
        .series
        .iter()
        .position(|s| s.y.len() > 20 && s.covariates[promo][s.y.len() - 2] > 0.0)
        .or_else(|| ds.series.iter().position(|s| s.y.len() > 20))
        .unwrap();
    let t = ds.series[sku].y.len() - 1;
    ds.series[sku].covariates[price][t] = f64::NAN;
    ds.series[sku].covariates[promo][t] = f64::NAN;
    let feats = build(&ds, &schema, last);
    let f = schema.len();
    let value = |week: usize, name: &str| {
        let k = schema.names.iter().position(|n| n == name).unwrap();
        feats[sku].x[week * f + k]
    };
    for (name, unknown) in [
        ("event_given", 0.0),
        ("event", 0.0),
        ("price_given", 0.0),
        ("rel_price", 1.0),
        ("discount", 0.0),
        ("promo_given", 0.0),
        ("promo", 0.0),
    ] {
        assert_eq!(value(t, name), unknown, "{name}");
    }
    for name in ["event_given", "price_given", "promo_given"] {
        assert_eq!(value(t - 1, name), 1.0, "{name}");
    }

    // Hiding the plan in a training batch writes exactly those values into the future weeks.
    let wspec = WindowSpec::new(12, 4, 4).unwrap();
    let w = Windows::new(&ds, &feats, &schema, wspec, last.offset(-1));
    let idx: Vec<usize> = (0..w.len()).step_by(7).take(32).collect();
    let mut batch = w.new_batch(32);
    w.fill(&idx, &mut batch);
    let shown = batch.clone();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    w.hide_plan(&mut batch, &inputs, 0.0, &mut rng);
    assert_eq!(batch.future_x, shown.future_x, "rate 0 hides nothing");
    w.hide_plan(&mut batch, &inputs, 1.0, &mut rng);
    let k = known.len();
    for row in 0..batch.len {
        for j in 0..4 {
            let week = &batch.future_x[(row * 4 + j) * k..(row * 4 + j + 1) * k];
            let before = &shown.future_x[(row * 4 + j) * k..(row * 4 + j + 1) * k];
            for (q, name) in known.iter().enumerate() {
                let expected = match *name {
                    "rel_price" => 1.0,
                    "event" | "discount" | "promo" => 0.0,
                    n if n.ends_with("_given") => 0.0,
                    // Calendar features are never hidden.
                    _ => before[q],
                };
                assert_eq!(week[q], expected, "{name}");
            }
        }
    }
    assert_eq!(batch.past_x, shown.past_x, "the past is never hidden");
    // At rate 1/2, some rows keep their plan and some lose all or part of it.
    let mut batch = shown.clone();
    w.hide_plan(&mut batch, &inputs, 0.5, &mut rng);
    let flags_of = |b: &restock_data::windows::WindowBatch, row: usize| -> Vec<f32> {
        inputs
            .iter()
            .map(|p| b.future_x[row * 4 * k + p.flag])
            .collect()
    };
    let kinds: std::collections::BTreeSet<Vec<u8>> = (0..batch.len)
        .map(|row| flags_of(&batch, row).iter().map(|v| *v as u8).collect())
        .collect();
    assert!(
        kinds.contains(&vec![1, 1, 1]) && kinds.contains(&vec![0, 0, 0]),
        "{kinds:?}"
    );
}

#[test]
fn features_and_windows_are_lazy_views_of_the_series() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 40, 60, false);
    let (ds, _) = ingest(&IngestConfig::load(&dir.path().join("ingest.toml")).unwrap()).unwrap();
    let schema = FeatureSchema::for_dataset(&ds, FeatureSpec::default());
    assert_eq!(schema.names[..3], ["woy_sin", "woy_cos", "age"]);
    for f in ["event", "rel_price", "discount", "promo", "views", "clicks"] {
        assert!(
            schema.names.iter().any(|n| n == f),
            "{f} in {:?}",
            schema.names
        );
    }
    assert!(!schema.known[schema.names.iter().position(|n| n == "views").unwrap()]);
    let split = ds.last_week.offset(-8);
    let feats = build(&ds, &schema, split);
    let spec = WindowSpec::new(12, 4, 2).unwrap();
    let w = Windows::new(&ds, &feats, &schema, spec, split);
    // Count by hand: SKU windows with e in [2, usable - 4].
    let expected: usize = ds
        .series
        .iter()
        .map(|s| {
            let usable = ((s.start.weeks_until(split) + 1).max(0) as usize).min(s.y.len());
            (usable + 1).saturating_sub(4 + 2)
        })
        .sum();
    assert_eq!(w.len(), expected);
    assert!(w.len() > 100);
    let mut batch = w.new_batch(64);
    let idx: Vec<usize> = (0..w.len()).step_by(w.len() / 50).take(64).collect();
    w.fill(&idx, &mut batch);
    assert_eq!(batch.len, idx.len());
    for (row, &i) in idx.iter().enumerate() {
        let (sku, e) = w.locate(i);
        let s = &ds.series[sku];
        let scale = feats[sku].scale.scale as f32;
        // Target weeks never pass the split.
        assert!(s.week(e + 3) <= split);
        for j in 0..4 {
            assert_eq!(
                batch.future_y[row * 4 + j],
                (s.y[e + j] / feats[sku].scale.scale) as f32
            );
        }
        // The last context week is the week before the first target; padding is masked.
        assert!((batch.past_y[row * 12 + 11] - s.y[e - 1] as f32 / scale).abs() < 1e-6);
        let pads = 12usize.saturating_sub(e);
        for j in 0..12 {
            assert_eq!(
                batch.past_mask[row * 12 + j],
                if j < pads { 0.0 } else { 1.0 }
            );
        }
    }
    // Scale statistics use only weeks up to the split.
    let s0 = &ds.series[0];
    let fit = (s0.start.weeks_until(split) + 1) as usize;
    let mean = s0.y[..fit].iter().sum::<f64>() / fit as f64;
    assert!((feats[0].scale.mean - mean).abs() < 1e-9);

    // Context scaling: each window divides by 1 + the mean of its own real context weeks, and
    // `index_of` finds the window `locate` describes.
    let wc = Windows::new(&ds, &feats, &schema, spec.with_context_scale(true), split);
    wc.fill(&idx, &mut batch);
    for (row, &i) in idx.iter().enumerate() {
        let (sku, e) = wc.locate(i);
        assert_eq!(wc.index_of(sku, e), Some(i));
        let y = &ds.series[sku].y;
        let ctx = &y[e.saturating_sub(12)..e];
        let scale = 1.0 + ctx.iter().sum::<f64>() / ctx.len() as f64;
        assert!((f64::from(batch.scale[row]) - scale).abs() < 1e-4 * scale);
        assert!((batch.future_y[row * 4] - (y[e] / scale) as f32).abs() < 1e-5);
    }
    assert_eq!(wc.index_of(0, 1), None, "below min_context");
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn config_for(path: &Path) -> IngestConfig {
    toml::from_str(&format!("[source]\npath = {:?}\n", path.to_string_lossy())).unwrap()
}

#[test]
fn bad_input_errors_name_file_row_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let header = "unique_id,ds,y\n";
    let good = "A,2024-01-01,3\nA,2024-01-02,4\n";
    let cases = [
        (
            "nonnum.csv",
            format!("{header}{good}A,2024-01-03,lots\n"),
            vec!["nonnum.csv", "row 3", "`y`", "lots", "not a number"],
        ),
        (
            "baddate.csv",
            format!("{header}{good}A,01/03/2024,1\n"),
            vec![
                "baddate.csv",
                "row 3",
                "`ds`",
                "01/03/2024",
                "source.date_format",
            ],
        ),
        (
            "nan.csv",
            format!("{header}{good}A,2024-01-03,NaN\n"),
            vec!["nan.csv", "row 3", "finite"],
        ),
        (
            "inf.csv",
            format!("{header}A,2024-01-03,inf\n"),
            vec!["inf.csv", "row 1", "finite"],
        ),
        (
            "noid.csv",
            format!("{header}{good},2024-01-03,1\n"),
            vec!["noid.csv", "row 3", "unique_id"],
        ),
        (
            "nocol.csv",
            "unique_id,date,y\nA,2024-01-01,1\n".to_string(),
            vec![
                "nocol.csv",
                "missing column `ds`",
                "columns.date",
                "unique_id, date, y",
            ],
        ),
        (
            "semicolons.csv",
            "unique_id;ds;y\nA;2024-01-01;1\n".to_string(),
            vec!["semicolons.csv", "unique_id;ds;y", "comma-separated"],
        ),
    ];
    for (name, text, needles) in cases {
        let p = write(dir.path(), name, &text);
        let err = ingest(&config_for(&p)).unwrap_err().to_string();
        for n in needles {
            assert!(err.contains(n), "{name}: {err:?} should mention {n:?}");
        }
    }
    // Unknown config keys are named.
    let cfg = write(
        dir.path(),
        "c.toml",
        "[source]\npath = \"x.csv\"\n[clean]\noutlier = \"iqr\"\n",
    );
    let err = IngestConfig::load(&cfg).unwrap_err().to_string();
    assert!(err.contains("c.toml") && err.contains("outlier"), "{err}");
    // A missing file is named.
    let err = ingest(&config_for(&dir.path().join("absent.csv")))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent.csv"), "{err}");
}

/// Two weeks of daily data plus partial weeks at both ends.
fn daily_csv() -> String {
    let mut s = String::from("unique_id,ds,y,promo\n");
    // 2024-01-03 (Wed) .. 2024-01-23 (Tue): full weeks 01-08 and 01-15 only.
    for d in 3..=23 {
        let y = if d == 10 { 100 } else { 2 };
        s += &format!("A,2024-01-{d:02},{y},{}\n", if d == 17 { "1" } else { "" });
        if d >= 9 {
            s += &format!("B,2024-01-{d:02},{},0\n", if d == 12 { -3 } else { 1 });
        }
    }
    s += "A,2024-01-09,5,0\n"; // a duplicate (SKU, day)
    s += "C,2024-01-09,0,0\n"; // never sells
    s
}

#[test]
fn cleaning_rules_are_configurable_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "d.csv", &daily_csv());
    let mut cfg = config_for(&p);
    cfg.columns.promo = Some("promo".into());
    let (ds, r) = ingest(&cfg).unwrap();
    assert_eq!(r.granularity, "daily");
    assert_eq!(
        (
            ds.first_week.to_string().as_str(),
            ds.last_week.to_string().as_str()
        ),
        ("2024-01-08", "2024-01-15")
    );
    let a = &ds.series[0];
    // Week of 01-08: six days of 2 + 100 on the 10th + duplicate 5 on the 9th.
    assert_eq!(a.y, vec![6.0 * 2.0 + 100.0 + 5.0, 14.0]);
    assert_eq!(a.covariates[0], vec![0.0, 1.0 / 7.0]);
    let b = &ds.series[1];
    assert_eq!(b.start.to_string(), "2024-01-08");
    assert_eq!(
        b.y,
        vec![6.0 - 1.0, 7.0],
        "the return on 01-12 is clipped to 0"
    );
    assert_eq!(ds.series.len(), 2, "C never sells");
    assert_eq!(r.changed_count("duplicate_rows_summed"), 1);
    assert_eq!(r.changed_count("negative_clipped"), 1);
    assert_eq!(r.removed_count("no_sales"), 1);
    assert!(r.removed_count("partial_week") > 0);
    assert!(
        (r.accounted_units() - r.output_units).abs() < 1e-9,
        "{r:#?}"
    );

    cfg.clean.negative = NegativePolicy::Drop;
    let (_, r) = ingest(&cfg).unwrap();
    assert_eq!(r.removed_count("negative_demand"), 1);
    cfg.clean.negative = NegativePolicy::Reject;
    let err = ingest(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("negative demand") && err.contains("-3"),
        "{err}"
    );
    cfg.clean.negative = NegativePolicy::Clip;
    cfg.clean.duplicates = DuplicatePolicy::Reject;
    let err = ingest(&cfg).unwrap_err().to_string();
    assert!(
        err.contains("duplicate") && err.contains("\"A\"") && err.contains("2024-01-09"),
        "{err}"
    );
    cfg.clean.duplicates = DuplicatePolicy::Sum;
    cfg.clean.outliers = OutlierMethod::Iqr;
    cfg.clean.outlier_threshold = 1.5;
    let (ds_iqr, r) = ingest(&cfg).unwrap();
    // Two weeks are too few for a spread: nothing is capped, and the rule says so by a zero count.
    assert_eq!(r.changed_count("outlier_capped"), 0);
    assert_eq!(ds_iqr.series[0].y[0], 117.0);
}

#[test]
fn weekly_input_keeps_its_weeks() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "w.csv",
        "unique_id,ds,y\nA,2024-01-01,3\nA,2024-01-15,4\nB,2024-01-08,0\nB,2024-01-15,2\n",
    );
    let (ds, r) = ingest(&config_for(&p)).unwrap();
    assert_eq!(r.granularity, "weekly");
    assert_eq!(ds.series[0].y, vec![3.0, 0.0, 4.0]);
    assert_eq!(r.changed_count("gap_filled_with_zero"), 1);
    assert_eq!(ds.series[1].y, vec![2.0]);
    assert_eq!(r.removed_count("before_first_sale"), 1);
}

/// Reading in batches changes nothing: the dirty synthetic catalogue (duplicates, negatives,
/// missing prices) read 500 rows at a time gives the dataset and the report of one batch; a
/// duplicate (SKU, day) whose rows fall in different batches is still found and summed (or
/// rejected, naming it); and a bad value in a late batch names its row in the file.
#[test]
fn batches_of_any_size_give_the_same_weekly_data() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 40, 60, true);
    let cfg = IngestConfig::load(&dir.path().join("ingest.toml")).unwrap();
    let (whole, whole_report) = restock_data::ingest_in_batches(&cfg, usize::MAX >> 1).unwrap();
    let (batched, report) = restock_data::ingest_in_batches(&cfg, 500).unwrap();
    assert!(report.input_rows > 10 * 500, "{}", report.input_rows);
    assert_eq!(report, whole_report);
    assert_eq!(batched.series.len(), whole.series.len());
    for (a, b) in batched.series.iter().zip(&whole.series) {
        assert_eq!(
            (&a.unique_id, a.start, &a.y, &a.statics),
            (&b.unique_id, b.start, &b.y, &b.statics)
        );
        for (ca, cb) in a.covariates.iter().zip(&b.covariates) {
            for (x, y) in ca.iter().zip(cb) {
                assert!(
                    (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                    "{}: {x} vs {y}",
                    a.unique_id
                );
            }
        }
    }

    // A duplicate split over two batches: rows 2 and 5 of the file.
    let text = "unique_id,ds,y\nA,2024-01-08,1\nA,2024-01-09,2\nA,2024-01-10,1\nB,2024-01-08,4\n\
                A,2024-01-09,3\nB,2024-01-14,1\n";
    let p = write(dir.path(), "dup.csv", text);
    let mut cfg = config_for(&p);
    let (ds, report) = restock_data::ingest_in_batches(&cfg, 3).unwrap();
    assert_eq!(
        report.changed_count("duplicate_rows_summed"),
        1,
        "{report:#?}"
    );
    let a = ds.series.iter().find(|s| s.unique_id == "A").unwrap();
    assert_eq!(a.y, vec![7.0], "2024-01-09's rows summed across batches");
    assert_eq!(report.input_rows, 6);
    cfg.clean.duplicates = DuplicatePolicy::Reject;
    let err = restock_data::ingest_in_batches(&cfg, 3)
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"A\"") && err.contains("2024-01-09"), "{err}");

    // A bad value in the third batch of two rows: its row in the file.
    let text = "unique_id,ds,y\nA,2024-01-08,1\nA,2024-01-09,2\nA,2024-01-10,1\nA,2024-01-11,1\n\
                A,2024-01-12,x\nA,2024-01-13,1\n";
    let p = write(dir.path(), "late.csv", text);
    let err = restock_data::ingest_in_batches(&config_for(&p), 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("late.csv") && err.contains("row 5"), "{err}");
}

/// A weekly file read in chunks gives back its series whole and in order, whatever the chunk
/// size: one row (every SKU longer than a chunk), a few rows, or the whole file at once.
#[test]
fn weekly_chunks_hand_out_whole_skus_in_order() {
    let dir = tempfile::tempdir().unwrap();
    synth(dir.path(), 30, 40, false);
    let cfg = IngestConfig::load(&dir.path().join("ingest.toml")).unwrap();
    let (ds, _) = ingest(&cfg).unwrap();
    let path = dir.path().join("weekly.parquet");
    ds.write(&path).unwrap();
    for rows in [1, 7, 100, usize::MAX >> 1] {
        let mut chunks = restock_data::weekly::WeeklyChunks::open(&path, rows).unwrap();
        let mut series = Vec::new();
        while let Some(chunk) = chunks.next_chunk().unwrap() {
            assert_eq!(
                (chunk.first_week, chunk.last_week),
                (ds.first_week, ds.last_week)
            );
            // Events are known for the weeks the chunk's SKUs have rows in.
            let from = chunk.series.iter().map(|s| s.start).min().unwrap();
            let skip = ds.first_week.weeks_until(from) as usize;
            let (got, all) = (
                chunk.event_days.as_ref().unwrap(),
                ds.event_days.as_ref().unwrap(),
            );
            assert_eq!(got[skip..], all[skip..], "chunks of {rows} rows");
            series.extend(chunk.series);
        }
        assert_eq!(series, ds.series, "chunks of {rows} rows");
        assert_eq!(chunks.rows_read(), ds.rows());
    }
}
