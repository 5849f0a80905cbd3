//! Batch inference: forecast every SKU of a catalogue from a training run.
//!
//! The weekly data is streamed a chunk of whole SKUs at a time ([`WeeklyChunks`]), so memory is
//! bounded by the chunk and batch sizes, not by the catalogue; the output is written batch by
//! batch. Each SKU is routed ([`Route`]):
//!
//! | route | rule | model |
//! |---|---|---|
//! | zero | no demand in the last 52 weeks (or the whole history, if shorter) | `zero`: all quantiles 0 |
//! | new | fewer than `min_history` weeks since the first sale | `moving_average` (4 weeks) |
//! | intermittent | average inter-demand interval over the last 52 weeks above `intermittent_adi` | `tsb` |
//! | network | everything else | `lstm` |
//! | ensemble | a network SKU when statistical forecasters or the run's trees are combined (`--combine`) | `ensemble`: the mean of the network's and their quantiles |
//! | trees | a network SKU when the run serves its trees without the network (`--combine lightgbm,alone`) | `lightgbm`: the trees' quantiles |
//!
//! Network quantiles are calibrated with the run's `calibration.json` (offsets fitted on its
//! validation weeks) when it has one. They are conditional on the known future (planned events,
//! prices, promotions; `data::future::KnownFuture`) where it is given, and unconditional where it
//! is not, for runs trained with `window.hide_plan`.
//!
//! SKUs the run has never seen are served like any other (static attributes it knows keep
//! their embeddings; unknown values map to the "unknown" id) and counted; SKUs the run was
//! trained on but that are missing from the data are counted and listed.
//!
//! `--shard I/N` keeps the SKUs whose FNV-1a hash of `unique_id` is `I` modulo `N`, so `N`
//! machines split a catalogue without coordination, and a SKU's forecast does not depend on
//! its batch, chunk or shard.
//!
//! [`WeeklyChunks`]: restock_data::weekly::WeeklyChunks

pub mod auto;
mod error;
mod job;
mod network;
pub mod protection;
mod serving;

pub use error::{Error, Result};
pub use job::{ForecastOptions, ForecastSummary, Shard, forecast, shard_of};
pub use network::{CPU_BATCH, CatalogueForecast, GPU_BATCH, Network, RECENT_WEEKS, Route, route};
pub use serving::{ALONE, Member, parse_members, parse_serving};
