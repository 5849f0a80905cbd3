//! What a run's network SKUs are served with besides (or instead of) the network: the members
//! of the served mean, as `serving.json` and `--combine` name them.

use restock_core::Forecaster;
use restock_stats::Baseline;

use crate::{Error, Result};

/// A forecaster combined with the network: a statistical one, fitted on each SKU's history, or
/// the run's gradient-boosted trees (`lightgbm`, one model for the catalogue).
#[derive(Debug, Clone, PartialEq)]
pub enum Member {
    /// A statistical forecaster.
    Stat(Baseline),
    /// The run's trees.
    Trees,
}

impl Member {
    /// Its name (`tsb`, `auto_ets`, `lightgbm`, ...).
    pub fn name(&self) -> &str {
        match self {
            Member::Stat(b) => b.name(),
            Member::Trees => restock_trees::MODEL_NAME,
        }
    }
}

/// The name that, among `--combine`'s, serves the members without the network
/// (`--combine lightgbm,alone`).
pub const ALONE: &str = "alone";

/// `--combine`'s names: the members, and whether the network is in the mean (not when
/// [`ALONE`] is among them).
pub fn parse_serving(names: &[String]) -> Result<(Vec<Member>, bool)> {
    let alone = names.iter().any(|n| n.trim() == ALONE);
    let members: Vec<String> = names
        .iter()
        .filter(|n| n.trim() != ALONE)
        .cloned()
        .collect();
    if alone && members.is_empty() {
        return Err(Error::Option(format!(
            "--combine {ALONE}: name the members to serve without the network, e.g. lightgbm,{ALONE}"
        )));
    }
    Ok((parse_members(&members)?, !alone))
}

/// The forecasters named in `names`, checked: statistical ones, or `lightgbm` for the run's
/// trees.
pub fn parse_members(names: &[String]) -> Result<Vec<Member>> {
    names
        .iter()
        .map(|n| {
            let n = n.trim();
            if n == restock_trees::MODEL_NAME {
                return Ok(Member::Trees);
            }
            Baseline::parse(n).map(Member::Stat).map_err(|e| {
                Error::Option(format!(
                    "--combine {n:?}: {e} (one of {}, {})",
                    Baseline::NAMES.join(", "),
                    restock_trees::MODEL_NAME
                ))
            })
        })
        .collect()
}
