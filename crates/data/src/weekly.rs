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
        let mut wanted: Vec<(&str, String)> = vec![
            ("unique_id", columns::UNIQUE_ID.into()),
            ("ds", columns::DS.into()),
            ("y", columns::Y.into()),
        ];
        wanted.extend(covariates.iter().map(|c| ("covariate", c.clone())));
        if has_events {
            wanted.push(("event_days", columns::EVENT_DAYS.into()));
        }
        wanted.extend(statics.iter().map(|c| ("static", c.clone())));
        let df = table::read_columns(path, &wanted)?
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
            .map_err(|_| bad_type(columns::UNIQUE_ID, "text", id_col.dtype()))?;
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
        let covs: Vec<Float64Chunked> = covariates
            .iter()
            .map(|c| f64_col(c))
            .collect::<Result<_>>()?;
        let events = if has_events {
            Some(f64_col(columns::EVENT_DAYS)?)
        } else {
            None
        };
        let stat_cols: Vec<StringChunked> = statics
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

        let bad = |row: usize, column: &str, value: String, problem: &str| Error::BadValue {
            path: path.to_path_buf(),
            row: row + 1,
            column: column.into(),
            value,
            problem: problem.into(),
        };
        let mut series: Vec<SkuSeries> = Vec::new();
        let mut event_by_week: std::collections::BTreeMap<Week, f64> = Default::default();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        for i in 0..df.height() {
            let id = ids
                .get(i)
                .ok_or_else(|| bad(i, columns::UNIQUE_ID, "null".into(), "missing unique_id"))?;
            let day = ds
                .get(i)
                .ok_or_else(|| bad(i, columns::DS, "null".into(), "missing date"))?;
            let week = Week::containing_day(day);
            if week.day_number() != day {
                return Err(bad(
                    i,
                    columns::DS,
                    week.to_string(),
                    "not a Monday: weekly data is labelled by Mondays",
                ));
            }
            let yv = y.get(i).filter(|v| v.is_finite()).ok_or_else(|| {
                bad(
                    i,
                    columns::Y,
                    format!("{:?}", y.get(i)),
                    "demand must be a finite number",
                )
            })?;
            first = first.min(day);
            last = last.max(day);
            let new_sku = series.last().is_none_or(|s| s.unique_id != id);
            if new_sku {
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
            let s = series.last_mut().expect("pushed above");
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
            for (c, col) in covs.iter().enumerate() {
                s.covariates[c].push(col.get(i).unwrap_or(f64::NAN));
            }
            if let Some(ev) = &events {
                event_by_week.insert(week, ev.get(i).unwrap_or(0.0));
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
        let event_days = events.map(|_| {
            let n = first_week.weeks_until(last_week) as usize + 1;
            (0..n)
                .map(|i| {
                    event_by_week
                        .get(&first_week.offset(i as i64))
                        .copied()
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
