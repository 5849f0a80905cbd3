//! How a plan ended: shared by the solvers (`lp`) and the plan's summary.

use serde::{Deserialize, Serialize};

/// How a plan ended, ordered from proven optimal to furthest from it (the worst of several
/// plans is their maximum). Serialised as `optimal`, `gap_limit`, `gap_open`,
/// `step_limit`, `time_limit`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Proven optimal (no shared limits, or the solver proved it).
    #[default]
    Optimal,
    /// Within `solver.mip_gap` of the lower bound.
    GapLimit,
    /// The bound settled above the target gap before the time limit.
    GapOpen,
    /// Stopped after `solver.max_price_steps` with the gap above the target.
    StepLimit,
    /// Stopped at `solver.time_limit_seconds` with the gap above the target.
    TimeLimit,
}

impl PlanStatus {
    /// The status as it is written in summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Optimal => "optimal",
            PlanStatus::GapLimit => "gap_limit",
            PlanStatus::GapOpen => "gap_open",
            PlanStatus::StepLimit => "step_limit",
            PlanStatus::TimeLimit => "time_limit",
        }
    }
}

impl std::fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
