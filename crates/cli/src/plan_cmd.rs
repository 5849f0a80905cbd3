//! `restock plan` and `restock demo`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::Args;
use restock_planner::io::{self, PlanFiles};
use restock_planner::{Plan, PlanConfig};

use crate::commands::check_output;
use crate::progress::Progress;

/// The demo's plan config, `configs/plan/default.toml`, built into the binary.
const DEFAULT_PLAN: &str = include_str!("../../../configs/plan/default.toml");

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Plan config (TOML); see configs/plan/. Without it, the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Forecasts: unique_id, ds, q10, q50, q90 (Parquet or CSV).
    #[arg(long)]
    forecasts: PathBuf,
    /// Stock on hand: unique_id, on_hand.
    #[arg(long)]
    inventory: PathBuf,
    /// Open purchase orders: unique_id, arrival_ds, quantity.
    #[arg(long)]
    open_orders: Option<PathBuf>,
    /// SKU parameters: unique_id, unit_cost, [unit_price, lead_time_weeks, case_pack, moq, supplier, unit_volume, min_stock, max_stock].
    #[arg(long)]
    sku_params: PathBuf,
    /// The forecaster's protection-interval calibration (from `restock forecast`): order-up-to
    /// levels from its calibrated quantiles of demand over lead time + review period; default:
    /// <forecasts>.protection.json when it exists.
    #[arg(long, value_name = "FILE")]
    protection: Option<PathBuf>,
    /// Set order-up-to levels by the normal rule with independent weeks, even where a
    /// calibration exists.
    #[arg(long, conflicts_with = "protection")]
    normal_protection: bool,
    /// The weekly sales the forecasts were made from (`restock ingest`'s output): how often
    /// each SKU sells, for its lost-sales level, where the SKU table has no
    /// demand_weeks_share.
    #[arg(long, value_name = "WEEKLY")]
    history: Option<PathBuf>,
    /// Order lines to write (.parquet or .csv).
    #[arg(long)]
    out: PathBuf,
    /// Plan summary (JSON); default: <out>.summary.json.
    #[arg(long)]
    summary: Option<PathBuf>,
    /// Override the config's solver: highs or microlp.
    #[arg(long)]
    solver: Option<String>,
    /// Replace existing outputs.
    #[arg(long)]
    force: bool,
    /// Without --config: use configs/plan/default.toml as built into the binary.
    #[arg(long, conflicts_with = "config")]
    builtin_config: bool,
}

impl PlanArgs {
    /// The built-in default config, the given inputs, and the protection calibration beside the
    /// forecasts when there is one.
    pub(crate) fn builtin(
        forecasts: PathBuf,
        inventory: PathBuf,
        open_orders: Option<PathBuf>,
        sku_params: PathBuf,
        history: PathBuf,
        out: PathBuf,
    ) -> Self {
        PlanArgs {
            config: None,
            builtin_config: true,
            forecasts,
            inventory,
            open_orders,
            sku_params,
            protection: None,
            normal_protection: false,
            history: Some(history),
            out,
            summary: None,
            solver: None,
            force: false,
        }
    }
}

/// The plan config at `path`, or the built-in default (`builtin`) or the defaults.
pub(crate) fn plan_config(path: Option<&Path>, builtin: bool) -> Result<PlanConfig> {
    Ok(match path {
        Some(p) => PlanConfig::load(p)?,
        None if builtin => PlanConfig::parse(DEFAULT_PLAN, Path::new("configs/plan/default.toml"))?,
        None => PlanConfig::default(),
    })
}

/// `--solver`: highs or microlp.
pub(crate) fn parse_solver(s: &str) -> Result<restock_planner::config::SolverKind> {
    Ok(match s {
        "highs" => restock_planner::config::SolverKind::Highs,
        "microlp" => restock_planner::config::SolverKind::Microlp,
        other => anyhow::bail!("--solver must be highs or microlp, got {other:?}"),
    })
}

pub(crate) fn plan(a: PlanArgs, progress: &mut Progress) -> Result<Plan> {
    let mut cfg = plan_config(a.config.as_deref(), a.builtin_config)?;
    if let Some(s) = &a.solver {
        cfg.solver.backend = parse_solver(s)?;
    }
    let summary_path = a
        .summary
        .clone()
        .unwrap_or_else(|| a.out.with_extension("summary.json"));
    check_output(&a.out, a.force)?;
    check_output(&summary_path, a.force)?;
    progress.stage("reading forecasts, inventory and SKU parameters");
    let files = PlanFiles {
        forecasts: a.forecasts.clone(),
        inventory: a.inventory.clone(),
        open_orders: a.open_orders.clone(),
        sku_params: a.sku_params.clone(),
        protection: if a.normal_protection {
            None
        } else {
            a.protection.clone().or_else(|| {
                let p = crate::forecast_cmd::protection_path(&a.forecasts);
                p.exists().then_some(p)
            })
        },
        history: a.history.clone(),
    };
    let (inputs, mut warnings) = io::load(&files, &cfg)?;
    if files.protection.is_none() && !a.normal_protection {
        warnings.push(format!(
            "no protection calibration beside the forecasts ({}); order-up-to levels by the \
             normal rule, which under-covers real demand (run `restock forecast` to write one)",
            crate::forecast_cmd::protection_path(&a.forecasts).display()
        ));
    }
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    let counter = Mutex::new(progress.counter(
        &format!(
            "planning {} SKUs x {} weeks ({})",
            inputs.skus.len(),
            cfg.horizon.weeks,
            if cfg.solver.integer {
                "whole cases".to_string()
            } else {
                format!("LP with {}", cfg.solver.backend.as_str())
            }
        ),
        inputs.skus.len() as u64,
    ));
    let plan = restock_planner::plan(&inputs, &cfg, &|n| {
        if let Ok(mut c) = counter.lock() {
            c.inc(n as u64);
        }
    })
    .context("planning")?;
    io::write(&plan, &a.out, &summary_path)?;
    progress.done(&format!(
        "orders {} and summary {}",
        a.out.display(),
        summary_path.display()
    ));
    if !progress.is_quiet() {
        eprint!("{}", render_summary(&plan));
    }
    Ok(plan)
}

fn render_summary(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut out = format!(
        "solver      {}, {} model(s), status {}, {:.2} s{}\n",
        s.how_solved(),
        s.models,
        s.status,
        s.seconds,
        s.gap_bound
            .map(|g| format!(", gap <= {:.3}%", 100.0 * g))
            .unwrap_or_default()
    );
    out += &format!(
        "orders      {} lines, {:.0} units for {} SKUs\n",
        s.order_lines, s.units_ordered, s.skus
    );
    out += &format!(
        "levels      {} at {}{}{}\n",
        s.protection,
        s.service_method.replace('_', " "),
        s.expected_fill_rate
            .map(|f| format!(" (expected {f:.3})"))
            .unwrap_or_default(),
        if s.lost_sales_levels {
            ", lost-sales levels"
        } else {
            ""
        }
    );
    let c = &s.costs;
    out += &format!(
        "costs       purchase {:.0}, holding {:.0}, shortage {:.0}, below safety stock {:.0}, fixed {:.0}, violations {:.0}, ending-stock credit -{:.0}\n",
        c.purchase,
        c.holding,
        c.shortage,
        c.safety_shortfall,
        c.fixed_order,
        c.constraint_violation,
        c.salvage_credit
    );
    for k in s.constraints.iter().take(12) {
        out += &format!(
            "binding     {:<24} {}  used {:.1} of {:.1}{}{}{}\n",
            k.name,
            k.week,
            k.used,
            k.limit,
            if k.reserve > 0.0 {
                format!(
                    " ({:.1} less {:.1} kept for demand below forecast)",
                    k.limit + k.reserve,
                    k.reserve
                )
            } else {
                String::new()
            },
            if k.violated_by > 0.0 && k.floor > k.limit {
                // Stock on hand and on order fills it whatever is ordered.
                format!(
                    ", VIOLATED by {:.1} ({:.1} of it whatever is ordered: stock on hand and on \
                     order)",
                    k.violated_by,
                    k.floor - k.limit
                )
            } else if k.violated_by > 0.0 {
                format!(", VIOLATED by {:.1}", k.violated_by)
            } else {
                String::new()
            },
            k.shadow_price
                .map(|p| format!(", shadow price {p:.3}"))
                .unwrap_or_default()
        );
    }
    if !s.skus_short.is_empty() {
        let units: f64 = s.skus_short.iter().map(|x| x.units_short).sum();
        let unavoidable: f64 = s
            .skus_short
            .iter()
            .map(|x| x.units_short_within_lead_time)
            .sum();
        out += &format!(
            "short       {} SKUs, {:.0} units of forecast demand lost ({:.0} within lead time, unavoidable)\n",
            s.skus_short.len(),
            units,
            unavoidable
        );
    }
    out
}
