//! restock's data stage: ingest long-format sales (CSV/Parquet files or a PostgreSQL/MySQL table) with polars, validate, clean, aggregate
//! to Monday..Sunday weeks, report data quality, build model features and training windows, and
//! generate a seeded synthetic catalogue.
//!
//! Everything here reads and writes tables; nothing knows about tensors or solvers.

pub mod config;
pub mod database;
mod error;
pub mod features;
pub mod future;
pub mod ingest;
pub mod presets;
pub mod report;
pub mod synth;
mod synth_files;
pub mod table;
pub mod weekly;
pub mod windows;

pub use config::IngestConfig;
pub use error::{Error, Result};
pub use ingest::{BATCH_ROWS, ingest, ingest_in_batches};
pub use presets::Preset;
pub use report::QualityReport;
pub use weekly::{SkuSeries, WeeklyDataset};
