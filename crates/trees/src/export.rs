//! The rows a fit learns from, written out so that another gradient-boosting library can be
//! measured on exactly them (issue 16 asks LightGBM and a pure-Rust crate "measured against
//! each other"; `bench/gbdt-compare` is the other side): the training and validation rows of
//! [`TreeModel::fit`] (same sample, same hidden plans), the test rows after the validation
//! weeks with their recorded plan, and LightGBM's predicted means on the validation and test
//! rows.
//!
//! Files in the directory, all little-endian `f32`: `{train,valid,test}.x.f32` (row-major, NaN
//! where a feature is missing), `{set}.label.f32` (demand ÷ level), `{set}.level.f32`,
//! `lightgbm.{valid,test}.f32` (predicted mean ÷ level); `meta.json` names the features, the
//! Tweedie power and LightGBM's fit.

use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use restock_data::WeeklyDataset;
use serde_json::json;

use crate::config::TreeConfig;
use crate::features::Rows;
use crate::model::{Built, FitRows, FitWeeks, Key, TreeModel, build, write_atomic};
use crate::{Error, Result};

/// What [`export_rows`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportReport {
    /// Rows per set: training, validation, test.
    pub rows: [usize; 3],
    /// LightGBM's rounds kept.
    pub rounds: usize,
    /// Seconds LightGBM took to fit (rows built, boosted, round chosen).
    pub seconds: f64,
}

/// Fit the trees on `ds` as [`TreeModel::fit`] does, and write their rows and predictions into
/// `dir` (created). The test rows: every SKU with history at `weeks.valid_end`, the weeks after
/// it up to `weeks.horizon` (as far as the catalogue goes), their plan as recorded.
pub fn export_rows(
    ds: &WeeklyDataset,
    weeks: &FitWeeks<'_>,
    config: &TreeConfig,
    dir: &Path,
) -> Result<ExportReport> {
    let started = Instant::now();
    let rows = FitRows::build(ds, weeks, config)?;
    let model = TreeModel::fit_rows(&rows, weeks, config, started)?;
    let seconds = started.elapsed().as_secs_f64();
    let test = test_rows(ds, weeks, config, &rows)?;
    if test.label.is_empty() {
        return Err(Error::Data(format!(
            "no test rows: no SKU has history at {} and a week after it",
            weeks.valid_end
        )));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    for (name, set) in [
        ("train", &rows.train),
        ("valid", &rows.valid),
        ("test", &test),
    ] {
        write_f32(dir, &format!("{name}.x.f32"), &set.x)?;
        write_f32(dir, &format!("{name}.label.f32"), &set.label)?;
        write_f32(dir, &format!("{name}.level.f32"), &set.level)?;
    }
    for (name, set) in [("valid", &rows.valid), ("test", &test)] {
        let mu: Vec<f32> = model
            .predict_rows(&set.x)?
            .iter()
            .map(|v| *v as f32)
            .collect();
        write_f32(dir, &format!("lightgbm.{name}.f32"), &mu)?;
    }
    let report = &model.spec().report;
    let meta = json!({
        "features": rows.layout.names,
        "tweedie_variance_power": config.tweedie_variance_power,
        "threads": weeks.lightgbm_threads(),
        "weights": "sqrt(level)",
        "lightgbm": {
            "rounds": report.rounds,
            "seconds": report.seconds,
            "learning_rate": config.learning_rate,
            "num_leaves": config.num_leaves,
            "min_data_in_leaf": config.min_data_in_leaf,
        },
        "train_end": weeks.train_end.to_string(),
        "valid_end": weeks.valid_end.to_string(),
    });
    let text = serde_json::to_string_pretty(&meta).map_err(|e| Error::Data(e.to_string()))?;
    write_atomic(&dir.join("meta.json"), text.as_bytes())?;
    Ok(ExportReport {
        rows: [
            rows.train.label.len(),
            rows.valid.label.len(),
            test.label.len(),
        ],
        rounds: report.rounds,
        seconds,
    })
}

/// Every SKU's rows from its origin at `weeks.valid_end`, plans as recorded.
fn test_rows(
    ds: &WeeklyDataset,
    weeks: &FitWeeks<'_>,
    config: &TreeConfig,
    fit: &FitRows,
) -> Result<Built> {
    let mut keys: Vec<Key> = Vec::new();
    for (i, s) in ds.series.iter().enumerate() {
        let Ok(o) = usize::try_from(s.start.weeks_until(weeks.valid_end)) else {
            continue;
        };
        if o + 1 < config.min_history {
            continue;
        }
        for h in 1..=weeks.horizon {
            if o + h < s.y.len() {
                keys.push((i, o, h));
            }
        }
    }
    let rows = Rows::new(&fit.layout, ds);
    // No plan is hidden (share 0): the generator's draws decide nothing.
    let mut rng = StdRng::seed_from_u64(weeks.seed);
    build(&rows, ds, &keys, 0.0, &mut rng)
}

fn write_f32(dir: &Path, name: &str, values: &[f32]) -> Result<()> {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    write_atomic(&dir.join(name), &bytes)
}
