//! Presets for the two real data sets of `shared/data/` (see its README for the protocol).

use std::path::Path;

use polars::prelude::*;
use restock_core::columns;

use crate::config::{CalendarConfig, CleanConfig, ColumnMap};
use crate::error::PolarsContext;
use crate::ingest::{
    BATCH_ROWS, Batches, aggregate, parse_days, read_calendar_days, weekly_dataset,
};
use crate::report::QualityReport;
use crate::weekly::WeeklyDataset;
use crate::{Error, Result, table};

/// The presets `restock ingest --preset` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// Walmart M5 subset: `sales.parquet`, `calendar.csv`, `sell_prices.parquet` in one folder.
    M5,
    /// UCI Online Retail invoice lines: `transactions.parquet` (or the folder holding it).
    OnlineRetail,
}

impl std::str::FromStr for Preset {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "m5" => Ok(Preset::M5),
            "online-retail" | "online_retail" => Ok(Preset::OnlineRetail),
            other => Err(Error::Param {
                name: "preset",
                message: format!("unknown preset {other:?}; expected \"m5\" or \"online-retail\""),
            }),
        }
    }
}

impl Preset {
    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::M5 => "m5",
            Preset::OnlineRetail => "online-retail",
        }
    }

    /// Ingest the data set at `path` (a folder, or the main file).
    pub fn ingest(self, path: &Path) -> Result<(WeeklyDataset, QualityReport)> {
        let mut out = match self {
            Preset::M5 => m5(path),
            Preset::OnlineRetail => online_retail(path),
        }?;
        out.1.preset = Some(self.name().into());
        Ok(out)
    }
}

fn in_dir(path: &Path, file: &str) -> std::path::PathBuf {
    if path.is_dir() {
        path.join(file)
    } else {
        path.with_file_name(file)
    }
}

/// M5: daily item×store sales, events from the calendar, shelf prices where they exist
/// (joined through the calendar's Walmart week `wm_yr_wk`).
fn m5(path: &Path) -> Result<(WeeklyDataset, QualityReport)> {
    let sales = in_dir(path, "sales.parquet");
    let calendar = in_dir(path, "calendar.csv");
    let prices = in_dir(path, "sell_prices.parquet");
    let statics: Vec<String> = ["item_id", "dept_id", "cat_id", "store_id", "state_id"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let map = ColumnMap {
        statics: statics.clone(),
        ..ColumnMap::default()
    };
    let mut wanted: Vec<(&str, String)> = vec![
        ("id", "unique_id".into()),
        ("date", "ds".into()),
        ("target", "y".into()),
    ];
    wanted.extend(statics.iter().map(|s| ("static", s.clone())));
    let clean = CleanConfig::default();
    let mut report = QualityReport {
        source: path.display().to_string(),
        ..Default::default()
    };
    // Shelf prices by Walmart week, and each day's Walmart week: small tables, read once and
    // joined to every batch of sales.
    let price_tables = if prices.exists() {
        let cal = table::read_columns(
            &calendar,
            &[("date", "date".into()), ("wm_yr_wk", "wm_yr_wk".into())],
        )?;
        let days = parse_days(
            &calendar,
            "date",
            cal.column("date").ctx(|| "calendar".into())?,
            "%Y-%m-%d",
        )?;
        let wk = crate::ingest::parse_numbers(
            &calendar,
            "wm_yr_wk",
            cal.column("wm_yr_wk").ctx(|| "cal".into())?,
        )?;
        let wk: Vec<Option<i64>> = wk.into_iter().map(|v| v.map(|x| x as i64)).collect();
        let cal = DataFrame::new(
            days.len(),
            vec![
                Column::new(columns::DS.into(), days),
                Column::new("wm_yr_wk".into(), wk),
            ],
        )
        .ctx(|| "calendar".into())?;
        let pr = table::scan(&prices)?
            .select([
                col("item_id"),
                col("store_id"),
                col("wm_yr_wk").cast(DataType::Int64),
                col("sell_price"),
            ])
            .collect()
            .map_err(|source| Error::Read {
                path: prices.clone(),
                source,
            })?;
        Some((cal, pr))
    } else {
        None
    };
    let mut batches = Batches::new(&sales, &map, &clean);
    let raw = table::read_columns_lazy(&sales, &wanted)?;
    table::for_each_batch(&sales, raw, BATCH_ROWS, |batch, first| {
        let daily = batches.validate(&batch, first, "%Y-%m-%d", &mut report)?;
        let daily = match &price_tables {
            Some((cal, pr)) => daily
                .lazy()
                .join(
                    cal.clone().lazy(),
                    [col(columns::DS)],
                    [col(columns::DS)],
                    JoinArgs::new(JoinType::Left),
                )
                .join(
                    pr.clone().lazy(),
                    [col("item_id"), col("store_id"), col("wm_yr_wk")],
                    [col("item_id"), col("store_id"), col("wm_yr_wk")],
                    JoinArgs::new(JoinType::Left),
                )
                .with_column(col("sell_price").alias(columns::PRICE))
                .drop(cols(["sell_price", "wm_yr_wk"]))
                .collect()
                .ctx(|| format!("{}: joining prices", prices.display()))?,
            None => daily,
        };
        batches.sums.add(&sales, daily)
    })?;
    let sums = batches.finish(&mut report);
    let events = if calendar.exists() {
        Some(read_calendar_days(
            &CalendarConfig {
                path: calendar.clone(),
                date: "date".into(),
                events: vec!["event_name_1".into(), "event_name_2".into()],
            },
            "%Y-%m-%d",
        )?)
    } else {
        None
    };
    let ds = weekly_dataset(&sales, &sums, &clean, events.as_deref(), &mut report)?;
    Ok((ds, report))
}

/// Online Retail: invoice lines -> daily SKU demand. Cancellations (`InvoiceNo` starting with `C`),
/// non-positive quantities (returns, corrections) and non-product codes (first five characters not
/// all digits: `POST`, `DOT`, `M`, `BANK CHARGES`, ...) are removed and counted; stock codes are
/// upper-cased; several lines of one code on one day are summed.
fn online_retail(path: &Path) -> Result<(WeeklyDataset, QualityReport)> {
    let file = if path.is_dir() {
        path.join("transactions.parquet")
    } else {
        path.to_path_buf()
    };
    let raw = table::read_columns(
        &file,
        &[
            ("invoice", "InvoiceNo".into()),
            ("id", "StockCode".into()),
            ("target", "Quantity".into()),
            ("date", "InvoiceDate".into()),
            ("price", "UnitPrice".into()),
        ],
    )?;
    let n = raw.height();
    let get = |c: &str| raw.column(c).ctx(|| format!("{}: {c}", file.display()));
    let invoice = get("InvoiceNo")?
        .cast(&DataType::String)
        .ctx(|| "InvoiceNo".into())?;
    let invoice = invoice.str().ctx(|| "InvoiceNo".into())?;
    let code = get("StockCode")?
        .cast(&DataType::String)
        .ctx(|| "StockCode".into())?;
    let code = code.str().ctx(|| "StockCode".into())?;
    let qty = crate::ingest::parse_numbers(&file, "Quantity", get("Quantity")?)?;
    let price = crate::ingest::parse_numbers(&file, "UnitPrice", get("UnitPrice")?)?;
    let days = parse_days(
        &file,
        "InvoiceDate",
        get("InvoiceDate")?,
        "%Y-%m-%d %H:%M:%S",
    )?;

    let mut report = QualityReport {
        source: file.display().to_string(),
        input_rows: n,
        ..Default::default()
    };
    let (mut cancelled, mut cancelled_units) = (0usize, 0.0);
    let (mut nonpositive, mut nonpositive_units) = (0usize, 0.0);
    let (mut nonproduct, mut nonproduct_units) = (0usize, 0.0);
    let mut ids: Vec<String> = Vec::new();
    let mut ds = Vec::new();
    let mut y = Vec::new();
    let mut pr = Vec::new();
    let mut all_codes = std::collections::HashSet::new();
    for i in 0..n {
        let q = qty[i].ok_or_else(|| Error::BadValue {
            path: file.clone(),
            row: i + 1,
            column: "Quantity".into(),
            value: "null".into(),
            problem: "missing quantity".into(),
        })?;
        report.input_units += q;
        let c = code.get(i).unwrap_or("").trim().to_uppercase();
        all_codes.insert(c.clone());
        if invoice.get(i).is_some_and(|v| v.starts_with('C')) {
            cancelled += 1;
            cancelled_units += q;
            continue;
        }
        if q <= 0.0 {
            nonpositive += 1;
            nonpositive_units += q;
            continue;
        }
        let product = c.chars().count() >= 5 && c.chars().take(5).all(|ch| ch.is_ascii_digit());
        if !product {
            nonproduct += 1;
            nonproduct_units += q;
            continue;
        }
        ids.push(c);
        ds.push(days[i]);
        y.push(q);
        pr.push(price[i].filter(|p| p.is_finite() && *p > 0.0));
    }
    report.input_skus = all_codes.len();
    report.remove(
        "cancelled_invoice",
        "input rows",
        cancelled,
        cancelled_units,
    );
    report.remove(
        "non_positive_quantity",
        "input rows",
        nonpositive,
        nonpositive_units,
    );
    report.remove(
        "non_product_code",
        "input rows",
        nonproduct,
        nonproduct_units,
    );
    let len = ids.len();
    let daily = DataFrame::new(
        len,
        vec![
            Column::new(columns::UNIQUE_ID.into(), ids),
            Column::new(columns::DS.into(), ds),
            Column::new(columns::Y.into(), y),
            Column::new(columns::PRICE.into(), pr),
        ],
    )
    .ctx(|| "online retail rows".into())?;
    let ds = aggregate(
        &file,
        daily,
        &[],
        &CleanConfig::default(),
        None,
        &mut report,
    )?;
    // Many invoice lines of one code on one day are normal here, not a data error.
    for c in report
        .changed
        .iter_mut()
        .filter(|c| c.reason == "duplicate_rows_summed")
    {
        c.reason = "same_day_lines_summed".into();
    }
    Ok((ds, report))
}
