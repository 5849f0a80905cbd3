//! The forecast job: stream, route, forecast, write.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::prelude::*;
use polars::prelude::*;
use rayon::prelude::*;
use restock_core::{Forecaster, Horizon, Predict, Quantiles, Week, columns};
use restock_data::features::{self, FeatureSchema};
use restock_data::future::KnownFuture;
use restock_data::table::BatchWriter;
use restock_data::weekly::WeeklyChunks;
use restock_data::windows::{WindowSpec, Windows};
use restock_data::{SkuSeries, WeeklyDataset};
use restock_model::{DemandModel, DemandModelConfig};
use restock_stats::Baseline;
use restock_train::config::BackendKind;
use restock_train::trainer::{batch_input, load_model};
use restock_train::{Calibration, RunDir, backend};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A deterministic part of the catalogue: SKUs whose hash is `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based shard number.
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// Parse `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = || {
            Error::Option(format!(
                "--shard {text:?}: expected I/N with 0 <= I < N, e.g. 0/4"
            ))
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether `unique_id` belongs to this shard.
    pub fn contains(&self, unique_id: &str) -> bool {
        shard_of(unique_id, self.count) == self.index
    }
}

/// The shard of `unique_id` among `count`: FNV-1a (64-bit) of its UTF-8 bytes modulo `count`.
/// Stable across machines, runs and versions.
pub fn shard_of(unique_id: &str, count: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in unique_id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % count.max(1) as u64) as usize
}

/// How a SKU is forecast.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Route {
    /// No demand in the recent past: zeros.
    Zero,
    /// Too little history for the network: a moving average.
    New,
    /// Sporadic demand: TSB.
    Intermittent,
    /// The network.
    Network,
    /// The network's quantiles averaged with statistical forecasters' ([`Network::combine_with`]).
    Ensemble,
}

impl Route {
    /// The `model` column value.
    pub fn model(self) -> &'static str {
        match self {
            Route::Zero => "zero",
            Route::New => "moving_average",
            Route::Intermittent => "tsb",
            Route::Network => "lstm",
            Route::Ensemble => "ensemble",
        }
    }
}

/// Weeks of recent history the routing rules look at.
pub const RECENT_WEEKS: usize = 52;

/// Route a SKU by its weekly history (oldest first, from its first sale).
pub fn route(y: &[f64], min_history: usize, intermittent_adi: f64) -> Route {
    let recent = &y[y.len().saturating_sub(RECENT_WEEKS)..];
    let nonzero = recent.iter().filter(|v| **v > 0.0).count();
    if nonzero == 0 {
        Route::Zero
    } else if y.len() < min_history {
        Route::New
    } else if recent.len() as f64 / nonzero as f64 > intermittent_adi {
        Route::Intermittent
    } else {
        Route::Network
    }
}

/// Options of a forecast job.
#[derive(Debug, Clone)]
pub struct ForecastOptions {
    /// Weeks to forecast, 1..= the run's horizon.
    pub horizon: usize,
    /// SKUs per network batch.
    pub batch_size: usize,
    /// Data rows read per chunk (whole SKUs).
    pub chunk_rows: usize,
    /// Only this part of the catalogue.
    pub shard: Option<Shard>,
    /// Fewest weeks since the first sale for the network; `None`: the run's `window.min_context`
    /// or 8, whichever is larger.
    pub min_history: Option<usize>,
    /// Average inter-demand interval (weeks per week with demand, over the last 52 weeks) above
    /// which TSB serves the SKU; `f64::INFINITY` sends every such SKU to the network.
    pub intermittent_adi: f64,
    /// Override the run's backend.
    pub backend: Option<BackendKind>,
    /// Statistical forecasters (names as in `restock_stats::Baseline::parse`) whose quantiles
    /// are averaged with the network's for the network's SKUs ([`Network::combine_with`]).
    pub combine: Vec<String>,
    /// The known future (`unique_id, ds` and any of `event_days, price, promo` for the forecast
    /// weeks): forecasts are conditional on the plan it gives. Without it, a run trained with
    /// `window.hide_plan` forecasts unconditionally; an older run assumes the last price and no
    /// promotion or event.
    pub future: Option<PathBuf>,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            horizon: 8,
            batch_size: 1024,
            chunk_rows: 2_000_000,
            shard: None,
            min_history: None,
            intermittent_adi: f64::INFINITY,
            backend: None,
            combine: Vec::new(),
            future: None,
        }
    }
}

/// What a forecast job did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastSummary {
    /// SKUs forecast.
    pub skus: usize,
    /// Rows written.
    pub rows: usize,
    /// SKUs per `model` value.
    pub by_model: BTreeMap<String, usize>,
    /// Forecast SKUs the run was not trained on.
    pub unknown_to_run: usize,
    /// SKUs of the run (in this shard) missing from the data.
    pub missing_from_data: usize,
    /// Up to 10 of them.
    pub missing_examples: Vec<String>,
    /// The shard, as `I/N`.
    pub shard: Option<String>,
    /// First forecast week.
    pub first_week: String,
    /// The device.
    pub backend: String,
    /// Where the forecast weeks' plan inputs (events, prices, promotions) came from.
    pub plan: String,
    /// Wall time.
    pub seconds: f64,
    /// SKUs per second.
    pub skus_per_second: f64,
    /// Seconds reading and parsing the data.
    pub read_seconds: f64,
    /// Seconds building features and windows (network SKUs) and fitting fallbacks.
    pub prepare_seconds: f64,
    /// Seconds in the network.
    pub network_seconds: f64,
    /// Seconds building and writing output.
    pub write_seconds: f64,
}

impl ForecastSummary {
    /// A few printable lines.
    pub fn text(&self) -> String {
        let models: Vec<String> = self
            .by_model
            .iter()
            .map(|(m, n)| format!("{m} {n}"))
            .collect();
        let mut out = format!(
            "{} SKUs ({}) from {} on {}, {} rows in {:.1} s ({:.0} SKUs/s: read {:.1} s, prepare {:.1} s, network {:.1} s, write {:.1} s)\n",
            self.skus,
            models.join(", "),
            self.first_week,
            self.backend,
            self.rows,
            self.seconds,
            self.skus_per_second,
            self.read_seconds,
            self.prepare_seconds,
            self.network_seconds,
            self.write_seconds
        );
        out.push_str(&format!("plan inputs: {}\n", self.plan));
        if self.unknown_to_run > 0 {
            out.push_str(&format!(
                "{} SKUs are new to the run (not in its training data)\n",
                self.unknown_to_run
            ));
        }
        if self.missing_from_data > 0 {
            out.push_str(&format!(
                "{} SKUs of the run are missing from the data (e.g. {})\n",
                self.missing_from_data,
                self.missing_examples.join(", ")
            ));
        }
        out
    }
}

/// A training run loaded for forecasting: the network on its device, with the run's feature
/// schema and quantile levels. Used by the forecast job and by anything that forecasts an
/// in-memory catalogue (backtests, simulations).
pub struct Network {
    model: DemandModel,
    model_config: DemandModelConfig,
    schema: FeatureSchema,
    levels: Quantiles,
    min_context: usize,
    context_scale: bool,
    device: Device,
    backend: String,
    known_skus: HashSet<String>,
    calibration: Option<Calibration>,
    combine: Vec<Baseline>,
}

/// Forecasts of a catalogue at its last week: one route and `weeks × levels` values per series.
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogueForecast {
    /// How each series was forecast.
    pub routes: Vec<Route>,
    /// `values[i][h * levels + k]`.
    pub values: Vec<Vec<f64>>,
    /// Seconds building features and windows and fitting fallbacks.
    pub prepare_seconds: f64,
    /// Seconds in the network.
    pub network_seconds: f64,
}

impl Network {
    /// Load the run in `run_dir` on its configured backend, or on `backend`.
    pub fn open(run_dir: &Path, backend: Option<BackendKind>) -> Result<Self> {
        let run = RunDir::open(run_dir)?;
        let config = run.config()?;
        let model_config = run.model_config()?;
        let schema = run.schema()?;
        let levels = Quantiles::new(model_config.quantiles.clone())
            .map_err(|e| Error::Option(format!("{}: {e}", run.file("model.json").display())))?;
        let kind = backend.unwrap_or(config.backend.kind);
        let selected = backend::select(kind, config.backend.device)?;
        let model = load_model(&model_config, run.read("model.bpk")?, &selected.device)?;
        let known_skus = run.scalers()?.into_iter().map(|s| s.unique_id).collect();
        let calibration = run.calibration()?;
        Ok(Network {
            model,
            model_config,
            schema,
            levels,
            min_context: config.window.min_context,
            context_scale: config.window.scale == restock_train::config::ScaleMode::Context,
            device: selected.device,
            backend: selected.description,
            known_skus,
            calibration,
            combine: Vec::new(),
        })
    }

    /// The quantile levels it forecasts.
    pub fn levels(&self) -> &Quantiles {
        &self.levels
    }

    /// The most weeks it forecasts (the run's `window.horizon`).
    pub fn horizon(&self) -> usize {
        self.model_config.horizon
    }

    /// The run's `window.min_context`: fewest weeks of history a network forecast needs.
    pub fn min_context(&self) -> usize {
        self.min_context
    }

    /// Serve the network's SKUs with the simple mean of the network and `members`: their
    /// quantiles averaged level by level (equal weights; averaging sorted quantiles keeps them
    /// sorted), route [`Route::Ensemble`]. Empty: the network alone. Each member is fitted on
    /// each network SKU's history, so a costly one (`auto_ets`) slows large catalogues.
    pub fn combine_with(&mut self, members: Vec<Baseline>) {
        self.combine = members;
    }

    /// The forecasters combined with the network.
    pub fn combination(&self) -> &[Baseline] {
        &self.combine
    }

    /// The device, in words.
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// Whether the run was trained on this SKU.
    pub fn knows(&self, unique_id: &str) -> bool {
        self.known_skus.contains(unique_id)
    }

    /// SKUs the run was trained on.
    pub fn known_skus(&self) -> impl Iterator<Item = &String> {
        self.known_skus.iter()
    }

    /// The known-future columns the run reads (`event_days`, `price`, `promo`: those it was
    /// trained with).
    pub fn plan_columns(&self) -> Vec<&'static str> {
        let has = |f: &str| self.schema.names.iter().any(|n| n == f);
        [
            (columns::EVENT_DAYS, "event"),
            (columns::PRICE, "rel_price"),
            (columns::PROMO, columns::PROMO),
        ]
        .into_iter()
        .filter(|(_, f)| has(f))
        .map(|(c, _)| c)
        .collect()
    }

    /// Whether the run learned to forecast without a plan (`window.hide_plan` > 0): then a plan
    /// input not given is unknown to it, not "no promotion".
    pub fn forecasts_without_plan(&self) -> bool {
        !self.schema.plan_inputs().is_empty()
    }

    /// Check that `future` starts at `first` (the first forecast week), covers `weeks` weeks and
    /// gives only inputs the run reads.
    pub fn check_future(&self, future: &KnownFuture, first: Week, weeks: usize) -> Result<()> {
        if future.first_week() != first || future.weeks() < weeks {
            return Err(Error::Option(format!(
                "the known future covers {} weeks from {}, the forecast needs {weeks} from {first}",
                future.weeks(),
                future.first_week()
            )));
        }
        let reads = self.plan_columns();
        if let Some(c) = future.given().into_iter().find(|c| !reads.contains(c)) {
            return Err(Error::Option(format!(
                "the known future gives `{c}`, which the run was not trained with (it reads: {})",
                if reads.is_empty() {
                    "none".to_string()
                } else {
                    reads.join(", ")
                }
            )));
        }
        Ok(())
    }

    /// Forecast `horizon` weeks after the last week of `ds` for every series, each routed by
    /// [`route`] with `min_history` and `intermittent_adi` (see [`ForecastOptions`]); network
    /// series go in batches of at most `batch_size`, the batches in parallel, one per core.
    /// The network's forecasts are conditional on `future` where it gives a plan input (see
    /// [`Network::check_future`]).
    pub fn forecast_catalogue(
        &self,
        ds: &WeeklyDataset,
        horizon: Horizon,
        min_history: usize,
        intermittent_adi: f64,
        batch_size: usize,
        future: Option<&KnownFuture>,
    ) -> Result<CatalogueForecast> {
        let t = Instant::now();
        let weeks = horizon.weeks();
        let k = self.levels.len();
        let mut values: Vec<Vec<f64>> = vec![Vec::new(); ds.series.len()];
        let mut routes = Vec::with_capacity(ds.series.len());
        let mut network = Vec::new();
        for (i, s) in ds.series.iter().enumerate() {
            let r = route(&s.y, min_history, intermittent_adi);
            routes.push(r);
            match r {
                Route::Zero => values[i] = vec![0.0; weeks * k],
                Route::New | Route::Intermittent => {
                    let b = Baseline::parse(r.model()).map_err(|e| Error::Option(e.to_string()))?;
                    let fitted = b
                        .fit(&s.y)
                        .map_err(|e| Error::Option(format!("SKU {}: {e}", s.unique_id)))?;
                    values[i] = fitted.predict(horizon, &self.levels);
                }
                // `route` never answers Ensemble: the network's SKUs become it below.
                Route::Network | Route::Ensemble => network.push(i),
            }
        }
        let mut out = CatalogueForecast {
            routes,
            values,
            prepare_seconds: t.elapsed().as_secs_f64(),
            network_seconds: 0.0,
        };
        let (net_values, prepare, net) =
            self.forecast_network(ds, &network, weeks, batch_size, future)?;
        out.prepare_seconds += prepare;
        out.network_seconds = net;
        for (&i, v) in network.iter().zip(net_values) {
            out.values[i] = v;
        }
        if !self.combine.is_empty() {
            let t = Instant::now();
            let combined: Vec<Vec<f64>> = network
                .par_iter()
                .map(|&i| self.combined(&ds.series[i], &out.values[i], horizon))
                .collect::<Result<_>>()?;
            for (&i, v) in network.iter().zip(combined) {
                out.values[i] = v;
                out.routes[i] = Route::Ensemble;
            }
            out.prepare_seconds += t.elapsed().as_secs_f64();
        }
        Ok(out)
    }

    /// The mean of the network's quantiles `net` and those of the combined forecasters fitted
    /// on `s`'s history.
    fn combined(&self, s: &SkuSeries, net: &[f64], horizon: Horizon) -> Result<Vec<f64>> {
        let mut sum = net.to_vec();
        for b in &self.combine {
            let fitted = b
                .fit(&s.y)
                .map_err(|e| Error::Option(format!("SKU {}: {e}", s.unique_id)))?;
            for (total, v) in sum.iter_mut().zip(fitted.predict(horizon, &self.levels)) {
                *total += v;
            }
        }
        let n = (1 + self.combine.len()) as f64;
        Ok(sum.into_iter().map(|v| v / n).collect())
    }

    /// The network's forecast of `weeks` weeks after the last week of `ds` for the series
    /// `skus` (indices into `ds.series`, each with at least `min_context` weeks): `[weeks × levels]`
    /// per series, with the seconds spent preparing and in the network (per core).
    pub fn forecast_network(
        &self,
        ds: &WeeklyDataset,
        skus: &[usize],
        weeks: usize,
        batch_size: usize,
        future: Option<&KnownFuture>,
    ) -> Result<(Vec<Vec<f64>>, f64, f64)> {
        if weeks == 0 || weeks > self.horizon() {
            return Err(Error::Option(format!(
                "horizon {weeks}: the run forecasts 1 to {} weeks (its window.horizon)",
                self.horizon()
            )));
        }
        if let Some(&i) = skus
            .iter()
            .find(|&&i| ds.series[i].y.len() < self.min_context)
        {
            return Err(Error::Option(format!(
                "SKU {}: {} weeks of history, the network needs window.min_context = {}",
                ds.series[i].unique_id,
                ds.series[i].y.len(),
                self.min_context
            )));
        }
        if let Some(f) = future {
            self.check_future(f, ds.last_week.offset(1), weeks)?;
        }
        // Batches run in parallel, one per core: burn's CPU backend computes each operation on
        // one thread here, and a SKU's numbers do not depend on its batch.
        let threads = rayon::current_num_threads().max(1);
        let size = batch_size.max(1).min(skus.len().div_ceil(threads)).max(1);
        let groups: Vec<&[usize]> = skus.chunks(size).collect();
        let results: Vec<Result<(Vec<f32>, f64, f64)>> = groups
            .par_iter()
            .map(|group| self.network_batch(ds, group, future))
            .collect();
        let h_model = self.horizon();
        let k = self.levels.len();
        let mut values = Vec::with_capacity(skus.len());
        let (mut prepare, mut net) = (0.0, 0.0);
        for (group, result) in groups.iter().zip(results) {
            let (out, p, n) = result?;
            prepare += p / threads as f64;
            net += n / threads as f64;
            for row in 0..group.len() {
                values.push(
                    out[row * h_model * k..(row * h_model + weeks) * k]
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect(),
                );
            }
        }
        Ok((values, prepare, net))
    }
}

/// Forecast every SKU of `data` (a weekly dataset) with the run in `run_dir`, writing
/// `unique_id, ds, model, q..` rows to `out` (Parquet or CSV). `progress(rows_read, rows)`
/// is called after each chunk.
pub fn forecast(
    run_dir: &Path,
    data: &Path,
    out: &Path,
    options: &ForecastOptions,
    progress: &mut dyn FnMut(usize, usize, usize),
) -> Result<ForecastSummary> {
    let started = Instant::now();
    if options.batch_size == 0 || options.chunk_rows == 0 {
        return Err(Error::Option(
            "--batch-size and chunk rows must be at least 1".into(),
        ));
    }
    let mut loaded = Network::open(run_dir, options.backend)?;
    loaded.combine_with(parse_members(&options.combine)?);
    let h_model = loaded.horizon();
    let horizon =
        Horizon::new(options.horizon).map_err(|e| Error::Option(format!("--horizon: {e}")))?;
    if horizon.weeks() > h_model {
        return Err(Error::Option(format!(
            "--horizon {}: the run forecasts at most {h_model} weeks (its window.horizon)",
            horizon.weeks()
        )));
    }
    let min_history = options
        .min_history
        .unwrap_or(loaded.min_context.max(8))
        .max(loaded.min_context);
    if !(options.intermittent_adi >= 1.0) {
        return Err(Error::Option(format!(
            "intermittent ADI threshold {}: must be >= 1 (1 = every SKU with a zero week)",
            options.intermittent_adi
        )));
    }

    let mut chunks = WeeklyChunks::open(data, options.chunk_rows)?;
    let last_week = chunks.last_week();
    let first_forecast = last_week.offset(1);
    let future = match &options.future {
        Some(path) => {
            let f = KnownFuture::read(path, first_forecast, horizon.weeks())?;
            loaded
                .check_future(&f, first_forecast, horizon.weeks())
                .map_err(|e| Error::Option(format!("{}: {e}", path.display())))?;
            Some(f)
        }
        None => None,
    };
    let plan = match (&future, loaded.plan_columns().is_empty()) {
        (_, true) => "none: the run reads no events, prices or promotions".to_string(),
        (Some(f), _) => {
            let unread: Vec<&str> = loaded
                .plan_columns()
                .into_iter()
                .filter(|c| !f.has(c))
                .collect();
            let mut text = format!(
                "{} from {}",
                f.given().join(", "),
                options.future.as_deref().unwrap_or(Path::new("")).display()
            );
            if !unread.is_empty() {
                text.push_str(&format!("; {} not given", unread.join(", ")));
            }
            text
        }
        (None, _) if loaded.forecasts_without_plan() => {
            "not given: forecast without a plan (unknown events, prices and promotions)".into()
        }
        (None, _) => "not given: this run assumes the last price and no promotion or event \
                      (it was trained with window.hide_plan = 0); pass --future"
            .into(),
    };
    let levels = loaded.levels.levels().to_vec();
    let mut schema = Schema::default();
    schema.insert(columns::UNIQUE_ID.into(), DataType::String);
    schema.insert(columns::DS.into(), DataType::Date);
    schema.insert(columns::MODEL.into(), DataType::String);
    for &q in &levels {
        schema.insert(columns::quantile_column(q).into(), DataType::Float64);
    }
    let mut writer = BatchWriter::create(out, &schema)?;
    let mut summary = ForecastSummary {
        skus: 0,
        rows: 0,
        by_model: BTreeMap::new(),
        unknown_to_run: 0,
        missing_from_data: 0,
        missing_examples: Vec::new(),
        shard: options.shard.map(|s| format!("{}/{}", s.index, s.count)),
        first_week: first_forecast.to_string(),
        backend: loaded.backend.clone(),
        plan,
        seconds: 0.0,
        skus_per_second: 0.0,
        read_seconds: 0.0,
        prepare_seconds: 0.0,
        network_seconds: 0.0,
        write_seconds: 0.0,
    };
    let mut seen: HashSet<String> = HashSet::new();
    loop {
        let t = Instant::now();
        let Some(mut chunk) = chunks.next_chunk()? else {
            break;
        };
        summary.read_seconds += t.elapsed().as_secs_f64();
        if let Some(shard) = options.shard {
            chunk.series.retain(|s| shard.contains(&s.unique_id));
        }
        for s in &chunk.series {
            if loaded.knows(&s.unique_id) {
                seen.insert(s.unique_id.clone());
            } else {
                summary.unknown_to_run += 1;
            }
        }
        let weeks = horizon.weeks();
        let f = loaded
            .forecast_catalogue(
                &chunk,
                horizon,
                min_history,
                options.intermittent_adi,
                options.batch_size,
                future.as_ref(),
            )
            .map_err(|e| match e {
                Error::Option(m) => Error::Option(format!("{}: {m}", data.display())),
                e => e,
            })?;
        summary.prepare_seconds += f.prepare_seconds;
        summary.network_seconds += f.network_seconds;
        let (routes, values) = (f.routes, f.values);
        let t = Instant::now();
        let mut df = output_frame(
            &chunk.series,
            &routes,
            &values,
            first_forecast,
            weeks,
            &levels,
        )?;
        writer.write(&mut df)?;
        summary.write_seconds += t.elapsed().as_secs_f64();
        summary.skus += chunk.series.len();
        summary.rows += df.height();
        for r in &routes {
            *summary.by_model.entry(r.model().to_string()).or_default() += 1;
        }
        progress(chunks.rows_read(), chunks.rows(), summary.skus);
    }
    let t = Instant::now();
    writer.finish()?;
    summary.write_seconds += t.elapsed().as_secs_f64();
    let mut missing: Vec<&String> = loaded
        .known_skus()
        .filter(|id| !seen.contains(*id))
        .filter(|id| options.shard.is_none_or(|s| s.contains(id)))
        .collect();
    missing.sort();
    summary.missing_from_data = missing.len();
    summary.missing_examples = missing.iter().take(10).map(|s| s.to_string()).collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.skus_per_second = summary.skus as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

impl Network {
    /// Forecast `group` (indices into `chunk.series`) with the network: `[group, horizon, levels]`,
    /// with the seconds spent preparing and in the network.
    fn network_batch(
        &self,
        chunk: &WeeklyDataset,
        group: &[usize],
        future: Option<&KnownFuture>,
    ) -> Result<(Vec<f32>, f64, f64)> {
        let loaded = self;
        let t = Instant::now();
        let cfg = &loaded.model_config;
        let h = cfg.horizon;
        // The group's series extended by the horizon: demand unknown (0, never read as a target);
        // plan inputs (events, prices, promotions) from `future` where it gives them, else
        // unknown (NaN) for a run that learned to forecast without a plan, else the old
        // assumption (last price carried forward, no promotion, no event); other covariates 0.
        // Static attributes in the run's order.
        let unplanned = |last: f64| {
            if loaded.forecasts_without_plan() {
                f64::NAN
            } else {
                last
            }
        };
        let extend = |v: &[f64], planned: Option<&[f64]>, unknown: f64| -> Vec<f64> {
            let mut out = Vec::with_capacity(v.len() + h);
            out.extend_from_slice(v);
            out.extend((0..h).map(|j| planned.and_then(|p| p.get(j).copied()).unwrap_or(unknown)));
            out
        };
        let positions: Vec<Option<usize>> = loaded
            .schema
            .statics
            .iter()
            .map(|v| chunk.statics.iter().position(|n| *n == v.name))
            .collect();
        let series: Vec<SkuSeries> = group
            .iter()
            .map(|&i| -> Result<SkuSeries> {
                let s = &chunk.series[i];
                let mut y = s.y.clone();
                y.resize(s.y.len() + h, 0.0);
                let covariates = s
                    .covariates
                    .iter()
                    .zip(&chunk.covariates)
                    .map(|(v, name)| -> Result<Vec<f64>> {
                        let planned = match future {
                            Some(f) => f.values(&s.unique_id, name)?,
                            None => None,
                        };
                        let unknown = match name.as_str() {
                            columns::PRICE => unplanned(
                                v.iter()
                                    .rev()
                                    .copied()
                                    .find(|x| x.is_finite())
                                    .unwrap_or(f64::NAN),
                            ),
                            columns::PROMO => unplanned(0.0),
                            _ => 0.0,
                        };
                        Ok(extend(v, planned, unknown))
                    })
                    .collect::<Result<_>>()?;
                Ok(SkuSeries {
                    unique_id: s.unique_id.clone(),
                    start: s.start,
                    y,
                    covariates,
                    statics: positions
                        .iter()
                        .map(|p| p.map(|p| s.statics[p].clone()).unwrap_or_default())
                        .collect(),
                })
            })
            .collect::<Result<_>>()?;
        let ext = WeeklyDataset {
            first_week: chunk.first_week,
            last_week: chunk.last_week.offset(h as i64),
            covariates: chunk.covariates.clone(),
            statics: loaded
                .schema
                .statics
                .iter()
                .map(|v| v.name.clone())
                .collect(),
            event_days: chunk.event_days.as_ref().map(|e| {
                let weeks = (chunk.first_week.weeks_until(chunk.last_week) + 1).max(0) as usize;
                let mut e = e.clone();
                e.resize(weeks, 0.0);
                extend(&e, future.and_then(|f| f.events()), unplanned(0.0))
            }),
            series,
        };
        let feats = features::build(&ext, &loaded.schema, chunk.last_week);
        let spec = WindowSpec::new(cfg.context, h, loaded.min_context)?
            .with_context_scale(loaded.context_scale);
        let windows = Windows::new(&ext, &feats, &loaded.schema, spec, ext.last_week);
        let indices: Vec<usize> = ext
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                windows.index_of(i, s.y.len() - h).ok_or_else(|| {
                    Error::Network(format!(
                        "SKU {}: no window at the forecast origin",
                        s.unique_id
                    ))
                })
            })
            .collect::<Result<_>>()?;
        let mut batch = windows.new_batch(indices.len());
        windows.fill(&indices, &mut batch);
        let prepare = t.elapsed().as_secs_f64();

        let t = Instant::now();
        let n = batch.len;
        let scale = Tensor::<1>::from_data(
            TensorData::new(batch.scale[..n].to_vec(), [n]),
            &loaded.device,
        );
        let mut out: Vec<f32> = loaded
            .model
            .quantiles(batch_input(cfg, &batch, &loaded.device), scale)?
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| Error::Network(format!("{e:?}")))?;
        // Quantile calibration from the run's validation weeks.
        if let Some(c) = &loaded.calibration {
            c.apply(&mut out, &batch.scale[..n], h);
        }
        let net = t.elapsed().as_secs_f64();
        if out.iter().any(|v| !v.is_finite()) {
            return Err(Error::Network(
                "the network returned a non-finite value".into(),
            ));
        }
        Ok((out, prepare, net))
    }
}

/// The forecasters named in `names`, checked.
pub fn parse_members(names: &[String]) -> Result<Vec<Baseline>> {
    names
        .iter()
        .map(|n| {
            Baseline::parse(n.trim()).map_err(|e| {
                Error::Option(format!(
                    "--combine {n:?}: {e} (one of {})",
                    Baseline::NAMES.join(", ")
                ))
            })
        })
        .collect()
}

fn output_frame(
    series: &[SkuSeries],
    routes: &[Route],
    values: &[Vec<f64>],
    first: Week,
    weeks: usize,
    levels: &[f64],
) -> Result<DataFrame> {
    let n = series.len() * weeks;
    let k = levels.len();
    let mut ids: Vec<&str> = Vec::with_capacity(n);
    let mut ds: Vec<i32> = Vec::with_capacity(n);
    let mut model: Vec<&str> = Vec::with_capacity(n);
    let mut q: Vec<Vec<f64>> = vec![Vec::with_capacity(n); k];
    for ((s, r), v) in series.iter().zip(routes).zip(values) {
        for h in 0..weeks {
            ids.push(&s.unique_id);
            ds.push(first.offset(h as i64).day_number());
            model.push(r.model());
            for (j, col) in q.iter_mut().enumerate() {
                col.push(v[h * k + j]);
            }
        }
    }
    let to_err = |e: PolarsError| Error::Network(format!("building the output: {e}"));
    let mut cols = vec![
        Column::new(columns::UNIQUE_ID.into(), ids),
        Column::new(columns::DS.into(), ds)
            .cast(&DataType::Date)
            .map_err(to_err)?,
        Column::new(columns::MODEL.into(), model),
    ];
    for (&level, col) in levels.iter().zip(q) {
        cols.push(Column::new(columns::quantile_column(level).into(), col));
    }
    DataFrame::new(n, cols).map_err(to_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_rules() {
        let smooth: Vec<f64> = (0..60).map(|t| 5.0 + (t % 3) as f64).collect();
        assert_eq!(route(&smooth, 8, 2.0), Route::Network);
        // Short history: a moving average, whatever its pattern.
        assert_eq!(route(&smooth[..5], 8, 2.0), Route::New);
        // Demand one week in four: ADI 4.
        let sparse: Vec<f64> = (0..60)
            .map(|t| if t % 4 == 0 { 3.0 } else { 0.0 })
            .collect();
        assert_eq!(route(&sparse, 8, 2.0), Route::Intermittent);
        assert_eq!(route(&sparse, 8, f64::INFINITY), Route::Network);
        // Sold long ago, nothing in the last 52 weeks.
        let mut dead = vec![4.0; 10];
        dead.extend([0.0; 52]);
        assert_eq!(route(&dead, 8, 2.0), Route::Zero);
    }

    #[test]
    fn shards_partition_and_are_stable() {
        assert_eq!(Shard::parse("1/4").unwrap(), Shard { index: 1, count: 4 });
        for bad in ["4/4", "1", "a/b", "1/0", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        // FNV-1a of "a" is 0xaf63dc4c8601ec8c: a fixed value, so shards never move.
        assert_eq!(shard_of("a", 1 << 16), 0xec8c);
        let ids: Vec<String> = (0..1000).map(|i| format!("SKU_{i}")).collect();
        let mut counts = [0usize; 4];
        for id in &ids {
            let owners: Vec<usize> = (0..4)
                .filter(|&i| Shard { index: i, count: 4 }.contains(id))
                .collect();
            assert_eq!(owners.len(), 1);
            counts[owners[0]] += 1;
        }
        assert!(counts.iter().all(|&c| c > 200), "{counts:?}");
    }
}
