//! The report's plumbing: reading its inputs (JSON summaries, tables by column) and writing its
//! outputs (charts and CSVs beside the page).

use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_data::table;

use crate::html::Page;
use crate::{Error, Result};

pub(crate) fn input_err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Input {
        path: path.to_path_buf(),
        message,
    }
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path)(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| input_err(path)(e.to_string()))
}

/// Columns of a table as owned vectors.
pub(crate) struct Table {
    path: PathBuf,
    df: DataFrame,
}

impl Table {
    pub(crate) fn read(path: &Path, names: &[&str]) -> Result<Self> {
        let wanted: Vec<(&str, String)> = names.iter().map(|n| ("column", n.to_string())).collect();
        let df = table::read_columns(path, &wanted)?;
        Ok(Table {
            path: path.to_path_buf(),
            df,
        })
    }

    fn err(&self, name: &str, e: PolarsError) -> Error {
        input_err(&self.path)(format!("column {name}: {e}"))
    }

    pub(crate) fn strings(&self, name: &str) -> Result<Vec<String>> {
        let c = self
            .df
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| self.err(name, e))?;
        let ca = c.str().map_err(|e| self.err(name, e))?;
        Ok(ca
            .iter()
            .map(|v| v.unwrap_or_default().to_string())
            .collect())
    }

    pub(crate) fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let c = self
            .df
            .column(name)
            .and_then(|c| c.cast(&DataType::Float64))
            .map_err(|e| self.err(name, e))?;
        let ca = c.f64().map_err(|e| self.err(name, e))?;
        Ok(ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect())
    }

    pub(crate) fn days(&self, name: &str) -> Result<Vec<i32>> {
        // Parquet holds dates; CSV holds them as text, parsed like any restock input.
        let c = self.df.column(name).map_err(|e| self.err(name, e))?;
        Ok(restock_data::ingest::parse_days(
            &self.path, name, c, "%Y-%m-%d",
        )?)
    }
}

/// A small table of text cells as CSV, written like every other restock table.
fn write_csv(path: &Path, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
    let cols: Vec<Column> = header
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let cells: Vec<&str> = rows
                .iter()
                .map(|r| r.get(j).map_or("", String::as_str))
                .collect();
            Column::new((*name).into(), cells)
        })
        .collect();
    let mut df = DataFrame::new(rows.len(), cols)
        .map_err(|e| input_err(path)(format!("building the table: {e}")))?;
    table::write(&mut df, path)?;
    Ok(())
}

/// The page being written, and the chart and table files written beside it.
pub(crate) struct Writer {
    pub(crate) dir: PathBuf,
    pub(crate) page: Page,
    pub(crate) charts: Vec<PathBuf>,
    pub(crate) tables: Vec<PathBuf>,
}

impl Writer {
    pub(crate) fn chart(&mut self, name: &str, svg: String) -> Result<()> {
        let path = self.dir.join("charts").join(format!("{name}.svg"));
        table::write_text(&path, &svg)?;
        self.page.figure(&svg);
        self.charts.push(path);
        Ok(())
    }

    pub(crate) fn csv(&mut self, name: &str, header: &[&str], rows: &[Vec<String>]) -> Result<()> {
        let path = self.dir.join("tables").join(format!("{name}.csv"));
        write_csv(&path, header, rows)?;
        self.tables.push(path);
        Ok(())
    }
}
