//! Sales from a real database server: PostgreSQL and MySQL/MariaDB. `.ci/run` starts both on
//! localhost and sets `RESTOCK_TEST_POSTGRES_URL` and `RESTOCK_TEST_MYSQL_URL`; without them a
//! test says SKIPPED.

use std::path::PathBuf;

use polars::prelude::*;
use restock_data::config::{DatabaseKind, DatabaseSource, IngestConfig};
use restock_data::database::{Replace, load_table};
use restock_data::synth::{SynthCatalogue, SynthConfig};

const SERVERS: [(DatabaseKind, &str); 2] = [
    (DatabaseKind::Postgres, "RESTOCK_TEST_POSTGRES_URL"),
    (DatabaseKind::Mysql, "RESTOCK_TEST_MYSQL_URL"),
];

/// The servers this run can reach, each with the variable holding its URL.
fn servers(test: &str) -> Vec<(DatabaseKind, &'static str)> {
    SERVERS
        .iter()
        .copied()
        .filter(|(_, var)| {
            let set = std::env::var(var).is_ok();
            if !set {
                eprintln!("SKIPPED {test} on {var}: not set (.ci/run starts the server)");
            }
            set
        })
        .collect()
}

/// The dirty synthetic catalogue's sales loaded into a table, read back in batches of 700 rows
/// through the driver, give the weekly data and quality report that the file gives.
#[test]
fn sales_from_a_database_ingest_as_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let cat = SynthCatalogue::generate(&SynthConfig {
        skus: 40,
        weeks: 60,
        dirty: true,
        ..Default::default()
    })
    .unwrap();
    cat.write(dir.path()).unwrap();
    let cfg = IngestConfig::load(&dir.path().join("ingest.toml")).unwrap();
    let (file_ds, file_report) = restock_data::ingest(&cfg).unwrap();
    let sales = restock_data::table::scan(&cfg.source.path)
        .unwrap()
        .collect()
        .unwrap();
    for (kind, var) in servers("sales_from_a_database_ingest_as_from_the_file") {
        let db = DatabaseSource {
            kind,
            url_env: var.into(),
            table: "restock_test_sales".into(),
        };
        assert_eq!(
            load_table(&db, &sales, &Replace::Table).unwrap(),
            sales.height() as u64
        );
        let mut db_cfg = cfg.clone();
        db_cfg.source.path = PathBuf::new();
        db_cfg.source.database = Some(db.clone());
        let (ds, report) = restock_data::ingest_in_batches(&db_cfg, 700).unwrap();
        assert!(report.input_rows > 5 * 700, "{}", report.input_rows);
        assert_eq!(
            report.source,
            restock_data::database::location(&db).display().to_string()
        );
        assert_eq!(
            restock_data::QualityReport {
                source: file_report.source.clone(),
                ..report.clone()
            },
            file_report,
            "{kind:?}"
        );
        assert_eq!(ds.series.len(), file_ds.series.len());
        for (a, b) in ds.series.iter().zip(&file_ds.series) {
            assert_eq!(
                (&a.unique_id, a.start, &a.y, &a.statics),
                (&b.unique_id, b.start, &b.y, &b.statics),
                "{kind:?}"
            );
            for (ca, cb) in a.covariates.iter().zip(&b.covariates) {
                for (x, y) in ca.iter().zip(cb) {
                    assert!(
                        (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                        "{kind:?} {}: {x} vs {y}",
                        a.unique_id
                    );
                }
            }
        }
        assert_eq!(ds.event_days, file_ds.event_days);

        // What is missing is named: a column, the table, the URL's variable.
        let mut bad = db_cfg.clone();
        bad.columns.promo = Some("no_such_column".into());
        let err = restock_data::ingest(&bad).unwrap_err().to_string();
        assert!(
            err.contains("restock_test_sales") && err.contains("no_such_column"),
            "{err}"
        );
        let mut bad = db_cfg.clone();
        bad.source.database.as_mut().unwrap().table = "no_such_table".into();
        let err = restock_data::ingest(&bad).unwrap_err().to_string();
        assert!(err.contains("no table \"no_such_table\""), "{err}");
        let mut bad = db_cfg.clone();
        bad.source.database.as_mut().unwrap().url_env = "RESTOCK_TEST_NOT_SET".into();
        let err = restock_data::ingest(&bad).unwrap_err().to_string();
        assert!(err.contains("RESTOCK_TEST_NOT_SET"), "{err}");
    }
}

/// A table's rows are validated like a file's: text dates in the config's format (a wrong one
/// names the first row), a `DATE` column read whatever that format, and a bad value in a later
/// batch names its row in the table.
#[test]
fn database_rows_are_validated_like_a_files() {
    for (kind, var) in servers("database_rows_are_validated_like_a_files") {
        let kind_name = match kind {
            DatabaseKind::Postgres => "postgres",
            DatabaseKind::Mysql => "mysql",
        };
        let dir = tempfile::tempdir().unwrap();
        let ingest_of = |table: &str| {
            let toml = format!(
                "[source]\ndate_format = \"%d/%m/%Y\"\n[source.database]\nkind = \"{kind_name}\"\n\
                 url_env = \"{var}\"\ntable = \"{table}\"\n\
                 [columns]\nid = \"sku\"\ndate = \"day\"\ntarget = \"units\"\n"
            );
            let path = dir.path().join(format!("{table}.toml"));
            std::fs::write(&path, toml).unwrap();
            let cfg = IngestConfig::load(&path).unwrap();
            restock_data::ingest_in_batches(&cfg, 2)
                .unwrap_err()
                .to_string()
        };
        let db = |table: &str| DatabaseSource {
            kind,
            url_env: var.into(),
            table: table.into(),
        };
        let ids: Vec<&str> = vec!["A"; 9];
        let mut units: Vec<String> = (0..9).map(|i| i.to_string()).collect();
        units[5] = "lots".into();
        // Dates as text, not in the config's format: the first row is named.
        let text_days: Vec<String> = (8..17).map(|d| format!("2024-01-{d:02}")).collect();
        let df = df!("sku" => &ids, "day" => &text_days, "units" => &units).unwrap();
        load_table(&db("restock_test_text_days"), &df, &Replace::Table).unwrap();
        let err = ingest_of("restock_test_text_days");
        assert!(
            err.contains("row 1") && err.contains("2024-01-08"),
            "{kind:?}: {err}"
        );
        // The same dates as a DATE column: read; the bad value in the third batch is named.
        let days = df!("d" => &text_days)
            .unwrap()
            .lazy()
            .select([col("d").str().to_date(StrptimeOptions::default())])
            .collect()
            .unwrap();
        let mut df = df;
        df.replace(
            "day",
            days.column("d").unwrap().clone().with_name("day".into()),
        )
        .unwrap();
        load_table(&db("restock_test_date_days"), &df, &Replace::Table).unwrap();
        let err = ingest_of("restock_test_date_days");
        assert!(
            err.contains("row 6") && err.contains("lots"),
            "{kind:?}: {err}"
        );
    }
}

/// Rows of `table` per value of its `cycle` column, read back through restock's reader.
fn rows_per_cycle(db: &DatabaseSource) -> std::collections::BTreeMap<String, usize> {
    let mut counts = std::collections::BTreeMap::new();
    restock_data::database::for_each_batch(
        db,
        &[("cycle", "cycle".to_string())],
        ("cycle", "%Y-%m-%d"),
        1000,
        &mut |df, _, _| {
            let cycles = df.column("cycle").unwrap().str().unwrap().clone();
            for c in cycles.iter() {
                *counts.entry(c.unwrap_or("null").to_string()).or_insert(0) += 1;
            }
            Ok(())
        },
    )
    .unwrap();
    counts
}

/// A weekly cycle's outputs (forecasts here) replace that cycle's rows and keep the others:
/// loading the same cycle twice leaves one copy, and a load that fails part-way leaves the
/// table as it was (one transaction).
#[test]
fn a_cycle_is_replaced_in_one_transaction() {
    for (kind, var) in servers("a_cycle_is_replaced_in_one_transaction") {
        let db = DatabaseSource {
            kind,
            url_env: var.into(),
            table: "restock_test_forecasts".into(),
        };
        let dir = tempfile::tempdir().unwrap();
        let forecasts = |q50: Vec<String>| {
            let n = q50.len();
            let ids: Vec<String> = (0..n).map(|i| format!("SKU{i:03}")).collect();
            let mut df = df!("unique_id" => ids, "q50" => q50).unwrap();
            let path = dir.path().join("f.csv");
            restock_data::table::write(&mut df, &path).unwrap();
            path
        };
        let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
        let good = forecasts((0..100).map(|i| i.to_string()).collect());
        // A fresh table holding cycle 05-06 (numbers as text columns: CSV reads as text).
        let mut first = restock_data::table::scan(&good)
            .unwrap()
            .with_column(lit(day("2024-05-06")).cast(DataType::Date).alias("cycle"))
            .collect()
            .unwrap();
        first = first
            .lazy()
            .with_column(col("q50").cast(DataType::Float64))
            .collect()
            .unwrap();
        load_table(&db, &first, &Replace::Table).unwrap();
        for _ in 0..2 {
            let n = restock_data::database::load_file(&db, &good, Some(day("2024-05-13"))).unwrap();
            assert_eq!(n, 100);
        }
        let expected: std::collections::BTreeMap<String, usize> = [
            ("2024-05-06".to_string(), 100),
            ("2024-05-13".to_string(), 100),
        ]
        .into();
        assert_eq!(rows_per_cycle(&db), expected, "{kind:?}");
        // Cycle 05-13 again, with a value the number column refuses at row 51: an error, and
        // the 100 rows of 05-13 are still there.
        let mut q50: Vec<String> = (0..100).map(|i| i.to_string()).collect();
        q50[50] = "not a number".into();
        let bad = forecasts(q50);
        let err = restock_data::database::load_file(&db, &bad, Some(day("2024-05-13")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("restock_test_forecasts"), "{err}");
        assert_eq!(
            rows_per_cycle(&db),
            expected,
            "{kind:?} after a failed load"
        );
    }
}
