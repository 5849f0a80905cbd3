//! The weekly job of restock: one command per week, `restock run`, that reads the new sales,
//! stock, open orders and SKU parameters (files, or PostgreSQL / MySQL tables), updates the model
//! (last week's fine-tuned, or a new one), forecasts the catalogue, plans the orders, scores the
//! earlier cycles' forecasts and orders against what happened (the feedback loop), raises
//! stock-out and overstock alerts, writes a decision-first report, and writes the outputs back
//! (files, and tables in one transaction), idempotently per week. See [`cycle`] for the stages
//! and [`record`] for the job's folder.

pub mod alerts;
pub mod config;
pub mod cycle;
mod error;
pub mod feedback;
mod inputs;
pub mod model;
mod publish;
pub mod record;
mod report;

pub use alerts::{Alert, OVERSTOCK, STOCKOUT_RISK};
pub use config::JobConfig;
pub use cycle::{ABORT_POINTS, CycleOptions, CycleSummary, Step, run_cycle};
pub use error::{Error, Result};
pub use publish::TABLES;
pub use record::{CycleRecord, JobDir};
