//! Loading the weekly data of a run and splitting its weeks.
//!
//! ```text
//! first week ........ train_end | valid weeks | test weeks (held out)
//!                               ^ valid_end = last week - test_weeks
//! ```
//! Training windows have every target week <= `train_end`; validation windows have every target
//! week in (`train_end`, `valid_end`]; scale statistics are fitted on weeks <= `train_end`. The
//! test weeks are never read by training: they exist only for the evaluation.

use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_data::features::{self, FeatureSchema, FeatureSpec, PlanInput, SkuFeatures};
use restock_data::windows::{WindowSpec, Windows};

use crate::config::{DataSource, TrainConfig};
use crate::{Error, Result};

/// The data of a run, split.
#[derive(Debug)]
pub struct Prepared {
    /// All weekly series (history and test weeks).
    pub dataset: WeeklyDataset,
    /// The model's inputs.
    pub schema: FeatureSchema,
    /// Features with scales fitted on weeks <= `train_end`.
    pub features: Vec<SkuFeatures>,
    /// Window geometry.
    pub spec: WindowSpec,
    /// Last training target week.
    pub train_end: Week,
    /// Last validation week (the last week of history for the test).
    pub valid_end: Week,
    /// The plan inputs the schema has (none when the config never hides the plan).
    pub plan_inputs: Vec<PlanInput>,
    /// Share of windows whose plan is hidden (`window.hide_plan`).
    pub hide_plan: f64,
}

/// Seed of the plan hiding of validation windows: the same windows are hidden in every epoch
/// and in the calibration, so validation losses compare across epochs.
pub const VALID_HIDE_SEED: u64 = 0x5e_ed0f_91a7;

impl Prepared {
    /// Load (or ingest) the data a config names and split it.
    pub fn load(config: &TrainConfig) -> Result<Self> {
        let dataset = match config.source()? {
            DataSource::Weekly(path) => WeeklyDataset::read(&path)?,
            DataSource::Raw(path, preset) => preset.ingest(&path)?.0,
        };
        Self::new(config, dataset)
    }

    /// Split an in-memory dataset.
    pub fn new(config: &TrainConfig, dataset: WeeklyDataset) -> Result<Self> {
        let d = &config.data;
        let w = &config.window;
        let weeks = dataset.first_week.weeks_until(dataset.last_week) + 1;
        let held = (d.test_weeks + d.valid_weeks) as i64;
        let needed = held + (w.min_context + w.horizon) as i64;
        if weeks < needed {
            return Err(Error::NotEnoughData(format!(
                "the data spans {weeks} weeks ({} .. {}); training needs at least {needed}: \
                 data.test_weeks {} + data.valid_weeks {} + window.min_context {} + window.horizon {}",
                dataset.first_week,
                dataset.last_week,
                d.test_weeks,
                d.valid_weeks,
                w.min_context,
                w.horizon
            )));
        }
        let valid_end = dataset.last_week.offset(-(d.test_weeks as i64));
        let train_end = valid_end.offset(-(d.valid_weeks as i64));
        let spec = FeatureSpec {
            plan_flags: w.hide_plan > 0.0,
            ..FeatureSpec::default()
        };
        let schema = FeatureSchema::for_dataset(&dataset, spec);
        let features = features::build(&dataset, &schema, train_end);
        let window = WindowSpec::new(w.context, w.horizon, w.min_context)?
            .with_context_scale(w.scale == crate::config::ScaleMode::Context);
        let plan_inputs = schema.plan_inputs();
        Ok(Prepared {
            dataset,
            schema,
            features,
            spec: window,
            train_end,
            valid_end,
            plan_inputs,
            hide_plan: w.hide_plan,
        })
    }

    /// Training windows.
    pub fn train_windows(&self) -> Windows<'_> {
        Windows::new(
            &self.dataset,
            &self.features,
            &self.schema,
            self.spec,
            self.train_end,
        )
    }

    /// Windows up to the validation end, and the indices of those whose targets all lie after
    /// `train_end` (the validation windows).
    pub fn valid_windows(&self) -> (Windows<'_>, Vec<usize>) {
        let windows = Windows::new(
            &self.dataset,
            &self.features,
            &self.schema,
            self.spec,
            self.valid_end,
        );
        let mut indices = Vec::new();
        for (sku, s) in self.dataset.series.iter().enumerate() {
            // The first target index whose week is after train_end, through the last that fits.
            let first = (s.start.weeks_until(self.train_end) + 1).max(0) as usize;
            let mut e = first.max(self.spec.min_context);
            while let Some(i) = windows.index_of(sku, e) {
                indices.push(i);
                e += 1;
            }
        }
        (windows, indices)
    }
}
