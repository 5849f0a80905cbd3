//! restock's integration tests: one binary, one module per stage.

// Helpers of tests unwrap as the tests do: a failure is the test's (clippy.toml allows it
// in the tests themselves).
#![allow(clippy::unwrap_used)]

mod architecture;
mod backtest;
mod database;
mod forecast;
mod forecast_serving;
mod ingest;
mod planner;
mod planner_inputs;
mod planner_limits;
mod real_data;
mod training;
