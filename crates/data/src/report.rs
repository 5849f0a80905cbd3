//! The data-quality report: every row dropped and every value changed, by reason.

use serde::{Deserialize, Serialize};

/// Rows (or weeks) removed for one reason, with the demand units they carried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Removal {
    /// Machine-readable reason, e.g. `partial_week`.
    pub reason: String,
    /// What a row is here: `input rows`, `daily rows`, `weeks`, `skus`.
    pub unit: String,
    /// How many.
    pub count: usize,
    /// Demand units they carried (negative for returns).
    pub units: f64,
}

/// Values changed (not removed) for one reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Machine-readable reason, e.g. `negative_clipped`.
    pub reason: String,
    /// What was changed: `daily rows`, `weeks`.
    pub unit: String,
    /// How many.
    pub count: usize,
    /// Change of total demand units it caused (0 for covariate imputation).
    pub units_delta: f64,
}

/// The report written beside the weekly dataset (`<output>.quality.json`) and printed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// The raw file(s).
    pub source: String,
    /// The preset used, if any.
    pub preset: Option<String>,
    /// `daily` or `weekly` input.
    pub granularity: String,
    /// Rows read.
    pub input_rows: usize,
    /// Demand units in the rows read.
    pub input_units: f64,
    /// SKUs in the input.
    pub input_skus: usize,
    /// Rows (SKU-weeks) written.
    pub output_rows: usize,
    /// SKUs written.
    pub output_skus: usize,
    /// Demand units written.
    pub output_units: f64,
    /// First full week (Monday).
    pub first_week: String,
    /// Last full week (Monday).
    pub last_week: String,
    /// What was removed.
    pub removed: Vec<Removal>,
    /// What was changed.
    pub changed: Vec<Change>,
}

impl QualityReport {
    /// Count `count` rows (or weeks, `unit`) removed for `reason`, with their demand `units`;
    /// added to an earlier entry of the same reason and unit (a file read in batches).
    pub(crate) fn remove(&mut self, reason: &str, unit: &str, count: usize, units: f64) {
        if count == 0 {
            return;
        }
        match self
            .removed
            .iter_mut()
            .find(|r| r.reason == reason && r.unit == unit)
        {
            Some(r) => {
                r.count += count;
                r.units += units;
            }
            None => self.removed.push(Removal {
                reason: reason.into(),
                unit: unit.into(),
                count,
                units,
            }),
        }
    }

    /// Count `count` rows (or weeks) changed for `reason`, changing demand by `units_delta`;
    /// added to an earlier entry of the same reason and unit.
    pub(crate) fn change(&mut self, reason: &str, unit: &str, count: usize, units_delta: f64) {
        if count == 0 {
            return;
        }
        match self
            .changed
            .iter_mut()
            .find(|c| c.reason == reason && c.unit == unit)
        {
            Some(c) => {
                c.count += count;
                c.units_delta += units_delta;
            }
            None => self.changed.push(Change {
                reason: reason.into(),
                unit: unit.into(),
                count,
                units_delta,
            }),
        }
    }

    /// Count removed for `reason` (0 if none).
    pub fn removed_count(&self, reason: &str) -> usize {
        self.removed
            .iter()
            .filter(|r| r.reason == reason)
            .map(|r| r.count)
            .sum()
    }

    /// Count changed for `reason` (0 if none).
    pub fn changed_count(&self, reason: &str) -> usize {
        self.changed
            .iter()
            .filter(|r| r.reason == reason)
            .map(|r| r.count)
            .sum()
    }

    /// Units accounted for: input − removed + changes. Equals `output_units` up to rounding.
    pub fn accounted_units(&self) -> f64 {
        self.input_units - self.removed.iter().map(|r| r.units).sum::<f64>()
            + self.changed.iter().map(|c| c.units_delta).sum::<f64>()
    }

    /// A human summary, one line per fact.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let preset = self
            .preset
            .as_deref()
            .map(|p| format!(" (preset {p})"))
            .unwrap_or_default();
        s.push_str(&format!(
            "source      {}{preset}, {} input\n",
            self.source, self.granularity
        ));
        s.push_str(&format!(
            "input       {} rows, {} SKUs, {:.0} units\n",
            self.input_rows, self.input_skus, self.input_units
        ));
        s.push_str(&format!(
            "output      {} SKU-weeks, {} SKUs, {:.0} units, weeks {} .. {}\n",
            self.output_rows, self.output_skus, self.output_units, self.first_week, self.last_week
        ));
        for r in &self.removed {
            s.push_str(&format!(
                "removed     {:<28} {:>9} {:<11} {:>12.0} units\n",
                r.reason, r.count, r.unit, r.units
            ));
        }
        for c in &self.changed {
            s.push_str(&format!(
                "changed     {:<28} {:>9} {:<11} {:>+12.0} units\n",
                c.reason, c.count, c.unit, c.units_delta
            ));
        }
        s
    }
}
