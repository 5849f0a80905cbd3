//! `[trees]` of the training config: whether a run fits gradient-boosted trees beside its
//! network, and LightGBM's settings. The defaults are one setting for every catalogue (the
//! issue's "one default that travels"): the rows are scaled per SKU, so nothing here depends on
//! a catalogue's units.

use serde::{Deserialize, Serialize};

/// Tree settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TreeConfig {
    /// Fit the trees with the run (and let the run's serving choice consider them).
    pub enabled: bool,
    /// Training rows at most (SKU × origin × horizon step); origins are sampled uniformly when
    /// the catalogue has more.
    pub max_rows: usize,
    /// Boosting rounds at most; the best round on the validation weeks is kept.
    pub rounds: usize,
    /// Shrinkage.
    pub learning_rate: f64,
    /// Leaves per tree.
    pub num_leaves: usize,
    /// Rows per leaf at least.
    pub min_data_in_leaf: usize,
    /// Share of features each tree sees.
    pub feature_fraction: f64,
    /// Tweedie variance power, in (1, 2): between Poisson counts and gamma amounts.
    pub tweedie_variance_power: f64,
    /// Share of training rows whose plan inputs (event days, price, promotion of the target
    /// week) are hidden, so that "unknown" is a value the trees know: a forecast without a
    /// known-future file is then the unconditional one, not "no promotion".
    pub hide_plan: f64,
    /// Weeks of history an origin needs.
    pub min_history: usize,
}

impl Default for TreeConfig {
    fn default() -> Self {
        TreeConfig {
            enabled: true,
            max_rows: 600_000,
            rounds: 400,
            learning_rate: 0.08,
            num_leaves: 63,
            min_data_in_leaf: 100,
            feature_fraction: 0.8,
            tweedie_variance_power: 1.3,
            hide_plan: 0.3,
            min_history: 13,
        }
    }
}

impl TreeConfig {
    /// The settings checked: an error names the first out of range.
    pub fn check(&self) -> Result<(), String> {
        let bad = |name: &str, why: &str| Err(format!("trees.{name}: {why}"));
        if self.max_rows < 100 {
            return bad("max_rows", "at least 100");
        }
        if self.rounds == 0 {
            return bad("rounds", "at least 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", "in (0, 1]");
        }
        if self.num_leaves < 2 {
            return bad("num_leaves", "at least 2");
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad("feature_fraction", "in (0, 1]");
        }
        if !(self.tweedie_variance_power > 1.0 && self.tweedie_variance_power < 2.0) {
            return bad("tweedie_variance_power", "in (1, 2)");
        }
        if !(0.0..1.0).contains(&self.hide_plan) {
            return bad("hide_plan", "in [0, 1)");
        }
        if self.min_history == 0 {
            return bad("min_history", "at least 1");
        }
        Ok(())
    }
}
