//! The job's folder and its record of cycles.
//!
//! ```text
//! <dir>/cycles.json                 the cycles that finished, one record each, by week
//! <dir>/cycles/<week>/              a cycle: weekly.parquet, inputs/ (the snapshot of stock,
//!                                   open orders and SKU parameters it planned from),
//!                                   forecasts.parquet, orders.csv, alerts.csv, history.csv,
//!                                   report.html, model.json
//! <dir>/runs/<week>/                the model run the cycle trained (a training run directory)
//! ```
//!
//! Every file is written whole (temp file + rename); `cycles.json` last, so a cycle is recorded
//! only when all its outputs are in place.

use std::path::{Path, PathBuf};

use restock_core::Week;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// What the record keeps of a finished cycle (also the row of the `cycles` table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CycleRecord {
    /// The cycle's week: its Monday, the first forecast and planned week.
    pub cycle: String,
    /// The last week of sales it read.
    pub data_end: String,
    /// SKUs forecast.
    pub skus: usize,
    /// How the model was updated: `fine_tuned` or `retrained`.
    pub model: String,
    /// The served model's validation loss on the latest weeks.
    pub valid_loss: f64,
    /// Order lines to place in the cycle's week.
    pub orders_now: usize,
    /// Their cost.
    pub orders_now_cost: f64,
    /// All planned order lines (this week and later).
    pub order_lines: usize,
    /// SKUs at risk of a stock-out before a new order can arrive.
    pub stockout_alerts: usize,
    /// SKUs covering more than the configured weeks of demand.
    pub overstock_alerts: usize,
    /// How the plan ended (the worst of its shards): `optimal`, `time_limit`, ….
    pub plan_status: String,
    /// Units ordered over the planned weeks.
    pub units_ordered: f64,
    /// The plan's expected costs over its weeks (summed over shards): purchase, holding,
    /// shortage (lost demand), and the total with fixed order costs, penalties and the
    /// ending-stock credit.
    pub purchase_cost: f64,
    /// See `purchase_cost`.
    pub holding_cost: f64,
    /// See `purchase_cost`.
    pub shortage_cost: f64,
    /// See `purchase_cost`.
    pub total_cost: f64,
}

/// The job's folder.
#[derive(Debug, Clone)]
pub struct JobDir {
    root: PathBuf,
}

impl JobDir {
    /// The folder (created when the first cycle writes).
    pub fn new(root: &Path) -> Self {
        JobDir {
            root: root.to_path_buf(),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A cycle's folder.
    pub fn cycle(&self, week: Week) -> PathBuf {
        self.root.join("cycles").join(week.to_string())
    }

    /// A cycle's model run.
    pub fn run(&self, week: Week) -> PathBuf {
        self.root.join("runs").join(week.to_string())
    }

    fn record_path(&self) -> PathBuf {
        self.root.join("cycles.json")
    }

    /// The recorded cycles, oldest first.
    pub fn cycles(&self) -> Result<Vec<CycleRecord>> {
        let path = self.record_path();
        if !path.exists() {
            return Ok(Vec::new());
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::file(&path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::file(&path, format!("not a record of cycles: {e}")))
    }

    /// Record a finished cycle, replacing an earlier record of its week.
    pub fn record(&self, cycle: CycleRecord) -> Result<()> {
        let mut all = self.cycles()?;
        all.retain(|c| c.cycle != cycle.cycle);
        all.push(cycle);
        all.sort_by(|a, b| a.cycle.cmp(&b.cycle));
        let path = self.record_path();
        let text = serde_json::to_string_pretty(&all).map_err(|e| Error::file(&path, e))?;
        restock_data::table::write_text(&path, &text)?;
        Ok(())
    }
}

impl JobDir {
    /// Take the job's lock `name` (a file in the job's folder), held until the returned file is
    /// dropped or the process dies (killed included); an error names the folder when another
    /// process holds it.
    pub fn lock(&self, name: &str) -> Result<std::fs::File> {
        std::fs::create_dir_all(&self.root).map_err(|e| Error::file(&self.root, e))?;
        let path = self.root.join(name);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::file(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::file(
                &path,
                "another `restock run` of this job holds this lock: one cycle (or one shard) at a \
                 time",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::file(&path, e)),
        }
    }

    /// Remove the model runs, weekly data and shard folders of the cycles older than the latest
    /// `keep` recorded ones. Returns the weeks pruned.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>> {
        let cycles = self.cycles()?;
        let old = cycles.len().saturating_sub(keep);
        let mut pruned = Vec::new();
        for c in &cycles[..old] {
            let week = week_of(c)?;
            let run = self.run(week);
            let dir = self.cycle(week);
            let mut any = false;
            for path in [run.clone(), dir.join("shards")] {
                if path.exists() {
                    std::fs::remove_dir_all(&path).map_err(|e| Error::file(&path, e))?;
                    any = true;
                }
            }
            for path in [
                run.with_extension("attempt.json"),
                dir.join("weekly.parquet"),
            ] {
                if path.exists() {
                    std::fs::remove_file(&path).map_err(|e| Error::file(&path, e))?;
                    any = true;
                }
            }
            if any {
                pruned.push(c.cycle.clone());
            }
        }
        Ok(pruned)
    }
}

/// The week of a record.
pub(crate) fn week_of(record: &CycleRecord) -> Result<Week> {
    parse_week(&record.cycle)
}

/// A week named by its Monday, `YYYY-MM-DD`, as the job's folders and records name them.
pub(crate) fn parse_week(text: &str) -> Result<Week> {
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| Week::from_monday(d).ok())
        .ok_or_else(|| Error::Week {
            week: text.to_string(),
            message: "the job's folder names a week that is not a Monday".into(),
        })
}
