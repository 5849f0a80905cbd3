//! The known future: planned events, prices and promotions of the weeks to forecast, per SKU
//! (Nixtla's `X_df`: `unique_id`, `ds`, and any of `event_days`, `price`, `promo`).
//!
//! A forecast is conditional on these when they are given, and unconditional on what is not
//! given (see `features`, "Plan inputs"). Two sources: a file the user writes
//! ([`KnownFuture::read`]), and the values a catalogue recorded for weeks after a cut-off
//! ([`KnownFuture::recorded`]), which is what a backtest gives the forecast, as a buyer would
//! have had the plan.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_core::{Week, columns};

use crate::error::PolarsContext;
use crate::ingest::{parse_days, parse_numbers};
use crate::weekly::WeeklyDataset;
use crate::{Error, Result, table};

/// The columns a known-future file may hold besides `unique_id` and `ds`, with the range of
/// each: `(column, least, most)`.
pub const COLUMNS: [(&str, f64, f64); 3] = [
    (columns::EVENT_DAYS, 0.0, 7.0),
    (columns::PRICE, 0.0, f64::INFINITY),
    (columns::PROMO, 0.0, 1.0),
];

/// Planned inputs of `weeks` weeks from `first`, per SKU; NaN where unknown.
#[derive(Debug, Clone, PartialEq)]
pub struct KnownFuture {
    first: Week,
    weeks: usize,
    /// The columns given, in [`COLUMNS`] order, `event_days` excluded (it is the catalogue's).
    columns: Vec<&'static str>,
    /// Event days per week, the same for every SKU, when given.
    events: Option<Vec<f64>>,
    /// `values[column][week]` per SKU.
    skus: HashMap<String, Vec<Vec<f64>>>,
    /// Where the values come from, for messages.
    source: String,
}

impl KnownFuture {
    /// Read a known-future file for the `weeks` weeks from `first`. Rows of other weeks are
    /// ignored; every SKU in the file must have a row for each of the weeks, every value must
    /// be present and in range, and `event_days` must be the same for all SKUs in a week (it
    /// is the catalogue's calendar). Errors name the row, SKU, week and column.
    pub fn read(path: &Path, first: Week, weeks: usize) -> Result<Self> {
        let err = |message: String| Error::Plan {
            path: path.to_path_buf(),
            message,
        };
        let given = given_columns(path)?;
        let mut wanted: Vec<(&str, String)> = vec![
            ("unique_id", columns::UNIQUE_ID.into()),
            ("ds", columns::DS.into()),
        ];
        wanted.extend(given.iter().map(|(c, _, _)| (*c, c.to_string())));
        let df = table::read_columns(path, &wanted)?;
        let column = |name: &str| {
            df.column(name)
                .ctx(|| format!("{}: column {name}", path.display()))
        };
        let ids_col = column(columns::UNIQUE_ID)?
            .cast(&DataType::String)
            .ctx(|| format!("{}: column unique_id", path.display()))?;
        let ids = ids_col
            .str()
            .ctx(|| format!("{}: column unique_id", path.display()))?;
        let days = parse_days(path, columns::DS, column(columns::DS)?, "%Y-%m-%d")?;
        let values: Vec<Vec<Option<f64>>> = given
            .iter()
            .map(|(c, _, _)| parse_numbers(path, c, column(c)?))
            .collect::<Result<_>>()?;

        let per_sku: Vec<&'static str> = given
            .iter()
            .map(|(c, _, _)| *c)
            .filter(|c| *c != columns::EVENT_DAYS)
            .collect();
        let event_col = given.iter().position(|(c, _, _)| *c == columns::EVENT_DAYS);
        // (event days, the row that gave them) per week; used only with an `event_days` column.
        let mut events: Vec<(f64, usize)> = vec![(f64::NAN, 0); weeks];
        let mut skus: HashMap<String, Vec<Vec<f64>>> = HashMap::new();
        let mut rows_of: HashMap<(String, usize), usize> = HashMap::new();
        for row in 0..df.height() {
            let bad = |column: &str, value: String, problem: String| Error::BadValue {
                path: path.to_path_buf(),
                row: row + 1,
                column: column.to_string(),
                value,
                problem,
            };
            let id = ids
                .get(row)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| bad(columns::UNIQUE_ID, String::new(), "missing".into()))?;
            let week = Week::containing_day(days[row]);
            if week.day_number() != days[row] {
                return Err(bad(
                    columns::DS,
                    week.to_string(),
                    "not a Monday (weeks are labelled by their Monday)".into(),
                ));
            }
            let t = first.weeks_until(week);
            if t < 0 || t >= weeks as i64 {
                continue;
            }
            let t = t as usize;
            if let Some(earlier) = rows_of.insert((id.to_string(), t), row + 1) {
                return Err(bad(
                    columns::DS,
                    week.to_string(),
                    format!("SKU {id} has a second row for this week (the first is row {earlier})"),
                ));
            }
            let sku = skus
                .entry(id.to_string())
                .or_insert_with(|| vec![vec![f64::NAN; weeks]; per_sku.len()]);
            let mut c_sku = 0;
            for (k, (name, least, most)) in given.iter().enumerate() {
                let v = values[k][row].ok_or_else(|| bad(name, String::new(), "missing".into()))?;
                if !(v.is_finite() && v >= *least && v <= *most) {
                    return Err(bad(
                        name,
                        v.to_string(),
                        format!("must lie in [{least}, {most}]"),
                    ));
                }
                if Some(k) == event_col {
                    let slot = &mut events[t];
                    if slot.0.is_nan() {
                        *slot = (v, row + 1);
                    } else if slot.0 != v {
                        return Err(bad(
                            name,
                            v.to_string(),
                            format!(
                                "event days are the catalogue's calendar, the same for every \
                                 SKU, but row {} gives {} for week {week}",
                                slot.1, slot.0
                            ),
                        ));
                    }
                } else {
                    sku[c_sku][t] = v;
                    c_sku += 1;
                }
            }
        }
        if skus.is_empty() {
            return Err(err(format!(
                "no rows for the {weeks} forecast weeks from {first}"
            )));
        }
        let future = KnownFuture {
            first,
            weeks,
            columns: per_sku,
            events: event_col.map(|_| events.into_iter().map(|(v, _)| v).collect()),
            skus,
            source: path.display().to_string(),
        };
        check_complete(path, &rows_of, first, weeks)?;
        Ok(future)
    }

    /// What `ds` recorded of the `wanted` columns for the `weeks` weeks from `first` (NaN for weeks after
    /// its end): the plan a buyer had when forecasting from `first`'s previous week.
    pub fn recorded(ds: &WeeklyDataset, first: Week, weeks: usize, wanted: &[&str]) -> Self {
        let per_sku: Vec<(&'static str, usize)> = COLUMNS
            .iter()
            .filter(|(c, _, _)| *c != columns::EVENT_DAYS && wanted.contains(c))
            .filter_map(|(c, _, _)| ds.covariate_index(c).map(|i| (*c, i)))
            .collect();
        let with_events = wanted.contains(&columns::EVENT_DAYS);
        let events = ds.event_days.as_ref().filter(|_| with_events).map(|_| {
            (0..weeks)
                .map(|t| {
                    let week = first.offset(t as i64);
                    if week <= ds.last_week {
                        ds.event_days_of(week)
                    } else {
                        f64::NAN
                    }
                })
                .collect()
        });
        let skus = ds
            .series
            .iter()
            .map(|s| {
                let values = per_sku
                    .iter()
                    .map(|(_, i)| {
                        (0..weeks)
                            .map(|t| {
                                let at = s.start.weeks_until(first.offset(t as i64));
                                usize::try_from(at)
                                    .ok()
                                    .and_then(|at| s.covariates[*i].get(at).copied())
                                    .unwrap_or(f64::NAN)
                            })
                            .collect()
                    })
                    .collect();
                (s.unique_id.clone(), values)
            })
            .collect();
        KnownFuture {
            first,
            weeks,
            columns: per_sku.iter().map(|(c, _)| *c).collect(),
            events,
            skus,
            source: "the recorded covariates".into(),
        }
    }

    /// The first week covered.
    pub fn first_week(&self) -> Week {
        self.first
    }

    /// Weeks covered.
    pub fn weeks(&self) -> usize {
        self.weeks
    }

    /// Whether `column` (`event_days`, `price` or `promo`) is given.
    pub fn has(&self, column: &str) -> bool {
        if column == columns::EVENT_DAYS {
            self.events.is_some()
        } else {
            self.columns.contains(&column)
        }
    }

    /// The columns given, `event_days` first when it is.
    pub fn given(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.events.is_some() {
            out.push(columns::EVENT_DAYS);
        }
        out.extend(&self.columns);
        out
    }

    /// Event days of the weeks covered, when given.
    pub fn events(&self) -> Option<&[f64]> {
        self.events.as_deref()
    }

    /// The planned values of `column` for `unique_id`, one per week covered; `None` when the
    /// column is not given. An error names the SKU when the plan has no row for it.
    pub fn values(&self, unique_id: &str, column: &str) -> Result<Option<&[f64]>> {
        let Some(c) = self.columns.iter().position(|x| *x == column) else {
            return Ok(None);
        };
        match self.skus.get(unique_id) {
            Some(v) => Ok(Some(&v[c])),
            None => Err(Error::Plan {
                path: PathBuf::from(&self.source),
                message: format!(
                    "SKU {unique_id} is forecast but has no rows ({} given for the other SKUs, \
                     {} weeks from {})",
                    self.columns.join(", "),
                    self.weeks,
                    self.first
                ),
            }),
        }
    }
}

/// The known-future columns of the file at `path`, with their ranges; an error for a column
/// that is not one, or when there is none.
fn given_columns(path: &Path) -> Result<Vec<(&'static str, f64, f64)>> {
    let err = |message: String| Error::Plan {
        path: path.to_path_buf(),
        message,
    };
    let present = table::column_names(path)?;
    for name in &present {
        let known = [columns::UNIQUE_ID, columns::DS]
            .iter()
            .chain(COLUMNS.iter().map(|(c, _, _)| c))
            .any(|c| c == name);
        if !known {
            return Err(err(format!(
                "column `{name}` is not a known-future input; the file may hold unique_id, ds \
                 and any of event_days, price, promo"
            )));
        }
    }
    let given: Vec<(&'static str, f64, f64)> = COLUMNS
        .iter()
        .copied()
        .filter(|(c, _, _)| present.iter().any(|p| p == c))
        .collect();
    if given.is_empty() {
        return Err(err(
            "no known-future column: the file must hold at least one of event_days, price, promo"
                .into(),
        ));
    }
    Ok(given)
}

/// Every SKU with a row (`rows_of`: (SKU, week) -> row) has one for each of the `weeks` weeks.
fn check_complete(
    path: &Path,
    rows_of: &HashMap<(String, usize), usize>,
    first: Week,
    weeks: usize,
) -> Result<()> {
    let mut ids: Vec<&String> = rows_of.keys().map(|(id, _)| id).collect();
    ids.sort();
    ids.dedup();
    let incomplete: Vec<(&String, Vec<usize>)> = ids
        .into_iter()
        .map(|id| {
            let missing = (0..weeks)
                .filter(|&t| !rows_of.contains_key(&(id.clone(), t)))
                .collect();
            (id, missing)
        })
        .filter(|(_, m): &(&String, Vec<usize>)| !m.is_empty())
        .collect();
    match incomplete.first() {
        None => Ok(()),
        Some((id, missing)) => Err(Error::Plan {
            path: path.to_path_buf(),
            message: format!(
                "SKU {id} has no row for week {} ({} of the {weeks} forecast weeks from {first} \
                 missing; {} SKUs incomplete)",
                first.offset(missing[0] as i64),
                missing.len(),
                incomplete.len()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2024-01-01 is a Monday.
    fn monday() -> Week {
        Week::containing_day(19_723)
    }

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("future.csv");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn read(text: &str) -> Result<KnownFuture> {
        let (_dir, path) = file(text);
        KnownFuture::read(&path, monday(), 2)
    }

    #[test]
    fn a_plan_reads_per_sku_and_week() {
        let f = read(
            "unique_id,ds,promo,price,event_days\n\
             A,2024-01-08,1,8.5,2\n\
             A,2024-01-01,0,10,0\n\
             B,2024-01-01,0.5,3,0\n\
             B,2024-01-08,0,3,2\n\
             B,2024-01-15,1,3,0\n",
        )
        .expect("valid plan");
        assert_eq!(f.given(), ["event_days", "price", "promo"]);
        assert_eq!(f.values("A", "promo").unwrap(), Some(&[0.0, 1.0][..]));
        assert_eq!(f.values("A", "price").unwrap(), Some(&[10.0, 8.5][..]));
        // The week after the two forecast weeks is ignored.
        assert_eq!(f.values("B", "promo").unwrap(), Some(&[0.5, 0.0][..]));
        assert_eq!(f.events(), Some(&[0.0, 2.0][..]));
        assert_eq!(f.values("A", "views").unwrap(), None);
        let missing = f.values("C", "promo").unwrap_err().to_string();
        assert!(
            missing.contains("SKU C is forecast but has no rows"),
            "{missing}"
        );
    }

    #[test]
    fn bad_plans_name_the_row_sku_and_column() {
        let cases = [
            (
                "unique_id,ds,promo,views\nA,2024-01-01,1,3\n",
                "column `views` is not a known-future input",
            ),
            ("unique_id,ds\nA,2024-01-01\n", "no known-future column"),
            (
                "unique_id,ds,promo\nA,2024-01-02,1\nA,2024-01-08,1\n",
                "row 1, column `ds`: not a Monday",
            ),
            (
                "unique_id,ds,promo\nA,2024-01-01,1\nA,2024-01-01,0\nA,2024-01-08,0\n",
                "row 2, column `ds`: SKU A has a second row for this week (the first is row 1)",
            ),
            (
                "unique_id,ds,promo\nA,2024-01-01,1\nA,2024-01-08,2\n",
                "row 2, column `promo`: must lie in [0, 1]",
            ),
            (
                "unique_id,ds,price\nA,2024-01-01,\nA,2024-01-08,2\n",
                "row 1, column `price`: missing",
            ),
            (
                "unique_id,ds,promo\nA,2024-01-01,1\nA,2024-01-08,0\nB,2024-01-08,0\n",
                "SKU B has no row for week 2024-01-01 (1 of the 2 forecast weeks",
            ),
            (
                "unique_id,ds,event_days\nA,2024-01-01,1\nA,2024-01-08,0\nB,2024-01-01,2\n",
                "row 3, column `event_days`: event days are the catalogue's calendar",
            ),
            (
                "unique_id,ds,promo\nA,2023-01-02,1\n",
                "no rows for the 2 forecast weeks from 2024-01-01",
            ),
        ];
        for (text, expected) in cases {
            let err = read(text).expect_err(text).to_string();
            assert!(err.contains(expected), "{text}\n{err}");
            assert!(err.contains("future.csv"), "{err}");
        }
    }

    #[test]
    fn the_recorded_plan_is_the_catalogues_own_values() {
        let start = monday();
        let ds = WeeklyDataset {
            first_week: start,
            last_week: start.offset(3),
            covariates: vec![columns::PRICE.into(), columns::VIEWS.into()],
            statics: vec![],
            event_days: Some(vec![0.0, 1.0, 2.0, 3.0]),
            series: vec![crate::SkuSeries {
                unique_id: "A".into(),
                start: start.offset(1),
                y: vec![1.0, 2.0, 3.0],
                covariates: vec![vec![5.0, 4.0, 6.0], vec![9.0, 9.0, 9.0]],
                statics: vec![],
            }],
        };
        let f = KnownFuture::recorded(
            &ds,
            start.offset(2),
            3,
            &[columns::PRICE, columns::EVENT_DAYS],
        );
        assert_eq!(f.given(), ["event_days", "price"]);
        let price = f.values("A", columns::PRICE).unwrap().unwrap();
        // Weeks 2 and 3 are recorded; week 4 is after the data: unknown.
        assert_eq!(price[..2], [4.0, 6.0]);
        assert!(price[2].is_nan());
        let events = f.events().unwrap();
        assert_eq!(events[..2], [2.0, 3.0]);
        assert!(events[2].is_nan());
        // Only the wanted columns.
        assert!(!f.has(columns::VIEWS) && !f.has(columns::PROMO));
    }
}
