//! The run's gradient-boosted trees (`restock_trees`): fitted on the same training weeks as the
//! network, their boosting round and quantile bands set on its validation weeks, stored in the
//! run directory (`trees.txt`, `trees.json`) for the serving choice, the evaluation and
//! forecasts.

use restock_core::Quantiles;
use restock_trees::{FitReport, FitWeeks, TreeModel};

use crate::prepare::Prepared;
use crate::{Error, Result, RunDir};

/// Fit the trees of `run` on `prepared` when its config enables them, and save them in the run;
/// `None` when disabled (and any trees the run held are removed). Trees of an earlier fit are replaced (the serving choice that follows
/// reads the new ones).
pub fn fit_trees(run: &RunDir, prepared: &Prepared) -> Result<Option<FitReport>> {
    let config = run.config()?;
    if !config.trees.enabled {
        // Trees of an earlier fit (a run fine-tuned from one that had them) would be served.
        TreeModel::remove(run.path())?;
        return Ok(None);
    }
    let model_config = run.model_config()?;
    let levels = Quantiles::new(model_config.quantiles.clone())
        .map_err(|e| Error::Evaluation(e.to_string()))?;
    let threads = match config.optim.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    let weeks = FitWeeks {
        train_end: prepared.train_end,
        valid_end: prepared.valid_end,
        horizon: model_config.horizon,
        levels: &levels,
        seed: config.seed,
        threads,
    };
    let model = TreeModel::fit(&prepared.dataset, &weeks, &config.trees)?;
    model.save(run.path())?;
    Ok(Some(model.spec().report.clone()))
}

impl RunDir {
    /// The run's trees, if it has them.
    pub fn trees(&self) -> Result<Option<TreeModel>> {
        Ok(TreeModel::load(self.path())?)
    }
}
