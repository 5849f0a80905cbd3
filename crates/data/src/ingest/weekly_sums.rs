//! Canonical daily (or weekly) rows, batch by batch, to one row per SKU and week: the weekly
//! sums that `ingest` cleans into series, with memory bounded by the SKU-weeks rather than the
//! input rows.
//!
//! Each batch's duplicate (SKU, date) rows are merged first (demand summed, covariates averaged),
//! then its days are added to their SKU-week: demand, input rows, the weekday of each day seen (a
//! bit each, so a day that comes again in a later batch is counted as a duplicate too), and per
//! covariate the sum of its daily values and the days that had one (views and clicks are summed
//! over the week, the others averaged). A day split over two batches has its demand summed like
//! any duplicate; its covariates count as two days of the week's mean. Static attributes are
//! each SKU's values on its latest date.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use polars::prelude::*;
use restock_core::{Week, columns};

use crate::error::PolarsContext;
use crate::{Error, Result};

/// A multiplicative hasher for the sums' small keys (SKU numbers, weeks, ids): a few
/// nanoseconds a row where SipHash took a tenth of the ingest.
#[derive(Debug, Default, Clone, Copy)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_i32(&mut self, n: i32) {
        self.write_u64(n as u32 as u64);
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FastHasher>>;

/// Rows read from a sales file per batch.
pub const BATCH_ROWS: usize = 1 << 17;

/// The weekly sums of every batch added so far.
#[derive(Debug, Default)]
pub(crate) struct WeeklySums {
    statics: Vec<String>,
    /// The covariates present, in [`columns::COVARIATES`] order (set by the first batch).
    covs: Option<Vec<&'static str>>,
    names: Vec<String>,
    index: FastMap<String, u32>,
    /// (SKU, week's Monday) -> slot.
    slots: FastMap<(u32, i32), u32>,
    y: Vec<f64>,
    rows: Vec<f64>,
    weekdays: Vec<u8>,
    /// Per slot and covariate: the sum of the week's daily values, and its rounding error.
    cov_acc: Vec<f64>,
    cov_err: Vec<f64>,
    cov_days: Vec<u32>,
    /// Each SKU's static values on its latest date.
    static_values: HashMap<u32, (i32, Vec<String>)>,
    /// Rows after validation (the input to duplicate merging).
    pub(crate) input_rows: usize,
    /// Rows merged into another row of the same SKU and date.
    pub(crate) duplicates: usize,
    /// The first duplicate (SKU, day) in (SKU, day) order.
    pub(crate) first_duplicate: Option<(String, i32)>,
    min_day: i32,
    max_day: i32,
    /// Whether every date so far is a Monday (weekly input).
    all_mondays: bool,
}

/// One SKU-week of the sums: demand, input rows and the covariates' weekly values.
pub(crate) struct WeekRow<'a> {
    pub(crate) unique_id: &'a str,
    pub(crate) week: Week,
    pub(crate) y: f64,
    pub(crate) rows: f64,
    /// Per covariate: the weekly value, NaN when no day had one.
    pub(crate) covariates: Vec<f64>,
}

impl WeeklySums {
    /// Sums for a file whose rows carry `statics` attributes.
    pub(crate) fn new(statics: &[String]) -> Self {
        WeeklySums {
            statics: statics.to_vec(),
            min_day: i32::MAX,
            max_day: i32::MIN,
            all_mondays: true,
            ..Default::default()
        }
    }

    /// The covariates present (none before the first batch).
    pub(crate) fn covariates(&self) -> &[&'static str] {
        self.covs.as_deref().unwrap_or(&[])
    }

    /// The names of the static attributes.
    pub(crate) fn static_names(&self) -> &[String] {
        &self.statics
    }

    /// Whether no row was added.
    pub(crate) fn is_empty(&self) -> bool {
        self.input_rows == 0
    }

    /// First and last day seen.
    pub(crate) fn day_span(&self) -> (i32, i32) {
        (self.min_day, self.max_day)
    }

    /// Whether every date is a Monday: the input is weekly.
    pub(crate) fn weekly_input(&self) -> bool {
        self.all_mondays
    }

    /// Each SKU's static values.
    pub(crate) fn statics_of(&self, unique_id: &str) -> Option<&[String]> {
        let sku = self.index.get(unique_id)?;
        self.static_values.get(sku).map(|(_, v)| v.as_slice())
    }

    /// Add one batch of canonical rows (`unique_id`, `ds` day numbers, `y`, covariates, statics).
    pub(crate) fn add(&mut self, path: &Path, batch: DataFrame) -> Result<()> {
        if batch.height() == 0 {
            return Ok(());
        }
        let covs: Vec<&'static str> = columns::COVARIATES
            .iter()
            .copied()
            .filter(|c| batch.get_column_names().iter().any(|n| n.as_str() == *c))
            .collect();
        let k = covs.len();
        if self.covs.is_none() {
            self.covs = Some(covs.clone());
        }
        self.input_rows += batch.height();
        self.add_statics(path, &batch)?;
        let mut aggs = vec![col(columns::Y).sum(), len().alias("__rows")];
        aggs.extend(covs.iter().map(|c| col(*c).mean()));
        let merged = batch
            .lazy()
            // In input order: a file sorted by SKU keeps each SKU's rows together.
            .group_by_stable([col(columns::UNIQUE_ID), col(columns::DS)])
            .agg(aggs)
            .collect()
            .ctx(|| format!("{}: merging duplicate rows", path.display()))?;
        let get = |name: &str| {
            merged
                .column(name)
                .ctx(|| format!("{}: {name}", path.display()))
        };
        let ids = get(columns::UNIQUE_ID)?.str().ctx(|| "ids".into())?.clone();
        let days = get(columns::DS)?.i32().ctx(|| "ds".into())?.clone();
        let y = get(columns::Y)?.f64().ctx(|| "y".into())?.clone();
        let rows = get("__rows")?
            .cast(&DataType::Float64)
            .ctx(|| "rows".into())?;
        let rows = rows.f64().ctx(|| "rows".into())?.clone();
        let cov_cols: Vec<Float64Chunked> = covs
            .iter()
            .map(|c| Ok(get(c)?.f64().ctx(|| c.to_string())?.clone()))
            .collect::<Result<_>>()?;
        let mut cov_iters: Vec<_> = cov_cols.iter().map(|c| c.iter()).collect();
        let mut cov_values = vec![None; k];
        let mut last: Option<(&str, u32)> = None;
        let rows_iter = ids.iter().zip(days.iter()).zip(y.iter()).zip(rows.iter());
        for (((id, day), y), n_rows) in rows_iter {
            for (v, it) in cov_values.iter_mut().zip(cov_iters.iter_mut()) {
                *v = it.next().flatten();
            }
            let (Some(id), Some(day)) = (id, day) else {
                continue;
            };
            let n_rows = n_rows.unwrap_or(1.0);
            self.min_day = self.min_day.min(day);
            self.max_day = self.max_day.max(day);
            let week = Week::containing_day(day);
            self.all_mondays &= week.day_number() == day;
            let sku = match last {
                Some((l, s)) if l == id => s,
                _ => self.sku(id),
            };
            last = Some((id, sku));
            let slot = self.slot(sku, week.day_number(), k);
            let bit = 1u8 << (day - week.day_number());
            let again = self.weekdays[slot] & bit != 0;
            if again || n_rows > 1.0 {
                self.duplicates += (n_rows as usize - 1) + usize::from(again);
                let candidate = (id, day);
                if self
                    .first_duplicate
                    .as_ref()
                    .is_none_or(|(fid, fday)| candidate < (fid.as_str(), *fday))
                {
                    self.first_duplicate = Some((id.to_string(), day));
                }
            }
            self.weekdays[slot] |= bit;
            self.y[slot] += y.unwrap_or(0.0);
            self.rows[slot] += n_rows;
            for (c, value) in cov_values.iter().enumerate() {
                if let Some(v) = value.filter(|v| !v.is_nan()) {
                    let i = slot * k + c;
                    self.cov_days[i] += 1;
                    // Neumaier's compensated sum: a price that holds all week averages to
                    // exactly that price.
                    let (sum, v) = (self.cov_acc[i], v);
                    let t = sum + v;
                    self.cov_err[i] += if sum.abs() >= v.abs() {
                        (sum - t) + v
                    } else {
                        (v - t) + sum
                    };
                    self.cov_acc[i] = t;
                }
            }
        }
        Ok(())
    }

    fn sku(&mut self, id: &str) -> u32 {
        if let Some(&s) = self.index.get(id) {
            return s;
        }
        let s = self.names.len() as u32;
        self.names.push(id.to_string());
        self.index.insert(id.to_string(), s);
        s
    }

    fn slot(&mut self, sku: u32, monday: i32, k: usize) -> usize {
        let next = self.y.len() as u32;
        let slot = *self.slots.entry((sku, monday)).or_insert(next);
        if slot == next {
            self.y.push(0.0);
            self.rows.push(0.0);
            self.weekdays.push(0);
            self.cov_acc.extend(std::iter::repeat_n(0.0, k));
            self.cov_err.extend(std::iter::repeat_n(0.0, k));
            self.cov_days.extend(std::iter::repeat_n(0, k));
        }
        slot as usize
    }

    /// Each SKU's static values on its latest date in the batch, kept when later than before.
    fn add_statics(&mut self, path: &Path, batch: &DataFrame) -> Result<()> {
        if self.statics.is_empty() {
            return Ok(());
        }
        let mut aggs: Vec<Expr> = vec![col(columns::DS).max().alias("__last")];
        aggs.extend(self.statics.iter().map(|s| {
            col(s.as_str())
                .sort_by([col(columns::DS)], SortMultipleOptions::default())
                .last()
        }));
        let table = batch
            .clone()
            .lazy()
            .group_by([col(columns::UNIQUE_ID)])
            .agg(aggs)
            .collect()
            .ctx(|| format!("{}: static attributes", path.display()))?;
        let ids = table
            .column(columns::UNIQUE_ID)
            .ctx(|| "ids".into())?
            .str()
            .ctx(|| "ids".into())?
            .clone();
        let last = table
            .column("__last")
            .ctx(|| "days".into())?
            .i32()
            .ctx(|| "days".into())?
            .clone();
        let values: Vec<StringChunked> = self
            .statics
            .iter()
            .map(|n| {
                Ok(table
                    .column(n)
                    .ctx(|| n.clone())?
                    .str()
                    .ctx(|| n.clone())?
                    .clone())
            })
            .collect::<Result<_>>()?;
        for i in 0..table.height() {
            let (Some(id), Some(day)) = (ids.get(i), last.get(i)) else {
                continue;
            };
            let sku = self.sku(id);
            if self
                .static_values
                .get(&sku)
                .is_some_and(|(seen, _)| *seen > day)
            {
                continue;
            }
            let v = values
                .iter()
                .map(|v| v.get(i).unwrap_or("").to_string())
                .collect();
            self.static_values.insert(sku, (day, v));
        }
        Ok(())
    }

    /// The SKU-weeks in (SKU, week) order, for `visit`.
    pub(crate) fn for_each_week<'s>(
        &'s self,
        mut visit: impl FnMut(WeekRow<'s>) -> Result<()>,
    ) -> Result<()> {
        let k = self.covariates().len();
        let mut order: Vec<(u32, i32, u32)> = self
            .slots
            .iter()
            .map(|(&(sku, monday), &slot)| (sku, monday, slot))
            .collect();
        order.sort_unstable_by(|a, b| {
            self.names[a.0 as usize]
                .cmp(&self.names[b.0 as usize])
                .then(a.1.cmp(&b.1))
        });
        for (sku, monday, slot) in order {
            let slot = slot as usize;
            let covariates = (0..k)
                .map(|c| {
                    let i = slot * k + c;
                    let (sum, days) = (self.cov_acc[i] + self.cov_err[i], self.cov_days[i]);
                    match self.covariates()[c] {
                        c if is_summed(c) => sum,
                        _ if days == 0 => f64::NAN,
                        _ => sum / f64::from(days),
                    }
                })
                .collect();
            visit(WeekRow {
                unique_id: &self.names[sku as usize],
                week: Week::containing_day(monday),
                y: self.y[slot],
                rows: self.rows[slot],
                covariates,
            })?;
        }
        Ok(())
    }
}

/// Whether a covariate's week is the sum of its days (views, clicks) rather than their mean.
fn is_summed(covariate: &str) -> bool {
    matches!(covariate, columns::VIEWS | columns::CLICKS)
}

/// Distinct values of a text column, added to `seen`.
pub(crate) fn count_distinct(seen: &mut HashSet<String>, ids: &StringChunked) {
    let mut last = None;
    for id in ids.iter().flatten() {
        // Rows of one SKU usually come together: look each run up once.
        if last != Some(id) && !seen.contains(id) {
            seen.insert(id.to_string());
        }
        last = Some(id);
    }
}

/// An error of a batch whose first row is `first` (0-based) of the file: its row counted in the
/// file.
pub(crate) fn in_file(e: Error, first: usize) -> Error {
    match e {
        Error::BadValue {
            path,
            row,
            column,
            value,
            problem,
        } => Error::BadValue {
            path,
            row: row + first,
            column,
            value,
            problem,
        },
        e => e,
    }
}
