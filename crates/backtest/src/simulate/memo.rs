//! What a replay forecasts that depends neither on the policy nor on the service target.

use std::collections::BTreeMap;

use restock_core::Week;
use restock_stats::ProtectionCalibration;

/// What a replay forecasts that depends neither on the policy nor on the service target (each
/// week's history is the recorded demand): restock's served forecasts and protection
/// calibration, and the classical buyers' forecasts, by review week. A sweep keeps one across
/// its replays, so each week is forecast once; the time it took is still counted in every
/// replay's `decision_seconds`.
#[derive(Debug, Default)]
pub struct ReplayMemo {
    /// The options it was filled under: (first week, weeks, protection calibrated).
    pub(super) key: Option<(Week, usize, bool)>,
    /// restock's forecasts per SKU, its calibration (and its cases), and the seconds they took.
    pub(super) restock: BTreeMap<usize, RestockForecasts>,
    /// Each buyer's forecasts per SKU, and the seconds they took, by (rule, week).
    pub(super) rules: BTreeMap<(usize, usize), RuleForecasts>,
}

/// One order-up-to buyer's forecasts at one review week (per SKU, its quantiles), and the
/// seconds they took.
pub(super) type RuleForecasts = (Vec<Vec<f64>>, f64);

/// restock's forecasts at one review week.
#[derive(Debug)]
pub(super) struct RestockForecasts {
    /// Quantiles per SKU, week-major.
    pub(super) values: Vec<Vec<f64>>,
    pub(super) protection: Option<ProtectionCalibration>,
    /// The calibration's cases.
    pub(super) cases: usize,
    pub(super) seconds: f64,
}

impl ReplayMemo {
    /// Start over unless it was filled for `key`.
    pub(super) fn keep_for(&mut self, key: (Week, usize, bool)) {
        if self.key != Some(key) {
            *self = ReplayMemo {
                key: Some(key),
                ..ReplayMemo::default()
            };
        }
    }
}
