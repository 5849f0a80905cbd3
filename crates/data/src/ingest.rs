//! Raw long-format sales -> a clean weekly dataset, with every change counted in a [`QualityReport`].
//!
//! Stages: read and validate the mapped columns (errors name file, row, column and value) ->
//! missing/negative demand policies -> duplicate (SKU, date) rows -> drop partial weeks at either
//! end of the data -> weekly sums (polars group-by) -> per SKU: start at the first sale, fill gaps
//! with zero demand, impute covariates, cap outliers.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use chrono::NaiveDate;
use polars::prelude::*;
use restock_core::{Week, columns};

use crate::config::{
    CalendarConfig, CleanConfig, ColumnMap, DuplicatePolicy, IngestConfig, MissingPolicy,
    NegativePolicy, OutlierMethod,
};
use crate::error::PolarsContext;
use crate::report::QualityReport;
use crate::weekly::{SkuSeries, WeeklyDataset};
use crate::{Error, Result, table};

mod weekly_sums;

pub use weekly_sums::BATCH_ROWS;
pub(crate) use weekly_sums::WeeklySums;
use weekly_sums::{WeekRow, count_distinct, in_file};

/// Ingest a raw sales file as described by `cfg`, read in batches of [`BATCH_ROWS`] rows.
pub fn ingest(cfg: &IngestConfig) -> Result<(WeeklyDataset, QualityReport)> {
    ingest_in_batches(cfg, BATCH_ROWS)
}

/// [`ingest`] reading `batch_rows` rows at a time: memory is bounded by the batch and the
/// weekly sums, and the result does not depend on the batch size (up to the last bit of a
/// covariate's weekly mean).
pub fn ingest_in_batches(
    cfg: &IngestConfig,
    batch_rows: usize,
) -> Result<(WeeklyDataset, QualityReport)> {
    let path = cfg.source.path.as_path();
    let mut wanted: Vec<(&str, String)> = vec![
        ("columns.id", cfg.columns.id.clone()),
        ("columns.date", cfg.columns.date.clone()),
        ("columns.target", cfg.columns.target.clone()),
    ];
    for (canon, raw) in cfg.columns.covariates() {
        wanted.push((canon, raw.to_string()));
    }
    for s in &cfg.columns.statics {
        wanted.push(("columns.static", s.clone()));
    }
    let db_location = cfg.source.database.as_ref().map(crate::database::location);
    let path = db_location.as_deref().unwrap_or(path);
    let mut report = QualityReport {
        source: path.display().to_string(),
        ..Default::default()
    };
    let mut batches = Batches::new(path, &cfg.columns, &cfg.clean);
    let mut add = |batch: DataFrame, first: usize, date_format: &str| {
        let daily = batches.validate(&batch, first, date_format, &mut report)?;
        batches.sums.add(path, daily)
    };
    match &cfg.source.database {
        None => {
            let raw = table::read_columns_lazy(path, &wanted)?;
            table::for_each_batch(path, raw, batch_rows, |batch, first| {
                add(batch, first, &cfg.source.date_format)
            })?;
        }
        Some(db) => {
            let dates = (cfg.columns.date.as_str(), cfg.source.date_format.as_str());
            // Batches twice a file's: fewer, larger parses of the server's text on the reading
            // thread (10,000 SKUs 7.9-8.0 s -> 7.6-7.7 s and 0.50 -> 0.65 GB; M5, a third of
            // the rows, 3.4 -> 3.6 s: both inside their targets; docs/benchmarks.md).
            crate::database::for_each_batch(db, &wanted, dates, batch_rows * 2, &mut add)?;
        }
    }
    let sums = batches.finish(&mut report);
    let calendar = cfg
        .calendar
        .as_ref()
        .map(|c| read_calendar_days(c, &cfg.source.date_format))
        .transpose()?;
    let ds = weekly_dataset(path, &sums, &cfg.clean, calendar.as_deref(), &mut report)?;
    Ok((ds, report))
}

/// A source's batches as they are read: each validated into canonical daily rows
/// ([`canonicalize`], errors counting rows in the whole source), then added to the weekly sums.
pub(crate) struct Batches<'a> {
    path: &'a Path,
    map: &'a ColumnMap,
    clean: &'a CleanConfig,
    /// The weekly sums so far.
    pub(crate) sums: WeeklySums,
    /// Distinct input SKUs so far.
    skus: HashSet<String>,
}

impl<'a> Batches<'a> {
    pub(crate) fn new(path: &'a Path, map: &'a ColumnMap, clean: &'a CleanConfig) -> Self {
        Batches {
            path,
            map,
            clean,
            sums: WeeklySums::new(&map.statics),
            skus: HashSet::new(),
        }
    }

    /// The canonical daily rows of `batch`, whose first row is the source's `first`.
    pub(crate) fn validate(
        &mut self,
        batch: &DataFrame,
        first: usize,
        date_format: &str,
        report: &mut QualityReport,
    ) -> Result<DataFrame> {
        canonicalize(
            self.path,
            batch,
            self.map,
            date_format,
            self.clean,
            &mut self.skus,
            report,
        )
        .map_err(|e| in_file(e, first))
    }

    /// The weekly sums of every batch; the report gets the input's distinct SKUs.
    pub(crate) fn finish(self, report: &mut QualityReport) -> WeeklySums {
        report.input_skus = self.skus.len();
        self.sums
    }
}

/// Validate the raw mapped columns and turn them into the canonical daily frame:
/// `unique_id` (text), `ds` (Int32 day number), `y` (f64), covariates (f64, nullable), statics
/// (text). The ids are added to `skus` (distinct input SKUs over the batches of a file); errors
/// count rows from the frame's first.
pub(crate) fn canonicalize(
    path: &Path,
    raw: &DataFrame,
    map: &ColumnMap,
    date_format: &str,
    clean: &CleanConfig,
    skus: &mut HashSet<String>,
    report: &mut QualityReport,
) -> Result<DataFrame> {
    let n = raw.height();
    report.input_rows += n;
    let get = |name: &str| {
        raw.column(name)
            .ctx(|| format!("{}: column {name}", path.display()))
    };
    let bad = |row: usize, column: &str, value: String, problem: String| Error::BadValue {
        path: path.to_path_buf(),
        row: row + 1,
        column: column.into(),
        value,
        problem,
    };

    // unique_id: text, never missing.
    let id_col = get(&map.id)?;
    let ids = match id_col.dtype() {
        DataType::String => id_col.clone(),
        d if d.is_integer() => id_col.cast(&DataType::String).ctx(|| map.id.clone())?,
        d => return Err(type_error(path, &map.id, d, "text or integer ids")),
    };
    let id_ca = ids.str().ctx(|| map.id.clone())?;
    if let Some(row) = id_ca
        .iter()
        .position(|v| v.is_none_or(|s| s.trim().is_empty()))
    {
        return Err(bad(
            row,
            &map.id,
            format!("{:?}", id_ca.get(row)),
            "missing unique_id".into(),
        ));
    }
    count_distinct(skus, id_ca);

    let days = parse_days(path, &map.date, get(&map.date)?, date_format)?;
    let y_raw = parse_numbers(path, &map.target, get(&map.target)?)?;
    let (y, keep) = clean_demand(y_raw, &map.target, clean, report, &bad)?;

    let mut cols = vec![
        ids.with_name(columns::UNIQUE_ID.into()),
        Column::new(columns::DS.into(), days),
        Column::new(columns::Y.into(), y),
    ];
    for (canon, rawname) in map.covariates() {
        let vals = parse_numbers(path, rawname, get(rawname)?)?;
        if let Some(row) = vals.iter().position(|v| v.is_some_and(f64::is_infinite)) {
            return Err(bad(row, rawname, "inf".into(), "infinite value".into()));
        }
        let mut vals: Vec<Option<f64>> = vals
            .into_iter()
            .map(|v| v.filter(|x| !x.is_nan()))
            .collect();
        if matches!(canon, columns::PROMO | columns::VIEWS | columns::CLICKS) {
            // A blank flag or count means none: fill before weekly shares and sums are taken.
            let blank = vals.iter().filter(|v| v.is_none()).count();
            vals.iter_mut()
                .filter(|v| v.is_none())
                .for_each(|v| *v = Some(0.0));
            report.change(&format!("{canon}_blank_as_zero"), "input rows", blank, 0.0);
        }
        cols.push(Column::new(canon.into(), vals));
    }
    for s in &map.statics {
        let c = get(s)?.cast(&DataType::String).ctx(|| s.clone())?;
        cols.push(c.with_name(s.as_str().into()));
    }
    let df = DataFrame::new(n, cols).ctx(|| "canonical frame".into())?;
    let mask = BooleanChunked::from_slice("keep".into(), &keep);
    df.filter(&mask).ctx(|| "filtering rows".into())
}

/// Demand as the cleaning rules say (`clean.negative`, `clean.missing_target`): the value per
/// row (0 where dropped or clipped) and whether the row is kept; the report counts each rule's
/// rows. `bad` names the file and row of a value refused.
fn clean_demand(
    y_raw: Vec<Option<f64>>,
    column: &str,
    clean: &CleanConfig,
    report: &mut QualityReport,
    bad: &dyn Fn(usize, &str, String, String) -> Error,
) -> Result<(Vec<f64>, Vec<bool>)> {
    let n = y_raw.len();
    let mut y = Vec::with_capacity(n);
    let mut keep = Vec::with_capacity(n);
    let (mut missing, mut neg_rows, mut neg_units) = (0usize, 0usize, 0.0);
    for (row, v) in y_raw.into_iter().enumerate() {
        match v {
            Some(v) if !v.is_finite() => {
                return Err(bad(
                    row,
                    column,
                    v.to_string(),
                    "demand must be a finite number".into(),
                ));
            }
            Some(v) => {
                report.input_units += v;
                if v < 0.0 {
                    neg_rows += 1;
                    neg_units += v;
                    match clean.negative {
                        NegativePolicy::Reject => {
                            return Err(bad(
                                row,
                                column,
                                v.to_string(),
                                "negative demand (clean.negative = \"reject\")".into(),
                            ));
                        }
                        NegativePolicy::Drop => {
                            y.push(0.0);
                            keep.push(false);
                            continue;
                        }
                        NegativePolicy::Clip => {
                            y.push(0.0);
                            keep.push(true);
                            continue;
                        }
                        NegativePolicy::Keep => {}
                    }
                }
                y.push(v);
                keep.push(true);
            }
            None => {
                missing += 1;
                match clean.missing_target {
                    MissingPolicy::Reject => {
                        return Err(bad(
                            row,
                            column,
                            "null".into(),
                            "missing demand (clean.missing_target = \"reject\")".into(),
                        ));
                    }
                    MissingPolicy::Drop => {
                        y.push(0.0);
                        keep.push(false);
                    }
                    MissingPolicy::Zero => {
                        y.push(0.0);
                        keep.push(true);
                    }
                }
            }
        }
    }
    match clean.missing_target {
        MissingPolicy::Drop => report.remove("missing_target", "input rows", missing, 0.0),
        _ => report.change("missing_target_as_zero", "input rows", missing, 0.0),
    }
    match clean.negative {
        NegativePolicy::Drop => report.remove("negative_demand", "input rows", neg_rows, neg_units),
        NegativePolicy::Clip => {
            report.change("negative_clipped", "input rows", neg_rows, -neg_units)
        }
        _ => {}
    }
    Ok((y, keep))
}

fn type_error(path: &Path, column: &str, dtype: &DataType, expected: &str) -> Error {
    Error::ColumnType {
        path: path.to_path_buf(),
        column: column.into(),
        dtype: dtype.to_string(),
        expected: expected.into(),
    }
}

/// The date of a day number (days since 1970-01-01).
pub fn date_of_day(day: i32) -> NaiveDate {
    let w = Week::containing_day(day);
    w.monday() + chrono::Days::new((day - w.day_number()) as u64)
}

/// Dates as day numbers since 1970-01-01, from a date, datetime or text column.
pub fn parse_days(path: &Path, name: &str, col: &Column, format: &str) -> Result<Vec<i32>> {
    let bad = |row: usize, value: String, problem: String| Error::BadValue {
        path: path.to_path_buf(),
        row: row + 1,
        column: name.into(),
        value,
        problem,
    };
    let as_dates = match col.dtype() {
        DataType::Date => Some(col.clone()),
        DataType::Datetime(_, _) => Some(col.cast(&DataType::Date).ctx(|| name.to_string())?),
        DataType::String => None,
        d => {
            return Err(type_error(
                path,
                name,
                d,
                "a date or text in the configured date format",
            ));
        }
    };
    if let Some(c) = as_dates {
        let ca = c.date().ctx(|| name.to_string())?.physical().clone();
        return ca
            .iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| bad(row, "null".into(), "missing date".into())))
            .collect();
    }
    let ca = col.str().ctx(|| name.to_string())?;
    // A sales file repeats a few hundred distinct dates millions of times: parse each once.
    let mut parsed: HashMap<&str, i32> = HashMap::new();
    ca.iter()
        .enumerate()
        .map(|(row, v)| {
            let s = v.ok_or_else(|| bad(row, "null".into(), "missing date".into()))?;
            if let Some(day) = parsed.get(s) {
                return Ok(*day);
            }
            let date = NaiveDate::parse_from_str(s.trim(), format).map_err(|e| {
                bad(
                    row,
                    s.into(),
                    format!(
                        "not a date in format {format:?} ({e}); source.date_format sets it, \
                         e.g. \"%d/%m/%Y\" or \"%Y-%m-%d %H:%M:%S\""
                    ),
                )
            })?;
            let day = Week::day_of(date);
            parsed.insert(s, day);
            Ok(day)
        })
        .collect()
}

/// Numbers from a numeric, boolean or text column; empty text is missing.
pub fn parse_numbers(path: &Path, name: &str, col: &Column) -> Result<Vec<Option<f64>>> {
    let dtype = col.dtype();
    if dtype.is_primitive_numeric() || dtype.is_bool() {
        let c = col.cast(&DataType::Float64).ctx(|| name.to_string())?;
        return Ok(c.f64().ctx(|| name.to_string())?.iter().collect());
    }
    if !dtype.is_string() {
        return Err(type_error(path, name, dtype, "numbers"));
    }
    let ca = col.str().ctx(|| name.to_string())?;
    ca.iter()
        .enumerate()
        .map(|(row, v)| match v.map(str::trim) {
            None | Some("") => Ok(None),
            Some(s) => s.parse::<f64>().map(Some).map_err(|_| Error::BadValue {
                path: path.to_path_buf(),
                row: row + 1,
                column: name.into(),
                value: s.into(),
                problem: "not a number".into(),
            }),
        })
        .collect()
}

/// Days with an event in a calendar file, as day numbers.
pub(crate) fn read_calendar_days(cal: &CalendarConfig, date_format: &str) -> Result<Vec<i32>> {
    let mut wanted = vec![("calendar.date", cal.date.clone())];
    wanted.extend(cal.events.iter().map(|e| ("calendar.events", e.clone())));
    let df = table::read_columns(&cal.path, &wanted)?;
    let days = parse_days(
        &cal.path,
        &cal.date,
        df.column(&cal.date).ctx(|| "calendar".into())?,
        date_format,
    )?;
    let mut has_event = vec![false; days.len()];
    for e in &cal.events {
        let c = df
            .column(e)
            .ctx(|| e.clone())?
            .cast(&DataType::String)
            .ctx(|| e.clone())?;
        for (i, v) in c.str().ctx(|| e.clone())?.iter().enumerate() {
            if v.is_some_and(|s| !s.trim().is_empty()) {
                has_event[i] = true;
            }
        }
    }
    let mut out: Vec<i32> = days
        .into_iter()
        .zip(has_event)
        .filter(|(_, e)| *e)
        .map(|(d, _)| d)
        .collect();
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Canonical daily (or weekly) rows held in memory -> the weekly dataset (one batch of
/// [`WeeklySums`]).
pub(crate) fn aggregate(
    path: &Path,
    daily: DataFrame,
    statics: &[String],
    clean: &CleanConfig,
    event_days: Option<&[i32]>,
    report: &mut QualityReport,
) -> Result<WeeklyDataset> {
    let mut sums = WeeklySums::new(statics);
    sums.add(path, daily)?;
    weekly_dataset(path, &sums, clean, event_days, report)
}

/// The weekly sums of a whole file -> the weekly dataset: duplicates checked against the policy,
/// partial weeks at either end dropped, then each SKU's series cleaned ([`to_series`]).
pub(crate) fn weekly_dataset(
    path: &Path,
    sums: &WeeklySums,
    clean: &CleanConfig,
    event_days: Option<&[i32]>,
    report: &mut QualityReport,
) -> Result<WeeklyDataset> {
    if sums.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            why: "no rows left after validation".into(),
        });
    }
    if sums.duplicates > 0 && clean.duplicates == DuplicatePolicy::Reject {
        let (id, day) = sums.first_duplicate.clone().unwrap_or_default();
        return Err(Error::Duplicates {
            path: path.to_path_buf(),
            count: sums.duplicates,
            unique_id: id,
            date: date_of_day(day).to_string(),
        });
    }
    report.change("duplicate_rows_summed", "input rows", sums.duplicates, 0.0);

    // Full weeks only: the data's span decides (the benchmark protocol), not each SKU's.
    let (min_day, max_day) = sums.day_span();
    let weekly_input = sums.weekly_input();
    report.granularity = if weekly_input { "weekly" } else { "daily" }.into();
    let mut first_week = Week::containing_day(min_day);
    if !weekly_input && first_week.day_number() != min_day {
        first_week = first_week.offset(1);
    }
    let mut last_week = Week::containing_day(max_day);
    if !weekly_input && last_week.day_number() + 6 != max_day {
        last_week = last_week.offset(-1);
    }
    if last_week < first_week {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            why: format!(
                "the data ({} days) holds no complete Monday..Sunday week",
                max_day - min_day + 1
            ),
        });
    }
    let event_days = event_days.map(|days| {
        let n = first_week.weeks_until(last_week) as usize + 1;
        let mut ev = vec![0.0; n];
        for d in days {
            let i = first_week.weeks_until(Week::containing_day(*d));
            if i >= 0 && (i as usize) < n {
                ev[i as usize] += 1.0;
            }
        }
        ev
    });
    let mut ds = to_series(path, sums, first_week, last_week, clean, report)?;
    ds.event_days = event_days;
    report.output_rows = ds.rows();
    report.output_skus = ds.series.len();
    report.output_units = ds.total_units();
    report.first_week = first_week.to_string();
    report.last_week = last_week.to_string();
    Ok(ds)
}

/// One SKU's weeks (sorted, within the span) -> its clean series, or `None` when it never sold.
fn clean_series(
    unique_id: &str,
    weeks: &[WeekRow<'_>],
    covs: &[&'static str],
    statics: Vec<String>,
    last_week: Week,
    clean: &CleanConfig,
    stats: &mut CleanStats,
) -> Option<SkuSeries> {
    let Some(fs) = weeks.iter().position(|w| w.y > 0.0) else {
        stats.no_sales_skus += 1;
        stats.no_sales_units += weeks.iter().map(|w| w.y).sum::<f64>();
        return None;
    };
    stats.leading_weeks += fs;
    stats.leading_units += weeks[..fs].iter().map(|w| w.y).sum::<f64>();
    let start = weeks[fs].week;
    let end = if clean.fill_gaps {
        last_week
    } else {
        weeks[weeks.len() - 1].week
    };
    let len = start.weeks_until(end) as usize + 1;
    let mut yy = vec![0.0; len];
    let mut observed = vec![false; len];
    let mut cv = vec![vec![f64::NAN; len]; covs.len()];
    for w in &weeks[fs..] {
        let t = start.weeks_until(w.week) as usize;
        yy[t] = w.y;
        observed[t] = true;
        for (k, v) in w.covariates.iter().enumerate() {
            cv[k][t] = *v;
        }
    }
    stats.gap_weeks += observed.iter().filter(|o| !**o).count();
    for v in yy.iter_mut().filter(|v| **v < 0.0) {
        stats.floored_weeks += 1;
        stats.floored_units -= *v;
        *v = 0.0;
    }
    for (k, name) in covs.iter().enumerate() {
        stats.imputed[k] += impute(name, &mut cv[k]);
    }
    let promo = covs
        .iter()
        .position(|c| *c == columns::PROMO)
        .map(|k| cv[k].as_slice());
    let (capped, delta) = cap_outliers(&mut yy, promo, clean.outliers, clean.outlier_threshold);
    stats.outlier_weeks += capped;
    stats.outlier_units += delta;
    Some(SkuSeries {
        unique_id: unique_id.to_string(),
        start,
        y: yy,
        covariates: cv,
        statics,
    })
}

fn to_series(
    path: &Path,
    sums: &WeeklySums,
    first_week: Week,
    last_week: Week,
    clean: &CleanConfig,
    report: &mut QualityReport,
) -> Result<WeeklyDataset> {
    let covs = sums.covariates().to_vec();
    let n_statics = sums.static_names().len();
    let mut stats = CleanStats::default();
    let mut series = Vec::new();
    let (mut dropped_rows, mut dropped_units) = (0.0, 0.0);
    let mut current: Vec<WeekRow<'_>> = Vec::new();
    let mut flush = |weeks: &mut Vec<WeekRow<'_>>, stats: &mut CleanStats| {
        if let Some(first) = weeks.first() {
            let id = first.unique_id;
            let statics = sums
                .statics_of(id)
                .map(<[String]>::to_vec)
                .unwrap_or_else(|| vec![String::new(); n_statics]);
            series.extend(clean_series(
                id, weeks, &covs, statics, last_week, clean, stats,
            ));
        }
        weeks.clear();
    };
    sums.for_each_week(|w| {
        if w.week < first_week || w.week > last_week {
            dropped_rows += w.rows;
            dropped_units += w.y;
            return Ok(());
        }
        if current.first().is_some_and(|c| c.unique_id != w.unique_id) {
            flush(&mut current, &mut stats);
        }
        current.push(w);
        Ok(())
    })?;
    flush(&mut current, &mut stats);
    report.remove(
        "partial_week",
        "input rows",
        dropped_rows as usize,
        dropped_units,
    );
    report.remove(
        "no_sales",
        "skus",
        stats.no_sales_skus,
        stats.no_sales_units,
    );
    report.remove(
        "before_first_sale",
        "weeks",
        stats.leading_weeks,
        stats.leading_units,
    );
    report.change(
        "negative_week_floored",
        "weeks",
        stats.floored_weeks,
        stats.floored_units,
    );
    report.change("gap_filled_with_zero", "weeks", stats.gap_weeks, 0.0);
    for (k, name) in covs.iter().enumerate() {
        report.change(&format!("{name}_imputed"), "weeks", stats.imputed[k], 0.0);
    }
    report.change(
        "outlier_capped",
        "weeks",
        stats.outlier_weeks,
        -stats.outlier_units,
    );
    if series.is_empty() {
        return Err(Error::Empty {
            path: path.to_path_buf(),
            why: "no SKU has any sale in a complete week".into(),
        });
    }
    Ok(WeeklyDataset {
        first_week,
        last_week,
        covariates: covs.iter().map(|c| c.to_string()).collect(),
        statics: sums.static_names().to_vec(),
        event_days: None,
        series,
    })
}

#[derive(Default)]
struct CleanStats {
    no_sales_skus: usize,
    no_sales_units: f64,
    leading_weeks: usize,
    leading_units: f64,
    gap_weeks: usize,
    floored_weeks: usize,
    floored_units: f64,
    outlier_weeks: usize,
    outlier_units: f64,
    imputed: [usize; 5],
}

/// Fill unknown covariate weeks: price and conversion carried forward (then backward for the
/// first weeks), counts and flags as 0. Returns how many weeks were filled. A SKU with no price
/// at all keeps NaN (unknown), which features treat as "regular price".
fn impute(name: &str, v: &mut [f64]) -> usize {
    let missing = v.iter().filter(|x| x.is_nan()).count();
    if missing == 0 {
        return 0;
    }
    match name {
        columns::PRICE | columns::CONVERSION => {
            let Some(first) = v.iter().copied().find(|x| !x.is_nan()) else {
                return 0;
            };
            let mut last = first;
            for x in v.iter_mut() {
                if x.is_nan() { *x = last } else { last = *x }
            }
        }
        _ => v.iter_mut().filter(|x| x.is_nan()).for_each(|x| *x = 0.0),
    }
    missing
}

/// Cap weekly demand above a robust threshold, never in promotion weeks. Returns (weeks, units removed).
pub(crate) fn cap_outliers(
    y: &mut [f64],
    promo: Option<&[f64]>,
    method: OutlierMethod,
    k: f64,
) -> (usize, f64) {
    let cap = match method {
        OutlierMethod::None => return (0, 0.0),
        OutlierMethod::RobustZ => {
            let med = quantile(y, 0.5);
            let dev: Vec<f64> = y.iter().map(|v| (v - med).abs()).collect();
            let mad = quantile(&dev, 0.5);
            if mad <= 0.0 {
                return (0, 0.0);
            }
            med + k * 1.4826 * mad
        }
        OutlierMethod::Iqr => {
            let (q1, q3) = (quantile(y, 0.25), quantile(y, 0.75));
            if q3 - q1 <= 0.0 {
                return (0, 0.0);
            }
            q3 + k * (q3 - q1)
        }
    };
    let (mut n, mut units) = (0, 0.0);
    for (t, v) in y.iter_mut().enumerate() {
        let on_promo = promo.is_some_and(|p| p[t] > 0.0);
        if *v > cap && !on_promo {
            n += 1;
            units += *v - cap;
            *v = cap;
        }
    }
    (n, units)
}

/// Linear-interpolated quantile of unsorted values.
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let pos = q * (s.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    s[lo] + (s[hi] - s[lo]) * (pos - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn robust_caps_skip_promotions() {
        let mut y = vec![10.0, 11.0, 9.0, 10.0, 12.0, 10.0, 200.0, 200.0];
        let promo = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0];
        let (n, units) = cap_outliers(&mut y, Some(&promo), OutlierMethod::RobustZ, 5.0);
        assert_eq!(n, 1);
        assert!(y[6] < 30.0 && y[6] > 12.0, "{y:?}");
        assert_eq!(y[7], 200.0);
        assert!((units - (200.0 - y[6])).abs() < 1e-9);
        let mut flat = vec![0.0, 0.0, 0.0, 5.0];
        assert_eq!(
            cap_outliers(&mut flat, None, OutlierMethod::RobustZ, 3.0),
            (0, 0.0)
        );
    }

    #[test]
    fn imputation_rules() {
        let mut price = vec![f64::NAN, 2.0, f64::NAN, 3.0, f64::NAN];
        assert_eq!(impute(columns::PRICE, &mut price), 3);
        assert_eq!(price, vec![2.0, 2.0, 2.0, 3.0, 3.0]);
        let mut promo = vec![f64::NAN, 1.0];
        assert_eq!(impute(columns::PROMO, &mut promo), 1);
        assert_eq!(promo, vec![0.0, 1.0]);
        let mut none = vec![f64::NAN; 3];
        assert_eq!(impute(columns::PRICE, &mut none), 0);
    }
}
