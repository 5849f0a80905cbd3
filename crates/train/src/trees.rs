//! The run's gradient-boosted trees (`restock_trees`): fitted on the same training weeks as the
//! network, their boosting round and quantile bands set on its validation weeks, stored in the
//! run directory (`trees.txt`, `trees.json`) for the serving choice, the evaluation and
//! forecasts.

use restock_core::Quantiles;
use std::path::Path;

use restock_trees::{ExportReport, FitReport, FitWeeks, TreeModel};

use crate::prepare::Prepared;
use crate::{Error, Result, RunDir};

/// How a run's trees came out of [`fit_trees`].
#[derive(Debug, Clone, PartialEq)]
pub enum TreeFit {
    /// Fitted and saved in the run.
    Fitted(FitReport),
    /// `[trees] enabled = false`.
    Disabled,
    /// The catalogue is too small for trees (the reason); the run serves without them.
    TooLittleData(String),
}

impl TreeFit {
    /// The fit's report, when the trees were fitted.
    pub fn report(&self) -> Option<&FitReport> {
        match self {
            TreeFit::Fitted(r) => Some(r),
            _ => None,
        }
    }
}

/// Fit the trees of `run` on `prepared` when its config enables them, and save them in the run.
/// Disabled, or on a catalogue too small for them, any trees the run held are removed (a run
/// fine-tuned from one that had them would otherwise serve stale ones) and the run goes on
/// without: the network does not need them.
pub fn fit_trees(run: &RunDir, prepared: &Prepared) -> Result<TreeFit> {
    fit_trees_on(run, prepared, None)
}

/// [`fit_trees`] on `threads` of LightGBM's threads (0: one per core) instead of the config's
/// `optim.threads` when given.
pub(crate) fn fit_trees_on(
    run: &RunDir,
    prepared: &Prepared,
    threads: Option<usize>,
) -> Result<TreeFit> {
    let config = run.config()?;
    if !config.trees.enabled {
        TreeModel::remove(run.path())?;
        return Ok(TreeFit::Disabled);
    }
    let levels = run_levels(run)?;
    let mut weeks = fit_weeks(run, prepared, &levels)?;
    if let Some(threads) = threads {
        weeks.threads = threads;
    }
    match TreeModel::fit(&prepared.dataset, &weeks, &config.trees) {
        Ok(model) => {
            model.save(run.path())?;
            Ok(TreeFit::Fitted(model.spec().report.clone()))
        }
        Err(restock_trees::Error::Data(reason)) => {
            TreeModel::remove(run.path())?;
            Ok(TreeFit::TooLittleData(reason))
        }
        Err(e) => Err(e.into()),
    }
}

/// Fit the trees of `run` on `prepared` as [`fit_trees`] does (whatever `[trees] enabled`
/// says), without saving them, and write their rows and LightGBM's predictions into `dir` for
/// another boosting library to be measured on (`restock_trees::export_rows`).
pub fn export_tree_rows(run: &RunDir, prepared: &Prepared, dir: &Path) -> Result<ExportReport> {
    let config = run.config()?;
    let levels = run_levels(run)?;
    let weeks = fit_weeks(run, prepared, &levels)?;
    Ok(restock_trees::export_rows(
        &prepared.dataset,
        &weeks,
        &config.trees,
        dir,
    )?)
}

/// The quantile levels of the run's network, which the trees forecast too.
fn run_levels(run: &RunDir) -> Result<Quantiles> {
    Quantiles::new(run.model_config()?.quantiles.clone())
        .map_err(|e| Error::Evaluation(e.to_string()))
}

/// The weeks, horizon, seed and threads of the run's tree fit.
fn fit_weeks<'a>(run: &RunDir, prepared: &Prepared, levels: &'a Quantiles) -> Result<FitWeeks<'a>> {
    let config = run.config()?;
    Ok(FitWeeks {
        train_end: prepared.train_end,
        valid_end: prepared.valid_end,
        horizon: run.model_config()?.horizon,
        levels,
        seed: config.seed,
        threads: config.optim.threads,
    })
}

impl RunDir {
    /// The run's trees, if it has them.
    pub fn trees(&self) -> Result<Option<TreeModel>> {
        Ok(TreeModel::load(self.path())?)
    }
}
