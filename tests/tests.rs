//! restock's integration tests: one binary, one module per stage.

mod ingest;
mod planner;
mod real_data;
mod training;
mod forecast;
