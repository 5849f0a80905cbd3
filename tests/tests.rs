//! restock's integration tests: one binary, one module per stage.

mod architecture;
mod backtest;
mod database;
mod forecast;
mod ingest;
mod planner;
mod real_data;
mod training;
