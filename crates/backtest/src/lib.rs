//! How good are the forecasts, and what do the plans do to stock, service and cost?
//!
//! - [`backtest()`]: rolling-origin accuracy of the trained network and the statistical baselines
//!   with the benchmark protocol's metrics, overall and by cutoff, ABC/XYZ class and group;
//! - [`simulate()`]: actual demand replayed week by week under restock's plans (forecast + planner
//!   re-run every review) and under a moving-average order-up-to policy at the same service
//!   target: fill rate, stock-outs, stock value, cost, budget and capacity use;
//! - [`classes`]: ABC (value share) × XYZ (demand variability) classes of the catalogue.
//!
//! Everything here sees only the past at each decision: the catalogue is cut at the cutoff or
//! review week ([`restock_data::WeeklyDataset::truncate`]) before anything is forecast, and
//! cutoffs inside the weeks the network was trained on are refused unless asked for.

pub mod backtest;
pub mod classes;
pub mod cold_start;
mod error;
mod order_up_to;
pub mod simulate;
pub mod sweep;

pub use backtest::{Backtest, BacktestOptions, BacktestSummary, RunWeeks, backtest};
pub use classes::{SkuClass, classify};
pub use cold_start::{ColdStart, cold_start};
pub use error::{Error, Result};
pub use simulate::{
    ReplayInputs, ReplayMemo, Shortage, Simulation, SimulationOptions, SimulationSummary, simulate,
    simulate_with,
};
pub use sweep::{ServiceTarget, Sweep, sweep};
