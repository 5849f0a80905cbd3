//! `restock forecast`: forecast the whole catalogue from a training run.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use restock_infer::{ForecastOptions, ForecastSummary, Shard};
use restock_train::config::BackendKind;

use crate::commands::check_output;
use crate::progress::Progress;

#[derive(Debug, Args)]
pub(crate) struct ForecastArgs {
    /// The training run (checkpoints/<run>).
    #[arg(long)]
    pub(crate) run: PathBuf,
    /// The weekly dataset (from `restock ingest`), sorted by unique_id, ds.
    #[arg(long)]
    pub(crate) data: PathBuf,
    /// Weeks to forecast (at most the run's horizon).
    #[arg(long, default_value_t = 8)]
    pub(crate) horizon: usize,
    /// Output: unique_id, ds, model, q.. (.parquet, or .csv).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// SKUs per network batch [default: 1024 on the CPU, 65536 on a GPU].
    #[arg(long)]
    pub(crate) batch_size: Option<usize>,
    /// Data rows read at a time (memory is bounded by this and the batch size).
    #[arg(long, default_value_t = 2_000_000)]
    pub(crate) chunk_rows: usize,
    /// Forecast only shard I of N (0-based), by a hash of unique_id.
    #[arg(long, value_name = "I/N")]
    pub(crate) shard: Option<String>,
    /// Fewest weeks since the first sale for the network (default: the run's min_context, at least 8).
    #[arg(long)]
    pub(crate) min_history: Option<usize>,
    /// Serve SKUs whose average interval between demand weeks exceeds this with TSB (e.g. 2.0);
    /// default: the network serves them.
    #[arg(long)]
    pub(crate) intermittent_adi: Option<f64>,
    /// Override the run's backend: auto, cpu, ndarray or wgpu.
    #[arg(long, value_parser = crate::train_cmd::parse_backend)]
    pub(crate) backend: Option<BackendKind>,
    /// Serve the network's SKUs with the mean of its quantiles and these forecasters', e.g.
    /// tsb,auto_ets, or lightgbm for the run's gradient-boosted trees (`ensemble` in the model
    /// column); `alone` among them leaves the network out (lightgbm,alone: the trees alone);
    /// `none` for the network alone; default: the run's choice on its validation weeks
    /// (serving.json).
    #[arg(long, value_delimiter = ',', value_name = "MODELS")]
    pub(crate) combine: Vec<String>,
    /// The known future (Nixtla's X_df): `unique_id, ds` (the forecast weeks' Mondays) and any of
    /// `event_days, price, promo` for every SKU and forecast week, e.g. the promotion plan.
    /// Without it, a run forecasts without a plan (unknown events, prices and promotions).
    #[arg(long, value_name = "FILE")]
    pub(crate) future: Option<PathBuf>,
    /// Where to write the served forecaster's protection-interval calibration (JSON), which
    /// `restock plan` reads beside the forecasts; default: <out>.protection.json. Fitting it
    /// forecasts a sample of at most 2,000 SKUs at 13 earlier origins.
    #[arg(long, value_name = "FILE")]
    pub(crate) protection: Option<PathBuf>,
    /// Do not fit the protection-interval calibration (the planner then uses the normal rule).
    #[arg(long, conflicts_with = "protection")]
    pub(crate) no_protection: bool,
    /// Where to write the summary (JSON); default: <out>.summary.json.
    #[arg(long)]
    pub(crate) summary: Option<PathBuf>,
    /// Replace existing outputs.
    #[arg(long)]
    pub(crate) force: bool,
}

impl ForecastArgs {
    /// Defaults for a run, data, horizon and output.
    pub(crate) fn new(run: PathBuf, data: PathBuf, horizon: usize, out: PathBuf) -> Self {
        ForecastArgs {
            run,
            data,
            horizon,
            out,
            batch_size: None,
            chunk_rows: 2_000_000,
            shard: None,
            min_history: None,
            intermittent_adi: None,
            backend: None,
            combine: Vec::new(),
            future: None,
            protection: None,
            no_protection: false,
            summary: None,
            force: false,
        }
    }
}

/// Where the forecast job writes, and `restock plan` looks for, the protection-interval
/// calibration of forecasts at `forecasts`: `<forecasts>.protection.json`.
pub(crate) fn protection_path(forecasts: &std::path::Path) -> PathBuf {
    PathBuf::from(format!("{}.protection.json", forecasts.display()))
}

pub(crate) fn forecast(a: ForecastArgs, progress: &mut Progress) -> Result<ForecastSummary> {
    let summary_path = a
        .summary
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.summary.json", a.out.display())));
    let protection = (!a.no_protection).then(|| {
        a.protection
            .clone()
            .unwrap_or_else(|| protection_path(&a.out))
    });
    check_output(&a.out, a.force)?;
    check_output(&summary_path, a.force)?;
    if let Some(p) = &protection {
        check_output(p, a.force)?;
    }
    let options = ForecastOptions {
        horizon: a.horizon,
        batch_size: a.batch_size,
        chunk_rows: a.chunk_rows,
        shard: a.shard.as_deref().map(Shard::parse).transpose()?,
        min_history: a.min_history,
        intermittent_adi: a.intermittent_adi.unwrap_or(f64::INFINITY),
        backend: a.backend,
        combine: crate::backtest_cmd::members(&a.combine),
        future: a.future.clone(),
        protection,
    };
    progress.stage(&format!(
        "forecasting {} with {}",
        a.data.display(),
        a.run.display()
    ));
    let mut counter: Option<crate::progress::Counter> = None;
    let summary = {
        let progress = &mut *progress;
        restock_infer::forecast(
            &a.run,
            &a.data,
            &a.out,
            &options,
            &mut |read, rows, _skus| {
                let c = counter.get_or_insert_with(|| progress.counter("data rows", rows as u64));
                c.set(read as u64);
            },
        )?
    };
    let text = serde_json::to_string_pretty(&summary)?;
    restock_data::table::write_text(&summary_path, &text)?;
    progress.done(&format!("forecasts written to {}", a.out.display()));
    if !progress.is_quiet() {
        eprint!("{}", summary.text());
    }
    Ok(summary)
}
