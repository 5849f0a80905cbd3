//! A training run loaded for forecasting ([`Network`]): routing each SKU ([`route`]) to the
//! network, a statistical fallback or zeros; the network's forecasts with the known future and
//! the run's calibration; and, when asked, their ensemble with statistical forecasters.

use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;

use burn::prelude::*;
use rayon::prelude::*;
use restock_core::{Forecaster, Horizon, Predict, Quantiles, Week, columns};
use restock_data::features::{self, FeatureSchema};
use restock_data::future::KnownFuture;
use restock_data::windows::{WindowBatch, WindowSpec, Windows};
use restock_data::{SkuSeries, WeeklyDataset};
use restock_model::{DemandModel, DemandModelConfig};
use restock_stats::Baseline;
use restock_train::config::BackendKind;
use restock_train::trainer::batch_input;
use restock_train::weights::load_model;
use restock_train::{Calibration, RunDir, backend};
use restock_trees::TreeModel;

use crate::serving::{Member, parse_members};
use crate::{Error, Result, auto};

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
    /// The run's trees alone, where the run serves them without the network ([`Network::serve`]).
    Trees,
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
            Route::Trees => restock_trees::MODEL_NAME,
        }
    }
}

/// SKUs per network batch on the CPU, unless the caller names another size.
pub const CPU_BATCH: usize = 1024;

/// SKUs per network batch on a GPU, unless the caller names another size.
pub const GPU_BATCH: usize = 65_536;

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
    on_gpu: bool,
    known_skus: HashSet<String>,
    calibration: Option<Calibration>,
    combine: Vec<Member>,
    /// Whether the network is in the served mean (false: `combine` alone).
    with_network: bool,
    trees: Option<TreeModel>,
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
        Self::open_for(run_dir, backend, None)
    }

    /// [`Network::open`] for a catalogue of about `skus` SKUs: `auto` then measures whether a
    /// hardware GPU forecasts them sooner than the CPU ([`crate::auto`]); without `skus`, or
    /// with fewer than [`crate::auto::MIN_PROBE_SKUS`], `auto` forecasts on the CPU.
    pub fn open_for(
        run_dir: &Path,
        backend: Option<BackendKind>,
        skus: Option<usize>,
    ) -> Result<Self> {
        let run = RunDir::open(run_dir)?;
        let config = run.config()?;
        let model_config = run.model_config()?;
        let schema = run.schema()?;
        let levels = Quantiles::new(model_config.quantiles.clone())
            .map_err(|e| Error::Option(format!("{}: {e}", run.file("model.json").display())))?;
        let kind = backend.unwrap_or(config.backend.kind);
        let bytes = run.read("model.bpk")?;
        let (selected, model) = match skus {
            Some(n) if kind == BackendKind::Auto && n >= auto::MIN_PROBE_SKUS => {
                choose_by_probe(&model_config, &bytes, config.backend.device, n)?
            }
            _ => {
                let selected =
                    backend::select_for(kind, config.backend.device, backend::Work::Forecasting)?;
                let model = load_model(&model_config, bytes, &selected.device)?;
                (selected, model)
            }
        };
        let known_skus = run.scalers()?.into_iter().map(|s| s.unique_id).collect();
        let calibration = run.calibration()?;
        let (combine, with_network) = match run.serving()? {
            Some(s) => (
                parse_members(&s.combine).map_err(|e| {
                    Error::Option(format!("{}: {e}", run.file("serving.json").display()))
                })?,
                s.network || s.combine.is_empty(),
            ),
            None => (Vec::new(), true),
        };
        let trees = run.trees()?;
        if combine.contains(&Member::Trees) && trees.is_none() {
            return Err(Error::Option(format!(
                "{}: the run serves its trees, but it has no {}",
                run.file("serving.json").display(),
                restock_trees::SPEC_FILE
            )));
        }
        Ok(Network {
            model,
            model_config,
            schema,
            levels,
            min_context: config.window.min_context,
            context_scale: config.window.scale == restock_train::config::ScaleMode::Context,
            device: selected.device,
            backend: selected.description,
            on_gpu: selected.is_wgpu,
            known_skus,
            calibration,
            combine,
            with_network,
            trees,
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
    /// each network SKU's history, so a costly one (`auto_ets`) slows large catalogues. A run
    /// opens with the choice its validation windows made (`serving.json`,
    /// `restock_train::select`), the network alone without one.
    /// The trees (`lightgbm`) are forecast for all the network's SKUs at once; a run without
    /// trees refuses them.
    pub fn combine_with(&mut self, members: Vec<Member>) -> Result<()> {
        self.serve(members, true)
    }

    /// Serve the network's SKUs with the mean of `members`, with the network in it or not
    /// (`with_network` false: route [`Route::Trees`] for the trees alone, else
    /// [`Route::Ensemble`]; the network is not run for those SKUs). Without members: the
    /// network alone, whatever `with_network` says.
    pub fn serve(&mut self, members: Vec<Member>, with_network: bool) -> Result<()> {
        if members.contains(&Member::Trees) && self.trees.is_none() {
            return Err(Error::Option(format!(
                "--combine {}: this run has no trees (train it with [trees] enabled, or run \
                 `restock calibrate` on it)",
                restock_trees::MODEL_NAME
            )));
        }
        self.with_network = with_network || members.is_empty();
        self.combine = members;
        Ok(())
    }

    /// Whether the network is in what the network's SKUs are served.
    pub fn serves_network(&self) -> bool {
        self.with_network
    }

    /// The forecasters combined with the network.
    pub fn combination(&self) -> &[Member] {
        &self.combine
    }

    /// The run's gradient-boosted trees, if it has them.
    pub fn trees(&self) -> Option<&TreeModel> {
        self.trees.as_ref()
    }

    /// SKUs per network batch when the caller names none: [`CPU_BATCH`] on the CPU (batches
    /// run one per core), [`GPU_BATCH`] on a GPU (one batch at a time, as wide as the device can
    /// take).
    pub fn default_batch_size(&self) -> usize {
        if self.on_gpu { GPU_BATCH } else { CPU_BATCH }
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
    /// [`route`] with `min_history` and `intermittent_adi` (see [`crate::ForecastOptions`]); network
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
                // `route` never answers Ensemble or Trees: the network's SKUs become them below.
                Route::Network | Route::Ensemble | Route::Trees => network.push(i),
            }
        }
        let mut out = CatalogueForecast {
            routes,
            values,
            prepare_seconds: t.elapsed().as_secs_f64(),
            network_seconds: 0.0,
        };
        if self.with_network {
            let (net_values, prepare, net) =
                self.forecast_network(ds, &network, weeks, batch_size, future)?;
            out.prepare_seconds += prepare;
            out.network_seconds = net;
            for (&i, v) in network.iter().zip(net_values) {
                out.values[i] = v;
            }
        }
        if !self.combine.is_empty() {
            let t = Instant::now();
            let trees: Vec<Option<Vec<f64>>> = match &self.trees {
                Some(model) if self.combine.contains(&Member::Trees) => model
                    .forecast(ds, &network, weeks, future)?
                    .into_iter()
                    .map(Some)
                    .collect(),
                _ => vec![None; network.len()],
            };
            let combined: Vec<Vec<f64>> = network
                .par_iter()
                .zip(&trees)
                .map(|(&i, tree)| {
                    self.combined(&ds.series[i], &out.values[i], tree.as_deref(), horizon)
                })
                .collect::<Result<_>>()?;
            let served = if !self.with_network && self.combine == [Member::Trees] {
                Route::Trees
            } else {
                Route::Ensemble
            };
            for (&i, v) in network.iter().zip(combined) {
                out.values[i] = v;
                out.routes[i] = served;
            }
            out.prepare_seconds += t.elapsed().as_secs_f64();
        }
        Ok(out)
    }

    /// The mean of the network's quantiles `net` and those of the combined forecasters: the
    /// statistical ones fitted on `s`'s history, the trees' forecast `tree`.
    fn combined(
        &self,
        s: &SkuSeries,
        net: &[f64],
        tree: Option<&[f64]>,
        horizon: Horizon,
    ) -> Result<Vec<f64>> {
        // Without the network, `net` is empty: the members alone.
        let mut sum = if self.with_network {
            net.to_vec()
        } else {
            vec![0.0; horizon.weeks() * self.levels.len()]
        };
        for member in &self.combine {
            let values = match member {
                Member::Stat(b) => b
                    .fit(&s.y)
                    .map_err(|e| Error::Option(format!("SKU {}: {e}", s.unique_id)))?
                    .predict(horizon, &self.levels),
                Member::Trees => tree
                    .ok_or_else(|| Error::Option("the trees gave no forecast".into()))?
                    .to_vec(),
            };
            for (total, v) in sum.iter_mut().zip(values) {
                *total += v;
            }
        }
        let n = (usize::from(self.with_network) + self.combine.len()) as f64;
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
        let threads = rayon::current_num_threads().max(1);
        let size = if self.on_gpu {
            batch_size.max(1)
        } else {
            batch_size.max(1).min(skus.len().div_ceil(threads)).max(1)
        };
        let groups: Vec<&[usize]> = skus.chunks(size).collect();
        // Each group's output with its share of the preparing and network seconds.
        let results: Vec<Result<(Vec<f32>, f64, f64)>> = if self.on_gpu {
            self.in_turns(ds, &groups, future, threads)
        } else {
            // Batches in parallel, one per core: burn's CPU backend computes each operation
            // on one thread here, and a SKU's numbers do not depend on its batch.
            groups
                .par_iter()
                .map(|group| {
                    let (batch, prepare) = self.prepare_batch(ds, group, future)?;
                    let (out, net) = self.run_batch(&batch)?;
                    Ok((out, prepare / threads as f64, net / threads as f64))
                })
                .collect()
        };
        let h_model = self.horizon();
        let k = self.levels.len();
        let mut values = Vec::with_capacity(skus.len());
        let (mut prepare, mut net) = (0.0, 0.0);
        for (group, result) in groups.iter().zip(results) {
            let (out, p, n) = result?;
            prepare += p;
            net += n;
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

impl Network {
    /// The network's input for `group` (indices into `chunk.series`) at the forecast origin, with
    /// the seconds spent building it.
    fn prepare_batch(
        &self,
        chunk: &WeeklyDataset,
        group: &[usize],
        future: Option<&KnownFuture>,
    ) -> Result<(WindowBatch, f64)> {
        let loaded = self;
        let t = Instant::now();
        let cfg = &loaded.model_config;
        let h = cfg.horizon;
        // The group's series extended by the horizon: demand unknown (0, never read as a target);
        // plan inputs (events, prices, promotions) from `future` where it gives them, else
        // unknown (NaN) for a run that learned to forecast without a plan, else the old
        // assumption (last price carried forward, no promotion, no event); other covariates 0.
        // Static attributes in the run's order.
        let without_plan = loaded.forecasts_without_plan();
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
                            columns::PRICE | columns::PROMO if without_plan => f64::NAN,
                            columns::PRICE => v
                                .iter()
                                .rev()
                                .copied()
                                .find(|x| x.is_finite())
                                .unwrap_or(f64::NAN),
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
                let unknown = if without_plan { f64::NAN } else { 0.0 };
                extend(&e, future.and_then(|f| f.events()), unknown)
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
        Ok((batch, t.elapsed().as_secs_f64()))
    }

    /// On a GPU: the groups take turns on the device, each prepared on all cores while the
    /// one before it runs, so the device does not wait for the host. Seconds are wall seconds.
    fn in_turns(
        &self,
        ds: &WeeklyDataset,
        groups: &[&[usize]],
        future: Option<&KnownFuture>,
        threads: usize,
    ) -> Vec<Result<(Vec<f32>, f64, f64)>> {
        let prepare = |i: usize| {
            groups
                .get(i)
                .map(|g| self.prepare_parallel(ds, g, future, threads))
        };
        let mut results = Vec::with_capacity(groups.len());
        let mut next = prepare(0);
        for i in 0..groups.len() {
            let (batch, prepare_seconds) = match next.take() {
                Some(Ok(prepared)) => prepared,
                Some(Err(e)) => {
                    results.push(Err(e));
                    break;
                }
                None => break,
            };
            let (ran, after) = rayon::join(|| self.run_batch(&batch), || prepare(i + 1));
            next = after;
            let failed = ran.is_err();
            results.push(ran.map(|(out, net)| (out, prepare_seconds, net)));
            if failed {
                break;
            }
        }
        results
    }

    /// [`Network::prepare_batch`] on `threads` parts of `group` at once, joined: the batch and
    /// the wall seconds.
    fn prepare_parallel(
        &self,
        ds: &WeeklyDataset,
        group: &[usize],
        future: Option<&KnownFuture>,
        threads: usize,
    ) -> Result<(WindowBatch, f64)> {
        let t = Instant::now();
        let parts = group
            .par_chunks(group.len().div_ceil(threads).max(1))
            .map(|part| self.prepare_batch(ds, part, future).map(|(b, _)| b))
            .collect::<Result<Vec<_>>>()?;
        Ok((WindowBatch::concat(parts), t.elapsed().as_secs_f64()))
    }

    /// Forecast a prepared batch with the network: `[batch, horizon, levels]` in units,
    /// calibrated, with the seconds spent.
    fn run_batch(&self, batch: &WindowBatch) -> Result<(Vec<f32>, f64)> {
        let loaded = self;
        let cfg = &loaded.model_config;
        let h = cfg.horizon;
        let t = Instant::now();
        let n = batch.len;
        let scale = Tensor::<1>::from_data(
            TensorData::new(batch.scale[..n].to_vec(), [n]),
            &loaded.device,
        );
        let mut out: Vec<f32> = loaded
            .model
            .quantiles(batch_input(cfg, batch, &loaded.device), scale)?
            .try_into_data()
            .map_err(|e| {
                Error::Network(format!(
                    "the device failed on a batch of {n} SKUs ({e}); a smaller --batch-size may fit"
                ))
            })?
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
        Ok((out, net))
    }
}

/// `auto` for a catalogue of `skus`: the CPU unless a hardware GPU exists and its probe
/// forecasts the catalogue sooner; the device and the network loaded on it.
fn choose_by_probe(
    model_config: &DemandModelConfig,
    bytes: &[u8],
    index: usize,
    skus: usize,
) -> Result<(backend::Selected, DemandModel)> {
    let cpu_device = Device::flex();
    let cpu_model = load_model(model_config, bytes.to_vec(), &cpu_device)?;
    let cpu = backend::Selected {
        device: cpu_device,
        description: "cpu (flex)".into(),
        is_wgpu: false,
    };
    let lanes = rayon::current_num_threads().max(1);
    let on_cpu = auto::probe(
        &cpu_model,
        model_config,
        &cpu.device,
        (auto::CPU_WARMUP_BATCH, auto::CPU_PROBE_BATCH),
        lanes,
    )?;
    if let Some(why) = auto::cpu_is_sooner_than_gpu_start(&on_cpu, skus) {
        let description = format!("{} — {why}", cpu.description);
        return Ok((backend::Selected { description, ..cpu }, cpu_model));
    }
    let gpu = backend::select(BackendKind::Auto, index)?;
    if !gpu.is_wgpu {
        // `select` said why (no hardware GPU adapter).
        return Ok((gpu, cpu_model));
    }
    let gpu_model = load_model(model_config, bytes.to_vec(), &gpu.device)?;
    let batch = skus.min(auto::GPU_PROBE_BATCH);
    let on_gpu = auto::probe(&gpu_model, model_config, &gpu.device, (batch, batch), 1)?;
    let (gpu_wins, why) = auto::prefer_gpu(&on_cpu, &on_gpu, skus);
    Ok(if gpu_wins {
        let description = format!("{} — {why}", gpu.description);
        (backend::Selected { description, ..gpu }, gpu_model)
    } else {
        let description = format!("{} — {why}", cpu.description);
        (backend::Selected { description, ..cpu }, cpu_model)
    })
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
}
