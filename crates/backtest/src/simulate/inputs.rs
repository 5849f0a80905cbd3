//! What a simulation is given: the replay's options ([`SimulationOptions`]) and what it replays
//! ([`ReplayInputs`]: the run's network and weeks, the catalogue, the SKUs' parameters and the
//! plan config). Every part of the replay reads them; they depend on none of its parts.

use std::collections::HashMap;

use restock_data::WeeklyDataset;
use restock_infer::Network;
use restock_planner::{PlanConfig, SkuParams};

use super::results::Shortage;
use crate::backtest::RunWeeks;

/// Options of a simulation.
#[derive(Debug, Clone)]
pub struct SimulationOptions {
    /// Weeks replayed (the last weeks of the data).
    pub weeks: usize,
    /// Lost sales or backorders.
    pub shortage: Shortage,
    /// Simulate weeks the network was trained on anyway.
    pub allow_in_sample: bool,
    /// SKUs per network batch.
    pub batch_size: usize,
    /// The forecast job's intermittent threshold.
    pub intermittent_adi: f64,
    /// Set restock's order-up-to levels from its calibrated protection-interval quantiles
    /// ([`restock_stats::ProtectionCalibration`]: fitted on its forecasts at a year of origins before the replay,
    /// `restock_infer::protection`, then on the replay's own forecasts as their weeks are
    /// sold); false:
    /// the normal rule with independent weeks.
    pub calibrate_protection: bool,
}

impl Default for SimulationOptions {
    fn default() -> Self {
        SimulationOptions {
            weeks: 8,
            shortage: Shortage::LostSales,
            allow_in_sample: false,
            batch_size: 4096,
            intermittent_adi: f64::INFINITY,
            calibrate_protection: true,
        }
    }
}

/// What a replay is made of: the run's network and weeks, the catalogue whose demand is
/// replayed, every simulated SKU's parameters and the plan config.
#[derive(Clone, Copy)]
pub struct ReplayInputs<'a> {
    /// The trained run's network (restock's forecasts).
    pub network: &'a Network,
    /// The run's training and validation weeks (a replay inside them is refused).
    pub run_weeks: RunWeeks,
    /// The catalogue.
    pub ds: &'a WeeklyDataset,
    /// Every simulated SKU's parameters (an error names a SKU without).
    pub params: &'a HashMap<String, SkuParams>,
    /// The plan config of restock's plans and of the order-up-to buyers' targets.
    pub cfg: &'a PlanConfig,
}
