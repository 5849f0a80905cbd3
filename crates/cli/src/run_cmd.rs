//! `restock run`: one cycle of the weekly job (see `restock_job::cycle`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use restock_job::{CycleOptions, JobConfig, Step};

use crate::progress::Progress;
use crate::train_cmd::EpochBars;

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// The job config (TOML); see configs/job/.
    #[arg(long)]
    config: PathBuf,
    /// The cycle's week, its Monday (YYYY-MM-DD): the first week forecast and planned, the
    /// sales read up to the week before. Default: the week after the last week of sales.
    /// Running a recorded week again replaces its outputs.
    #[arg(long)]
    week: Option<String>,
    /// Run only the model step (inputs and the model) of the week: on several machines, first.
    #[arg(long, conflicts_with_all = ["shard", "finish_shards"])]
    model_only: bool,
    /// Forecast, plan and raise alerts for shard I of N (0-based) of the SKUs, by a hash of the
    /// id, with the model the week's model step trained: on several machines, one per shard.
    #[arg(long, value_name = "I/N", conflicts_with = "finish_shards")]
    shard: Option<String>,
    /// Merge the week's N shards, score, report, write the outputs back and record the cycle:
    /// on several machines, last.
    #[arg(long, value_name = "N")]
    finish_shards: Option<usize>,
    /// Die at this point of the cycle, as a kill would (for the tests that check a killed cycle
    /// run again gives the same outputs).
    #[arg(long, hide = true)]
    abort_at: Option<String>,
}

pub(crate) fn run(a: RunArgs, progress: &mut Progress) -> Result<()> {
    let cfg = JobConfig::load(&a.config)?;
    let week = a
        .week
        .as_deref()
        .map(|w| {
            chrono::NaiveDate::parse_from_str(w, "%Y-%m-%d")
                .with_context(|| format!("--week {w:?}: expected YYYY-MM-DD"))
        })
        .transpose()?;
    let step = match (a.model_only, &a.shard, a.finish_shards) {
        (true, _, _) => Step::Model,
        (_, Some(s), _) => Step::Shard(restock_infer::Shard::parse(s)?),
        (_, _, Some(0)) => anyhow::bail!("--finish-shards 0: there is at least one shard"),
        (_, _, Some(n)) => Step::Finish(n),
        _ => Step::All,
    };
    let options = CycleOptions {
        week,
        step,
        abort_at: a.abort_at,
    };
    progress.stage("running the weekly cycle");
    let mut observer = EpochBars::new(progress.is_quiet());
    let summary = restock_job::run_cycle(&cfg, &options, &mut observer)?;
    observer.clear();
    match (&summary.record, &summary.update) {
        (Some(r), _) => progress.done(&format!(
            "cycle {} ({} SKUs, sales to {}): model {}; {} orders to place now, cost {:.2}; {} \
             stock-out risks, {} overstocked{}; report {}",
            r.cycle,
            r.skus,
            r.data_end,
            r.model.replace('_', "-"),
            r.orders_now,
            r.orders_now_cost,
            r.stockout_alerts,
            r.overstock_alerts,
            summary
                .rows_published
                .map(|n| format!("; {n} rows written to the database"))
                .unwrap_or_default(),
            summary.dir.join("report.html").display()
        )),
        (None, Some(u)) => progress.done(&format!(
            "week {}: model {} ({}); next: the shards (--shard I/N)",
            summary.week,
            u.mode.replace('_', "-"),
            u.reason
        )),
        (None, None) => progress.done(&format!(
            "week {}: shard done in {}; last: --finish-shards N",
            summary.week,
            summary.dir.join("shards").display()
        )),
    }
    Ok(())
}
