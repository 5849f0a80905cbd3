#![doc = include_str!("../README.md")]

pub mod columns;
mod error;
mod forecast;
mod order;
mod week;

pub use error::{Error, Result};
pub use forecast::{Forecast, Forecaster, Horizon, Predict, Quantiles};
pub use order::{OrderLine, OrderReason};
pub use week::Week;
