//! `restock report`: the decision-support report as one self-contained HTML file.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use restock_report::{ReportInputs, ReportOutput};

use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// The weekly dataset (from `restock ingest`).
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// A `restock backtest` output folder.
    #[arg(long)]
    pub(crate) backtest: Option<PathBuf>,
    /// A `restock simulate` output folder.
    #[arg(long)]
    pub(crate) simulation: Option<PathBuf>,
    /// A plan summary (the JSON `restock plan` writes).
    #[arg(long)]
    pub(crate) plan_summary: Option<PathBuf>,
    /// The plan's order lines.
    #[arg(long)]
    pub(crate) orders: Option<PathBuf>,
    /// Fan charts for this many top SKUs (and as many others).
    #[arg(long, default_value_t = 4)]
    pub(crate) fans: usize,
    /// Title of the report.
    #[arg(long, default_value = "restock: demand and replenishment report")]
    pub(crate) title: String,
    /// Output folder: report.html, charts/, tables/.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Replace an existing report.
    #[arg(long)]
    pub(crate) force: bool,
}

pub(crate) fn report(a: ReportArgs, progress: &mut Progress) -> Result<ReportOutput> {
    crate::commands::check_output(&a.out.join("report.html"), a.force)?;
    // Charts and tables of an earlier report would linger beside the new ones.
    for sub in ["charts", "tables"] {
        let old = a.out.join(sub);
        if old.is_dir() {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing {}", old.display()))?;
        }
    }
    progress.stage("drawing the report");
    let inputs = ReportInputs {
        title: a.title.clone(),
        data: a.data.clone(),
        backtest: a.backtest.clone(),
        simulation: a.simulation.clone(),
        plan_summary: a.plan_summary.clone(),
        orders: a.orders.clone(),
        fans: a.fans,
    };
    let out = restock_report::build(&inputs, &a.out)
        .with_context(|| format!("writing the report to {}", a.out.display()))?;
    progress.done(&format!(
        "report {} ({} charts, {} tables)",
        out.html.display(),
        out.charts.len(),
        out.tables.len()
    ));
    Ok(out)
}
