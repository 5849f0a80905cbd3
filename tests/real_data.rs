//! The presets on the real data sets of `../shared/data` (present beside every checkout of this
//! project, CI included): weekly row counts and totals are recomputed here from the raw files with
//! a plain row loop and compared with what `ingest` wrote, and the benchmark protocol's series
//! counts (2,521 M5, 3,266 Online Retail) come out. Skipped, loudly, when the data is absent.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;
use restock_data::{Preset, WeeklyDataset, table};
use restock_tests::shared_data;

/// Series with at least 20 weeks of history before the last 8 weeks (the protocol's filter).
fn protocol_series(ds: &WeeklyDataset) -> usize {
    ds.series.iter().filter(|s| s.y.len() >= 8 + 20).count()
}

fn monday(d: NaiveDate) -> NaiveDate {
    d - chrono::Days::new(d.weekday().num_days_from_monday() as u64)
}

/// Expected (units, rows) from raw (id, day, qty) rows inside [first, last+6 days].
fn expected(
    rows: impl Iterator<Item = (String, NaiveDate, f64)>,
    first: NaiveDate,
    last_week: NaiveDate,
) -> (f64, usize, usize) {
    let end = last_week + chrono::Days::new(6);
    let mut units = 0.0;
    let mut first_sale: HashMap<String, NaiveDate> = HashMap::new();
    for (id, d, q) in rows {
        if d < first || d > end {
            continue;
        }
        units += q;
        if q > 0.0 {
            let w = monday(d);
            let e = first_sale.entry(id).or_insert(w);
            if w < *e {
                *e = w;
            }
        }
    }
    let weeks: usize = first_sale
        .values()
        .map(|w| ((last_week - *w).num_days() / 7 + 1) as usize)
        .sum();
    (units, weeks, first_sale.len())
}

#[test]
fn m5_preset_matches_the_raw_data() {
    let Some(dir) = shared_data("m5") else {
        eprintln!("SKIPPED m5_preset_matches_the_raw_data: ../shared/data/m5 not found");
        return;
    };
    let (ds, report) = Preset::M5.ingest(&dir).unwrap();
    let out = tempfile::tempdir().unwrap();
    let path = out.path().join("m5_weekly.parquet");
    ds.write(&path).unwrap();
    let back = WeeklyDataset::read(&path).unwrap();

    let raw = table::read_columns(
        &dir.join("sales.parquet"),
        &[
            ("", "unique_id".into()),
            ("", "ds".into()),
            ("", "y".into()),
        ],
    )
    .unwrap();
    let ids = raw.column("unique_id").unwrap().str().unwrap().clone();
    let days = raw.column("ds").unwrap().date().unwrap().physical().clone();
    let y = raw
        .column("y")
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let rows = (0..raw.height()).map(|i| {
        (
            ids.get(i).unwrap().to_string(),
            epoch + chrono::Days::new(days.get(i).unwrap() as u64),
            y.get(i).unwrap(),
        )
    });
    let first = NaiveDate::from_ymd_opt(2011, 1, 31).unwrap();
    let last = NaiveDate::from_ymd_opt(2016, 6, 13).unwrap();
    let (units, weeks, skus) = expected(rows, first, last);

    assert_eq!(
        (back.first_week.monday(), back.last_week.monday()),
        (first, last)
    );
    assert_eq!(back.total_units(), units);
    assert_eq!(back.rows(), weeks);
    assert_eq!(back.series.len(), skus);
    assert_eq!(protocol_series(&back), 2521);
    assert_eq!(report.input_rows, raw.height());
    assert!(report.removed_count("partial_week") > 0);
    assert!((report.accounted_units() - report.output_units).abs() < 1e-6);
    // Prices exist for the 280 series in sell_prices.parquet, events from the calendar.
    let pi = back.covariate_index("price").unwrap();
    let with_price = back
        .series
        .iter()
        .filter(|s| s.covariates[pi].iter().any(|p| p.is_finite()))
        .count();
    assert!((250..=280).contains(&with_price), "{with_price}");
    assert!(
        back.event_days
            .as_ref()
            .unwrap()
            .iter()
            .filter(|e| **e > 0.0)
            .count()
            > 50
    );
    assert_eq!(
        back.statics,
        ["item_id", "dept_id", "cat_id", "store_id", "state_id"]
    );
}

#[test]
fn online_retail_preset_matches_the_raw_data() {
    let Some(dir) = shared_data("online_retail") else {
        eprintln!(
            "SKIPPED online_retail_preset_matches_the_raw_data: ../shared/data/online_retail not found"
        );
        return;
    };
    let (ds, report) = Preset::OnlineRetail.ingest(&dir).unwrap();
    let file = dir.join("transactions.parquet");
    let raw = table::read_columns(
        &file,
        &[
            ("", "InvoiceNo".into()),
            ("", "StockCode".into()),
            ("", "Quantity".into()),
            ("", "InvoiceDate".into()),
        ],
    )
    .unwrap();
    let inv = raw.column("InvoiceNo").unwrap().str().unwrap().clone();
    let code = raw.column("StockCode").unwrap().str().unwrap().clone();
    let qty = raw
        .column("Quantity")
        .unwrap()
        .cast(&DataType::Float64)
        .unwrap()
        .f64()
        .unwrap()
        .clone();
    let dates = raw
        .column("InvoiceDate")
        .unwrap()
        .cast(&DataType::Date)
        .unwrap();
    let dates = dates.date().unwrap().physical().clone();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
    let mut cancelled = 0;
    let rows: Vec<(String, NaiveDate, f64)> = (0..raw.height())
        .filter_map(|i| {
            let c = code.get(i).unwrap().trim().to_uppercase();
            let q = qty.get(i).unwrap();
            if inv.get(i).unwrap().starts_with('C') {
                cancelled += 1;
                return None;
            }
            let product = c.len() >= 5 && c[..5].bytes().all(|b| b.is_ascii_digit());
            (q > 0.0 && product).then(|| {
                (
                    c,
                    epoch + chrono::Days::new(dates.get(i).unwrap() as u64),
                    q,
                )
            })
        })
        .collect();
    let first = NaiveDate::from_ymd_opt(2010, 12, 6).unwrap();
    let last = NaiveDate::from_ymd_opt(2011, 11, 28).unwrap();
    let (units, weeks, skus) = expected(rows.into_iter(), first, last);
    assert_eq!(
        (ds.first_week.monday(), ds.last_week.monday()),
        (first, last)
    );
    assert_eq!(ds.total_units(), units);
    assert_eq!(ds.rows(), weeks);
    assert_eq!(ds.series.len(), skus);
    assert_eq!(protocol_series(&ds), 3266);
    assert_eq!(report.removed_count("cancelled_invoice"), cancelled);
    assert!(report.removed_count("non_positive_quantity") > 0);
    assert!(report.removed_count("non_product_code") > 0);
    assert!(report.changed_count("same_day_lines_summed") > 0);
    assert!((report.accounted_units() - report.output_units).abs() < 1e-6);
}

/// `auto_ets` on the protocol (8 test weeks, series with 20 weeks of history before them): WAPE
/// and MASE of its point forecast, to compare with the protocol table's statsforecast AutoETS.
fn auto_ets_scores(ds: &WeeklyDataset) -> (f64, f64) {
    use restock_core::{Forecaster, Horizon, Predict, Quantiles};
    let ets = restock_stats::Baseline::parse("auto_ets").unwrap();
    let levels = Quantiles::default();
    let horizon = Horizon::new(8).unwrap();
    let mut acc = restock_stats::AccuracyAccumulator::new(levels.levels());
    for s in ds.series.iter().filter(|s| s.y.len() >= 8 + 20) {
        let (history, actual) = s.y.split_at(s.y.len() - 8);
        let q = ets.fit(history).unwrap().predict(horizon, &levels);
        let score = restock_stats::SeriesScore::new(history, actual, &q, levels.levels()).unwrap();
        acc.add(&score);
    }
    let a = acc.finish();
    (a.wape, a.mase)
}

#[test]
fn auto_ets_reproduces_statsforecast_on_the_protocol() {
    let (Some(m5), Some(or)) = (shared_data("m5"), shared_data("online_retail")) else {
        eprintln!(
            "SKIPPED auto_ets_reproduces_statsforecast_on_the_protocol: ../shared/data not found"
        );
        return;
    };
    // The protocol table (shared/data/README.md): AutoETS M5 0.379 / 1.096, Online Retail
    // 0.749 / 1.573. restock leaves out multiplicative-error fits with relative errors above
    // σ = 0.5 (see `restock_stats::ets`), which moves Online Retail's WAPE by about 0.01.
    let (wape, mase) = auto_ets_scores(&Preset::M5.ingest(&m5).unwrap().0);
    assert!(
        (wape - 0.379).abs() < 0.003 && (mase - 1.096).abs() < 0.005,
        "M5 {wape} {mase}"
    );
    let (wape, mase) = auto_ets_scores(&Preset::OnlineRetail.ingest(&or).unwrap().0);
    assert!(
        (wape - 0.749).abs() < 0.015 && (mase - 1.573).abs() < 0.015,
        "OR {wape} {mase}"
    );
}
