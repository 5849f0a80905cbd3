//! `restock report`: the decision-support report as one self-contained HTML file.

use std::path::{Path, PathBuf};

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
    // The report is drawn into a folder beside `out` and moved in only once complete: a report
    // that fails (a missing input, say) leaves an earlier one whole, and the earlier one's
    // charts and tables do not linger beside the new ones.
    let staging = restock_data::table::temp_path(&a.out);
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .with_context(|| format!("removing {}", staging.display()))?;
    }
    let built = restock_report::build(&inputs, &staging)
        .with_context(|| format!("writing the report to {}", a.out.display()));
    let out = match built.and_then(|out| move_in(&staging, &a.out).map(|()| out)) {
        Ok(out) => out,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let moved = |p: &PathBuf| {
        p.strip_prefix(&staging)
            .map_or_else(|_| p.clone(), |rel| a.out.join(rel))
    };
    let out = ReportOutput {
        html: moved(&out.html),
        charts: out.charts.iter().map(moved).collect(),
        tables: out.tables.iter().map(moved).collect(),
    };
    progress.done(&format!(
        "report {} ({} charts, {} tables)",
        out.html.display(),
        out.charts.len(),
        out.tables.len()
    ));
    Ok(out)
}

/// Replace `out`'s report (report.html, charts/, tables/) with the one drawn in `staging`, and
/// remove `staging`.
fn move_in(staging: &Path, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for entry in ["charts", "tables", "report.html"] {
        let (from, to) = (staging.join(entry), out.join(entry));
        if to.is_dir() {
            std::fs::remove_dir_all(&to).with_context(|| format!("removing {}", to.display()))?;
        } else if to.exists() {
            std::fs::remove_file(&to).with_context(|| format!("removing {}", to.display()))?;
        }
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} to {}", from.display(), to.display()))?;
    }
    std::fs::remove_dir(staging).with_context(|| format!("removing {}", staging.display()))
}
