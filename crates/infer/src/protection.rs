//! The served forecaster's protection-interval calibration, fitted at earlier origins.
//!
//! The planner sets order-up-to levels from the quantiles of demand over each SKU's protection
//! interval (`restock_stats::protection`). Their calibration is the served forecaster's own:
//! the catalogue is forecast again, exactly as the job serves it (routes, ensemble members, the
//! recorded plan), at [`CALIBRATION_ORIGINS`] origins [`CALIBRATION_STEP`] weeks apart whose
//! forecast weeks are all in the data, and each forecast gives one case per interval length
//! against the demand that followed. A year of origins keeps one season's or holiday's shared
//! error from setting the tails. The forecast job (`<out>.protection.json`), backtests and
//! simulations all fit it this way.

use restock_core::{Horizon, Week};
use restock_data::WeeklyDataset;
use restock_data::future::KnownFuture;
use restock_stats::{ProtectionCalibration, ProtectionCase};

use crate::job::shard_of;
use crate::{Network, Result};

/// Forecast origins of the calibration.
pub const CALIBRATION_ORIGINS: usize = 13;

/// Weeks between calibration origins.
pub const CALIBRATION_STEP: usize = 4;

/// SKUs the forecast job calibrates on at most (a hash sample of larger catalogues): the
/// calibration then costs about [`CALIBRATION_ORIGINS`] × this many forecasts, whatever the
/// catalogue's size, and still gives every interval length its CV bands.
pub const CALIBRATION_SKUS: usize = 2_000;

/// The calibration origins for forecasts of `weeks` weeks whose weeks all end by `last` (the
/// last week whose demand is known), earliest first.
pub fn calibration_origins(last: Week, weeks: usize) -> Vec<Week> {
    (0..CALIBRATION_ORIGINS)
        .rev()
        .map(|j| last.offset(-((weeks + j * CALIBRATION_STEP) as i64)))
        .collect()
}

/// Whether SKU `unique_id` is in the calibration sample of a catalogue of about `skus` SKUs.
pub fn in_calibration_sample(unique_id: &str, skus: usize) -> bool {
    let buckets = skus.div_ceil(CALIBRATION_SKUS).max(1);
    shard_of(unique_id, buckets) == 0
}

impl Network {
    /// Calibration cases of the served forecasts of `ds`'s series at each of `origins` (the last
    /// week of history), `weeks` weeks ahead, against the demand `ds` recorded after them; the
    /// plan recorded for the forecast weeks is given, as a buyer had it. Origins with fewer
    /// than `min_history` weeks of data give none.
    pub fn protection_cases(
        &self,
        ds: &WeeklyDataset,
        origins: &[Week],
        weeks: usize,
        min_history: usize,
        intermittent_adi: f64,
        batch_size: usize,
    ) -> Result<Vec<ProtectionCase>> {
        let horizon = Horizon::new(weeks).map_err(|e| crate::Error::Option(e.to_string()))?;
        let levels = self.levels().levels().to_vec();
        let index: std::collections::HashMap<&str, usize> = ds
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.unique_id.as_str(), i))
            .collect();
        let mut cases = Vec::new();
        for &origin in origins {
            if origin < ds.first_week.offset(min_history as i64 - 1) {
                continue;
            }
            let Some(view) = ds.truncate(origin) else {
                continue;
            };
            let recorded = KnownFuture::recorded(ds, origin.offset(1), weeks, &self.plan_columns());
            let f = self.forecast_catalogue(
                &view,
                horizon,
                min_history,
                intermittent_adi,
                batch_size,
                Some(&recorded),
            )?;
            for (s, values) in view.series.iter().zip(&f.values) {
                let Some(&i) = index.get(s.unique_id.as_str()) else {
                    continue;
                };
                let full = &ds.series[i];
                let from = full.start.weeks_until(origin.offset(1)).max(0) as usize;
                let to = (from + weeks).min(full.y.len());
                if from < to {
                    cases.extend(ProtectionCalibration::cases_of(
                        values,
                        &levels,
                        &full.y[from..to],
                        i64::from(origin.day_number()),
                    ));
                }
            }
        }
        Ok(cases)
    }
}
