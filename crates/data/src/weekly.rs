//! The weekly dataset: one dense series per SKU from its first sale to its last week, in memory, and
//! its long-format Parquet form `unique_id, ds, y, <covariates>, [event_days], <static attributes>`.

use std::path::Path;

use polars::prelude::*;
use restock_core::{Week, columns};

use crate::error::PolarsContext;
use crate::{Error, Result, table};

/// One SKU's weekly series.
#[derive(Debug, Clone, PartialEq)]
pub struct SkuSeries {
    /// The SKU.
    pub unique_id: String,
    /// Its first week (the week of its first sale).
    pub start: Week,
    /// Demand in units per week, from `start` on.
    pub y: Vec<f64>,
    /// `covariates[c][t]`, aligned with `y`, in the order of [`WeeklyDataset::covariates`];
    /// NaN where unknown (a SKU with no price at all).
    pub covariates: Vec<Vec<f64>>,
    /// Static attributes in the order of [`WeeklyDataset::statics`].
    pub statics: Vec<String>,
}

impl SkuSeries {
    /// The week of index `t`.
    pub fn week(&self, t: usize) -> Week {
        self.start.offset(t as i64)
    }
}

/// A catalogue of weekly series.
#[derive(Debug, Clone, PartialEq)]
pub struct WeeklyDataset {
    /// First full week of the data.
    pub first_week: Week,
    /// Last full week of the data.
    pub last_week: Week,
    /// Canonical names of the covariates present (subset of [`columns::COVARIATES`], in that order).
    pub covariates: Vec<String>,
    /// Names of the static attributes.
    pub statics: Vec<String>,
    /// Event days per week from `first_week` to `last_week`, when a calendar was given.
    pub event_days: Option<Vec<f64>>,
    /// The series, sorted by `unique_id`.
    pub series: Vec<SkuSeries>,
}

impl WeeklyDataset {
    /// Number of SKU-weeks.
    pub fn rows(&self) -> usize {
        self.series.iter().map(|s| s.y.len()).sum()
    }

    /// Total demand units.
    pub fn total_units(&self) -> f64 {
        self.series.iter().flat_map(|s| s.y.iter()).sum()
    }

    /// The catalogue as it was known at the end of `last`: every series cut after that week (and
    /// the calendar with it), series that start later dropped. What a forecast made at that
    /// cutoff could see; `None` when `last` is before the first week.
    pub fn truncate(&self, last: Week) -> Option<WeeklyDataset> {
        if last < self.first_week {
            return None;
        }
        let last = last.min(self.last_week);
        let series = self
            .series
            .iter()
            .filter(|s| s.start <= last)
            .map(|s| {
                let n = (s.start.weeks_until(last) + 1) as usize;
                let n = n.min(s.y.len());
                SkuSeries {
                    unique_id: s.unique_id.clone(),
                    start: s.start,
                    y: s.y[..n].to_vec(),
                    covariates: s.covariates.iter().map(|c| c[..n].to_vec()).collect(),
                    statics: s.statics.clone(),
                }
            })
            .collect();
        let weeks = (self.first_week.weeks_until(last) + 1) as usize;
        Some(WeeklyDataset {
            first_week: self.first_week,
            last_week: last,
            covariates: self.covariates.clone(),
            statics: self.statics.clone(),
            event_days: self
                .event_days
                .as_ref()
                .map(|e| e[..weeks.min(e.len())].to_vec()),
            series,
        })
    }

    /// Index of a covariate by canonical name.
    pub fn covariate_index(&self, name: &str) -> Option<usize> {
        self.covariates.iter().position(|c| c == name)
    }

    /// Event days of `week`, 0 outside the calendar.
    pub fn event_days_of(&self, week: Week) -> f64 {
        match &self.event_days {
            Some(ev) => {
                let i = self.first_week.weeks_until(week);
                if i >= 0 {
                    ev.get(i as usize).copied().unwrap_or(0.0)
                } else {
                    0.0
                }
            }
            None => 0.0,
        }
    }

    /// Long-format frame, sorted by `unique_id, ds`.
    pub fn to_frame(&self) -> Result<DataFrame> {
        let n = self.rows();
        let mut ids: Vec<&str> = Vec::with_capacity(n);
        let mut ds: Vec<i32> = Vec::with_capacity(n);
        let mut y: Vec<f64> = Vec::with_capacity(n);
        let mut covs: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); self.covariates.len()];
        let mut statics: Vec<Vec<&str>> = vec![Vec::with_capacity(n); self.statics.len()];
        let mut events: Vec<f64> =
            Vec::with_capacity(if self.event_days.is_some() { n } else { 0 });
        for s in &self.series {
            for t in 0..s.y.len() {
                ids.push(&s.unique_id);
                let w = s.week(t);
                ds.push(w.day_number());
                y.push(s.y[t]);
                for (c, col) in covs.iter_mut().enumerate() {
                    let v = s.covariates[c][t];
                    col.push(if v.is_nan() { None } else { Some(v) });
                }
                for (k, col) in statics.iter_mut().enumerate() {
                    col.push(&s.statics[k]);
                }
                if self.event_days.is_some() {
                    events.push(self.event_days_of(w));
                }
            }
        }
        let mut cols = vec![
            Column::new(columns::UNIQUE_ID.into(), ids),
            Column::new(columns::DS.into(), ds)
                .cast(&DataType::Date)
                .ctx(|| "dates".into())?,
            Column::new(columns::Y.into(), y),
        ];
        for (name, v) in self.covariates.iter().zip(covs) {
            cols.push(Column::new(name.as_str().into(), v));
        }
        if self.event_days.is_some() {
            cols.push(Column::new(columns::EVENT_DAYS.into(), events));
        }
        for (name, v) in self.statics.iter().zip(statics) {
            cols.push(Column::new(name.as_str().into(), v));
        }
        DataFrame::new(n, cols).ctx(|| "building the weekly frame".into())
    }

    /// Write the long-format dataset (Parquet or CSV by extension), atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut df = self.to_frame()?;
        table::write(&mut df, path)
    }

    /// Read a weekly dataset written by [`WeeklyDataset::write`] (or any long-format weekly table
    /// with `unique_id, ds, y` whose dates are Mondays and whose series have no gaps).
    pub fn read(path: &Path) -> Result<Self> {
        let layout = Layout::of(path)?;
        let df = table::read_columns(path, &layout.wanted())?
            .lazy()
            .sort(
                [columns::UNIQUE_ID, columns::DS],
                SortMultipleOptions::default(),
            )
            .collect()
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
        Self::from_frame(&df, path, &layout, 0)
    }

    /// Series from a frame sorted by `unique_id, ds`; `row_offset` is added to row numbers in
    /// error messages.
    fn from_frame(df: &DataFrame, path: &Path, layout: &Layout, row_offset: usize) -> Result<Self> {
        let covariates = layout.covariates.clone();
        let statics = layout.statics.clone();
        let FrameColumns {
            ids,
            ds,
            y,
            covs,
            events,
            statics: stat_cols,
        } = FrameColumns::of(df, path, layout)?;
        let bad = |row: usize, column: &str, value: String, problem: &str| Error::BadValue {
            path: path.to_path_buf(),
            row: row_offset + row + 1,
            column: column.into(),
            value,
            problem: problem.into(),
        };
        let mut series: Vec<SkuSeries> = Vec::new();
        // Events by week, from the first row's week on (a week before it shifts the vector).
        let mut events_from: Option<Week> = None;
        let mut event_by_week: Vec<Option<f64>> = Vec::new();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        let mut cov_iters: Vec<_> = covs.iter().map(|c| c.iter()).collect();
        let mut event_iter = events.as_ref().map(|e| e.iter());
        let rows = ids.iter().zip(ds.iter()).zip(y.iter()).enumerate();
        for (i, ((id, day), yv)) in rows {
            let id =
                id.ok_or_else(|| bad(i, columns::UNIQUE_ID, "null".into(), "missing unique_id"))?;
            let day = day.ok_or_else(|| bad(i, columns::DS, "null".into(), "missing date"))?;
            let week = Week::containing_day(day);
            if week.day_number() != day {
                return Err(bad(
                    i,
                    columns::DS,
                    week.to_string(),
                    "not a Monday: weekly data is labelled by Mondays",
                ));
            }
            let yv = yv.filter(|v| v.is_finite()).ok_or_else(|| {
                bad(
                    i,
                    columns::Y,
                    format!("{yv:?}"),
                    "demand must be a finite number",
                )
            })?;
            first = first.min(day);
            last = last.max(day);
            let order = series
                .last()
                .map(|s| s.unique_id.as_str().cmp(id))
                .unwrap_or(std::cmp::Ordering::Less);
            if order == std::cmp::Ordering::Greater {
                return Err(bad(
                    i,
                    columns::UNIQUE_ID,
                    id.to_string(),
                    "rows are not sorted by unique_id, ds (restock ingest writes them sorted)",
                ));
            }
            if order == std::cmp::Ordering::Less {
                series.push(SkuSeries {
                    unique_id: id.to_string(),
                    start: week,
                    y: Vec::new(),
                    covariates: vec![Vec::new(); covs.len()],
                    statics: stat_cols
                        .iter()
                        .map(|c| c.get(i).unwrap_or("").to_string())
                        .collect(),
                });
            }
            let Some(s) = series.last_mut() else {
                // Unreachable: a series was pushed above for a new SKU.
                return Err(bad(
                    i,
                    columns::UNIQUE_ID,
                    id.to_string(),
                    "no series to extend",
                ));
            };
            if s.week(s.y.len()) != week {
                return Err(bad(
                    i,
                    columns::DS,
                    week.to_string(),
                    &format!(
                        "unique_id {id}: expected week {} (series must have no gaps or duplicates)",
                        s.week(s.y.len())
                    ),
                ));
            }
            s.y.push(yv);
            for (c, it) in cov_iters.iter_mut().enumerate() {
                s.covariates[c].push(it.next().flatten().unwrap_or(f64::NAN));
            }
            if let Some(it) = event_iter.as_mut() {
                let v = it.next().flatten().unwrap_or(0.0);
                let from = *events_from.get_or_insert(week);
                if week < from {
                    let shift = week.weeks_until(from) as usize;
                    event_by_week.splice(0..0, std::iter::repeat_n(None, shift));
                    events_from = Some(week);
                }
                let at = events_from.unwrap_or(week).weeks_until(week) as usize;
                if event_by_week.len() <= at {
                    event_by_week.resize(at + 1, None);
                }
                event_by_week[at] = Some(v);
            }
        }
        if series.is_empty() {
            return Err(Error::Empty {
                path: path.to_path_buf(),
                why: "no rows".into(),
            });
        }
        let first_week = Week::containing_day(first);
        let last_week = Week::containing_day(last);
        drop(event_iter);
        let event_days = events.map(|_| {
            let n = first_week.weeks_until(last_week) as usize + 1;
            let from = events_from.unwrap_or(first_week);
            (0..n)
                .map(|i| {
                    let at = from.weeks_until(first_week.offset(i as i64));
                    usize::try_from(at)
                        .ok()
                        .and_then(|at| event_by_week.get(at).copied().flatten())
                        .unwrap_or(0.0)
                })
                .collect()
        });
        Ok(WeeklyDataset {
            first_week,
            last_week,
            covariates,
            statics,
            event_days,
            series,
        })
    }
}

/// Which columns a weekly table has.
#[derive(Debug, Clone)]
struct Layout {
    covariates: Vec<String>,
    statics: Vec<String>,
    has_events: bool,
}

impl Layout {
    fn of(path: &Path) -> Result<Self> {
        let names = table::column_names(path)?;
        let covariates: Vec<String> = columns::COVARIATES
            .iter()
            .filter(|c| names.iter().any(|n| n == *c))
            .map(|c| c.to_string())
            .collect();
        let has_events = names.iter().any(|n| n == columns::EVENT_DAYS);
        let core = [
            columns::UNIQUE_ID,
            columns::DS,
            columns::Y,
            columns::EVENT_DAYS,
        ];
        let statics: Vec<String> = names
            .iter()
            .filter(|n| !core.contains(&n.as_str()) && !covariates.contains(n))
            .cloned()
            .collect();
        Ok(Layout {
            covariates,
            statics,
            has_events,
        })
    }

    fn wanted(&self) -> Vec<(&'static str, String)> {
        let mut wanted: Vec<(&str, String)> = vec![
            ("unique_id", columns::UNIQUE_ID.into()),
            ("ds", columns::DS.into()),
            ("y", columns::Y.into()),
        ];
        wanted.extend(self.covariates.iter().map(|c| ("covariate", c.clone())));
        if self.has_events {
            wanted.push(("event_days", columns::EVENT_DAYS.into()));
        }
        wanted.extend(self.statics.iter().map(|c| ("static", c.clone())));
        wanted
    }
}

/// A weekly frame's columns, typed: ids, Monday day numbers, demand, covariates, events and
/// static attributes (an error names a column of the wrong type).
struct FrameColumns {
    ids: StringChunked,
    ds: Int32Chunked,
    y: Float64Chunked,
    covs: Vec<Float64Chunked>,
    events: Option<Float64Chunked>,
    statics: Vec<StringChunked>,
}

impl FrameColumns {
    fn of(df: &DataFrame, path: &Path, layout: &Layout) -> Result<Self> {
        let bad_type = |column: &str, expected: &str, dtype: &DataType| Error::ColumnType {
            path: path.to_path_buf(),
            column: column.into(),
            dtype: dtype.to_string(),
            expected: expected.into(),
        };
        let get = |name: &str| {
            df.column(name)
                .ctx(|| format!("{}: column {name}", path.display()))
        };
        let id_col = get(columns::UNIQUE_ID)?;
        let ids = id_col
            .str()
            .map_err(|_| bad_type(columns::UNIQUE_ID, "text", id_col.dtype()))?
            .clone();
        let ds_col = get(columns::DS)?;
        let ds = ds_col
            .date()
            .map_err(|_| bad_type(columns::DS, "date", ds_col.dtype()))?
            .physical()
            .clone();
        let f64_col = |name: &str| -> Result<Float64Chunked> {
            let c = get(name)?;
            if !c.dtype().is_primitive_numeric() {
                return Err(bad_type(name, "a number", c.dtype()));
            }
            Ok(c.cast(&DataType::Float64)
                .ctx(|| name.to_string())?
                .f64()
                .ctx(|| name.to_string())?
                .clone())
        };
        let y = f64_col(columns::Y)?;
        let covs = layout
            .covariates
            .iter()
            .map(|c| f64_col(c))
            .collect::<Result<_>>()?;
        let events = if layout.has_events {
            Some(f64_col(columns::EVENT_DAYS)?)
        } else {
            None
        };
        let statics = layout
            .statics
            .iter()
            .map(|c| {
                Ok(get(c)?
                    .cast(&DataType::String)
                    .ctx(|| c.clone())?
                    .str()
                    .ctx(|| c.clone())?
                    .clone())
            })
            .collect::<Result<_>>()?;
        Ok(FrameColumns {
            ids,
            ds,
            y,
            covs,
            events,
            statics,
        })
    }
}

/// Reads a weekly Parquet dataset a chunk of rows at a time, whole SKUs per chunk, so memory is
/// bounded by the chunk size and not by the catalogue. The file is read once, front to back, by
/// polars' streaming engine on its own thread ([`table::BatchReader`]), decoding the next rows
/// while the caller works. It must be sorted by `unique_id, ds`, as [`WeeklyDataset::write`]
/// leaves it.
#[derive(Debug)]
pub struct WeeklyChunks {
    path: std::path::PathBuf,
    layout: Layout,
    rows: usize,
    offset: usize,
    rows_per_chunk: usize,
    first_week: Week,
    last_week: Week,
    /// Started by the first chunk.
    reader: Option<table::BatchReader>,
    /// Rows read and not yet handed out (the start of a SKU that runs into the next batch).
    pending: Option<DataFrame>,
    /// Whether the reader reached the end of the file.
    read_all: bool,
}

impl WeeklyChunks {
    /// Open `path`; each chunk holds about `rows_per_chunk` rows (more when one SKU is longer).
    pub fn open(path: &Path, rows_per_chunk: usize) -> Result<Self> {
        let layout = Layout::of(path)?;
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let stats = table::scan(path)?
            .select([
                len().alias("rows"),
                col(columns::DS).min().alias("first"),
                col(columns::DS).max().alias("last"),
            ])
            .collect()
            .map_err(read_err)?;
        let rows = stats
            .column("rows")
            .and_then(|c| c.cast(&DataType::UInt64))
            .map_err(read_err)?
            .u64()
            .map_err(read_err)?
            .get(0)
            .unwrap_or(0) as usize;
        if rows == 0 {
            return Err(Error::Empty {
                path: path.to_path_buf(),
                why: "no rows".into(),
            });
        }
        let day = |name: &str| -> Result<i32> {
            let c = stats.column(name).map_err(read_err)?;
            let days = c.cast(&DataType::Int32).map_err(|_| Error::ColumnType {
                path: path.to_path_buf(),
                column: columns::DS.into(),
                dtype: c.dtype().to_string(),
                expected: "date".into(),
            })?;
            Ok(days.i32().map_err(read_err)?.get(0).unwrap_or(0))
        };
        Ok(WeeklyChunks {
            path: path.to_path_buf(),
            layout,
            rows,
            offset: 0,
            rows_per_chunk: rows_per_chunk.max(1),
            first_week: Week::containing_day(day("first")?),
            last_week: Week::containing_day(day("last")?),
            reader: None,
            pending: None,
            read_all: false,
        })
    }

    /// Read batches until `pending` holds at least `want` rows or the file ends.
    fn fill(&mut self, want: usize) -> Result<()> {
        while !self.read_all && self.pending.as_ref().map_or(0, DataFrame::height) < want {
            if self.reader.is_none() {
                let lf = table::read_columns_lazy(&self.path, &self.layout.wanted())?;
                let batch = self.rows_per_chunk.min(1 << 18);
                self.reader = Some(table::BatchReader::start(&self.path, lf, batch)?);
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            match reader.next_batch()? {
                Some(batch) => match self.pending.as_mut() {
                    Some(p) => {
                        p.vstack_mut(&batch).map_err(|source| Error::Read {
                            path: self.path.clone(),
                            source,
                        })?;
                    }
                    None => self.pending = Some(batch),
                },
                None => {
                    self.read_all = true;
                    self.reader = None;
                }
            }
        }
        Ok(())
    }

    /// Rows in the file.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Rows read so far.
    pub fn rows_read(&self) -> usize {
        self.offset
    }

    /// The last week of the whole file.
    pub fn last_week(&self) -> Week {
        self.last_week
    }

    /// SKUs in the file, at least: its rows over its weeks (a SKU has at most one row a week).
    pub fn skus_at_least(&self) -> usize {
        let weeks = (self.first_week.weeks_until(self.last_week) + 1).max(1) as usize;
        self.rows.div_ceil(weeks)
    }

    /// The next chunk of whole SKUs, with the file's first and last week; `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<WeeklyDataset>> {
        let mut want = self.rows_per_chunk;
        loop {
            self.fill(want)?;
            let Some(df) = self.pending.take() else {
                return Ok(None);
            };
            let height = df.height();
            if height == 0 {
                return Ok(None);
            }
            // Keep whole SKUs: cut before the first row of the last SKU unless at the end.
            let keep = if self.read_all {
                height
            } else {
                let ids = df
                    .column(columns::UNIQUE_ID)
                    .and_then(|c| c.str().cloned())
                    .map_err(|source| Error::Read {
                        path: self.path.clone(),
                        source,
                    })?;
                let last = ids.get(height - 1);
                let mut r = height - 1;
                while r > 0 && ids.get(r - 1) == last {
                    r -= 1;
                }
                r
            };
            if keep == 0 {
                // One SKU longer than the rows read: read more.
                self.pending = Some(df);
                want = height * 2;
                continue;
            }
            if keep < height {
                self.pending = Some(df.slice(keep as i64, height - keep));
            }
            let df = df.slice(0, keep);
            let mut chunk = WeeklyDataset::from_frame(&df, &self.path, &self.layout, self.offset)?;
            self.offset += keep;
            if let Some(events) = &chunk.event_days {
                // Re-index the chunk's events on the file's week range.
                let mut all = vec![0.0; self.first_week.weeks_until(self.last_week) as usize + 1];
                let skip = self.first_week.weeks_until(chunk.first_week) as usize;
                for (i, v) in events.iter().enumerate() {
                    if let Some(slot) = all.get_mut(skip + i) {
                        *slot = *v;
                    }
                }
                chunk.event_days = Some(all);
            }
            chunk.first_week = self.first_week;
            chunk.last_week = self.last_week;
            return Ok(Some(chunk));
        }
    }
}
