//! Statistical forecasters and the accuracy metrics of the benchmark protocol.
//!
//! The forecasters are the baselines the network has to beat and the fallbacks that serve SKUs
//! too new or too sparse for it. Each gives a point forecast (the median) and quantiles from the
//! empirical distribution of its own h-step-ahead in-sample errors, except `auto_ets` ([`ets`]:
//! the ETS family selected by AICc) and `auto_arima` ([`arima`]: ARIMA(p, d, q) with d by the
//! KPSS test and p, q by AICc), whose quantiles are their models' prediction intervals.
//! No polars and no burn: inputs are plain weekly histories.

pub mod arima;
mod baselines;
mod error;
pub mod ets;
pub mod launch;
mod metrics;
pub mod protection;

pub use baselines::{Baseline, BaselineKind, ERROR_ORIGINS, Fitted, MIN_ERRORS, normal_quantile};
pub use error::{Error, Result};
pub use metrics::{
    Accuracy, AccuracyAccumulator, SeriesScore, accuracy_table, mean_from_quantiles,
};
pub use protection::{
    ProtectionCalibration, ProtectionCase, conformal_quantile, protection_moments,
};
