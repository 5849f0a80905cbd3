//! `restock run`: one cycle of the weekly job (see `restock_job::cycle`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use restock_job::{CycleOptions, JobConfig};

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
    let options = CycleOptions {
        week,
        abort_at: a.abort_at,
    };
    progress.stage("running the weekly cycle");
    let mut observer = EpochBars::new(progress.is_quiet());
    let summary = restock_job::run_cycle(&cfg, &options, &mut observer)?;
    observer.clear();
    let r = &summary.record;
    progress.done(&format!(
        "cycle {} ({} SKUs, sales to {}): model {}; {} orders to place now, cost {:.2}; {} stock-out \
         risks, {} overstocked{}; report {}",
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
    ));
    Ok(())
}
