//! The training loop: AdamW, warm-up + cosine learning rate, early stopping, a checkpoint every
//! epoch, and exact resume. This module runs sessions (a new run, a resumed one, a warm start)
//! epoch after epoch; one epoch's steps and record are [`crate::epoch`]'s.
//!
//! Reproducibility: the weights are initialised after seeding the device with the run's seed;
//! each epoch reseeds the device (dropout) and draws its window order from its own generator,
//! both derived from `(seed, epoch)`. Together with the optimiser state in the checkpoint, an
//! interrupted run resumed from its last finished epoch takes exactly the steps an uninterrupted
//! one would (on the CPU backend, whose kernels are deterministic).
//!
//! This is a hand-written loop rather than burn-train's `Learner`, as in burn's own
//! `modern-lstm` example: windows are filled batch by batch into reused buffers (never a
//! materialised dataset), the checkpoint must carry restock's own state (early-stopping counter,
//! history) atomically, and the progress display belongs to the CLI.

use std::path::Path;
use std::time::Instant;

use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use burn::tensor::Bytes;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use restock_data::windows::WindowBatch;
use restock_model::{DemandModel, DemandModelConfig, ModelInput};

use crate::backend::{self, Selected};
use crate::config::TrainConfig;
pub use crate::epoch::learning_rate;
use crate::epoch::{EpochSteps, epoch_seed, optimizer, record_epoch};
pub use crate::observer::{Observer, Silent};
use crate::prepare::Prepared;
use crate::run::{EpochMetrics, RunDir, RunState, RunSummary, SkuScale};
use crate::validation::validation_loss;
use crate::weights::load_model_unlocked;
use crate::{Error, Result};

/// Options of one training session.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// End this session after this many epochs in total (an interruption, for tests); the run
    /// stays resumable.
    pub stop_after_epoch: Option<usize>,
    /// Start a new run from these weights (a finished run's `model.bpk`) instead of fresh
    /// ones: a warm start, e.g. the weekly job fine-tuning last week's model on the new weeks.
    /// The network's shape must be the same ([`crate::warm_start_problem`]).
    pub warm_start: Option<std::path::PathBuf>,
}

/// Start a new run in `run` (created by the caller with [`RunDir::create`]).
pub fn train(
    config: &TrainConfig,
    run: &RunDir,
    prepared: &Prepared,
    options: &SessionOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let model_config = start_run(config, run, prepared)?;
    session(
        config,
        &model_config,
        run,
        prepared,
        None,
        options,
        observer,
    )
}

/// The trees of a run trained by [`train_with_trees`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunTrees {
    /// How the fit came out.
    pub fit: crate::TreeFit,
    /// Whether they were fitted beside the network, on another thread (a GPU trained it).
    pub beside_network: bool,
}

/// [`train`], then the run's trees ([`crate::fit_trees`]; `None` when training was interrupted
/// before they were fitted: a resumed run fits them when it finishes).
///
/// When the network trains on a GPU the trees are fitted beside it, on another thread, with
/// `optim.threads` LightGBM threads or, at 0, one fewer than the cores (the one left dispatches
/// the GPU's work): the CPU idles while a GPU trains, and on one H200 machine the trees were
/// 8.5 s of a 35 s M5 run, after 24 s of network. On the CPU the two take turns, since both use
/// every core. The trees depend on the run's config, its network's shape and the data, not on
/// the network's weights, so the two orders give the same trees for the same thread counts.
pub fn train_with_trees(
    config: &TrainConfig,
    run: &RunDir,
    prepared: &Prepared,
    options: &SessionOptions,
    observer: &mut dyn Observer,
) -> Result<(RunSummary, Option<RunTrees>)> {
    let model_config = start_run(config, run, prepared)?;
    let network = |observer: &mut dyn Observer| {
        session(
            config,
            &model_config,
            run,
            prepared,
            None,
            options,
            observer,
        )
    };
    let on_gpu = backend::select(config.backend.kind, config.backend.device)?.is_wgpu;
    if !on_gpu || !config.trees.enabled {
        let summary = network(observer)?;
        // An interrupted run fits its trees when it is resumed and finishes.
        let finished = run.state()?.is_some_and(|s| s.finished);
        let trees = if finished {
            Some(RunTrees {
                fit: crate::fit_trees(run, prepared)?,
                beside_network: false,
            })
        } else {
            None
        };
        return Ok((summary, trees));
    }
    let threads = match config.optim.threads {
        0 => rayon::current_num_threads().saturating_sub(1).max(1),
        n => n,
    };
    std::thread::scope(|scope| {
        let trees = scope.spawn(|| crate::trees::fit_trees_on(run, prepared, Some(threads)));
        let summary = network(observer);
        let trees = trees.join().unwrap_or_else(|_| {
            Err(Error::Trees(restock_trees::Error::Data(
                "the thread fitting the trees panicked".into(),
            )))
        });
        // A training error first: the trees are of no use without the network.
        let trees = RunTrees {
            fit: trees?,
            beside_network: true,
        };
        Ok((summary?, Some(trees)))
    })
}

/// Write a new run's config, network shape, schema and scalers; the network's shape.
fn start_run(config: &TrainConfig, run: &RunDir, prepared: &Prepared) -> Result<DemandModelConfig> {
    run.write("config.toml", config.to_toml().as_bytes())?;
    let model_config = model_config(config, prepared);
    let problems = model_config.problems();
    if !problems.is_empty() {
        return Err(Error::NotEnoughData(problems.join("; ")));
    }
    run.write_json("model.json", &model_config)?;
    run.write_json("schema.json", &prepared.schema)?;
    let scalers: Vec<SkuScale> = prepared
        .dataset
        .series
        .iter()
        .zip(&prepared.features)
        .map(|(s, f)| SkuScale {
            unique_id: s.unique_id.clone(),
            stats: f.scale,
        })
        .collect();
    run.write_json("scalers.json", &scalers)?;
    Ok(model_config)
}

/// Continue an interrupted run from its last finished epoch.
pub fn resume(
    run: &RunDir,
    prepared: &Prepared,
    options: &SessionOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let config = run.config()?;
    let model_config = run.model_config()?;
    let expected = crate::trainer::model_config(&config, prepared);
    if expected != model_config {
        return Err(Error::RunDir {
            path: run.path().to_path_buf(),
            problem: "the data no longer gives the network's recorded shape (features or static vocabularies changed); start a new run".into(),
        });
    }
    let state = run.state()?.ok_or_else(|| Error::RunDir {
        path: run.path().to_path_buf(),
        problem:
            "no finished epoch to resume from (state.json is missing); start it again with --force"
                .into(),
    })?;
    session(
        &config,
        &model_config,
        run,
        prepared,
        Some(state),
        options,
        observer,
    )
}

/// The network shape a config gives on prepared data.
pub fn model_config(config: &TrainConfig, prepared: &Prepared) -> DemandModelConfig {
    let m = &config.model;
    DemandModelConfig {
        context: config.window.context,
        horizon: config.window.horizon,
        past_features: prepared.schema.len(),
        future_features: prepared.schema.known_indices().len(),
        static_cardinalities: prepared
            .schema
            .statics
            .iter()
            .map(|v| v.cardinality())
            .collect(),
        embedding_dim: m.embedding_dim,
        hidden: m.hidden,
        layers: m.layers,
        dropout: m.dropout,
        decoder_hidden: m.decoder_hidden,
        horizon_embedding: m.horizon_embedding,
        quantiles: m.quantiles.clone(),
    }
}

/// Tensors of a filled batch.
pub fn batch_input(config: &DemandModelConfig, b: &WindowBatch, device: &Device) -> ModelInput {
    ModelInput::from_slices(
        config,
        b.len,
        &b.past_y,
        &b.past_mask,
        &b.past_x,
        &b.future_x,
        &b.statics,
        device,
    )
}

pub(crate) fn float1(v: &[f32], device: &Device) -> Tensor<1> {
    Tensor::<1>::from_data(TensorData::new(v.to_vec(), [v.len()]), device)
}

pub(crate) fn float2(v: &[f32], rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::<2>::from_data(
        TensorData::new(v[..rows * cols].to_vec(), [rows, cols]),
        device,
    )
}

/// The network, optimiser and state a session starts from: fresh weights from the run's seed
/// (or the `warm_start` weights), or the last checkpoint of `state`'s run.
fn start_or_resume(
    config: &TrainConfig,
    model_config: &DemandModelConfig,
    run: &RunDir,
    state: Option<RunState>,
    warm_start: Option<&Path>,
    ad: &Device,
    observer: &mut dyn Observer,
) -> Result<(DemandModel, ModuleOptimizer, RunState)> {
    match state {
        None => {
            ad.seed(config.seed);
            let model = match warm_start {
                None => model_config.init(ad),
                Some(path) => {
                    let bytes = std::fs::read(path).map_err(|source| Error::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                    observer.message(&format!("starting from the weights in {}", path.display()));
                    load_model_unlocked(model_config, bytes, ad)?
                }
            };
            let state = RunState {
                epochs_done: 0,
                best_epoch: 0,
                best_valid_loss: f64::INFINITY,
                epochs_without_improvement: 0,
                finished: false,
                stop_reason: None,
                steps: 0,
                train_seconds: 0.0,
                history: Vec::new(),
            };
            Ok((model, optimizer(config), state))
        }
        Some(state) => {
            let e = state.epochs_done;
            let model = load_model_unlocked(
                model_config,
                run.read(&format!("checkpoint/model-{e}.bpk"))?,
                ad,
            )?;
            let optim = optimizer(config)
                .from_bytes(Bytes::from_bytes_vec(
                    run.read(&format!("checkpoint/optim-{e}.bpk"))?,
                ))
                .map_err(|err| Error::RunFile {
                    path: run.file(&format!("checkpoint/optim-{e}.bpk")),
                    message: err.to_string(),
                })?;
            observer.message(&format!(
                "resuming after epoch {e} (best epoch {})",
                state.best_epoch
            ));
            Ok((model, optim, state))
        }
    }
}

/// Windows of a session: training windows, those each epoch draws, validation windows.
#[derive(Debug, Clone, Copy)]
struct WindowCounts {
    train: usize,
    per_epoch: usize,
    valid: usize,
}

/// A clear error when the catalogue leaves no training or no validation window.
fn check_windows(
    config: &TrainConfig,
    prepared: &Prepared,
    train: usize,
    valid: usize,
) -> Result<()> {
    if train == 0 {
        return Err(Error::NotEnoughData(format!(
            "no training window: no SKU has {} weeks (window.min_context + window.horizon) of history up to {}",
            config.window.min_context + config.window.horizon,
            prepared.train_end
        )));
    }
    if valid == 0 {
        return Err(Error::NotEnoughData(format!(
            "no validation window: no SKU has window.min_context = {} weeks of history before {}",
            config.window.min_context, prepared.train_end
        )));
    }
    Ok(())
}

/// The run's `summary.json` after a session: its epochs, best loss, speed and weeks.
fn summarize(
    config: &TrainConfig,
    prepared: &Prepared,
    state: &RunState,
    description: String,
    counts: WindowCounts,
    parameters: usize,
) -> RunSummary {
    let epochs = state.history.len();
    let to_best: f64 = state.history[..state.best_epoch.min(epochs)]
        .iter()
        .map(|m| m.seconds)
        .sum();
    RunSummary {
        name: config.name.clone(),
        backend: description,
        best_valid_loss: state.best_valid_loss,
        best_epoch: state.best_epoch,
        epochs,
        stop_reason: state
            .stop_reason
            .clone()
            .unwrap_or_else(|| format!("interrupted after epoch {}; resumable", state.epochs_done)),
        train_windows: counts.train,
        windows_per_epoch: counts.per_epoch,
        valid_windows: counts.valid,
        skus: prepared.dataset.series.len(),
        parameters,
        train_end: Some(prepared.train_end.to_string()),
        valid_end: Some(prepared.valid_end.to_string()),
        train_seconds: state.train_seconds,
        seconds_per_epoch: state.train_seconds / epochs.max(1) as f64,
        windows_per_second: if epochs == 0 {
            0.0
        } else {
            state
                .history
                .iter()
                .map(|m| m.windows_per_second)
                .sum::<f64>()
                / epochs as f64
        },
        seconds_to_best_epoch: to_best,
    }
}

/// burn's random streams (weight initialisation, dropout) are seeded per backend, not per model,
/// and may be process-global: sessions in one process take turns so each sees only its seeds.
pub(crate) static SESSION: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn session(
    config: &TrainConfig,
    model_config: &DemandModelConfig,
    run: &RunDir,
    prepared: &Prepared,
    state: Option<RunState>,
    options: &SessionOptions,
    observer: &mut dyn Observer,
) -> Result<RunSummary> {
    let _turn = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    let Selected {
        device,
        description,
        is_wgpu,
    } = backend::select(config.backend.kind, config.backend.device)?;
    // A GPU takes whole batches, of its own size when the config gives one; on the CPU each
    // batch is split across threads.
    let (config, gpu_batch) = config.on_device(is_wgpu);
    let config = &*config;
    let threads = match (is_wgpu, config.optim.threads) {
        (true, _) => 1,
        (false, 0) => rayon::current_num_threads().max(1),
        (false, n) => n,
    };
    let description = match (threads > 1, gpu_batch) {
        (true, _) => format!("{description}, {threads} threads"),
        (false, Some(line)) => format!("{description}, {line}"),
        (false, None) => description,
    };
    observer.message(&format!("backend: {description}"));
    let ad = device.clone().autodiff();

    let train_windows = prepared.train_windows();
    let (valid_windows, valid_indices) = prepared.valid_windows();
    check_windows(config, prepared, train_windows.len(), valid_indices.len())?;
    let per_epoch = match config.window.windows_per_epoch {
        0 => train_windows.len(),
        n => n.min(train_windows.len()),
    };
    let batch = config.optim.batch_size;
    let steps_per_epoch = per_epoch.div_ceil(batch);
    let total_steps = steps_per_epoch * config.optim.epochs;
    observer.message(&format!(
        "{} SKUs; {} training windows ({} per epoch, {} steps of {}), {} validation windows; train until {}, validate until {}",
        prepared.dataset.series.len(),
        train_windows.len(),
        per_epoch,
        steps_per_epoch,
        batch,
        valid_indices.len(),
        prepared.train_end,
        prepared.valid_end
    ));

    let (mut model, mut optim, mut state) = start_or_resume(
        config,
        model_config,
        run,
        state,
        options.warm_start.as_deref(),
        &ad,
        observer,
    )?;
    let parameters = model.num_params();

    let mut buffer = train_windows.new_batch(batch);
    let mut order: Vec<usize> = (0..train_windows.len()).collect();
    let weight = config.model.loss_weight;
    let steps = EpochSteps {
        config,
        model_config,
        prepared,
        windows: &train_windows,
        total_steps,
        threads,
        device: &ad,
    };
    while !state.finished {
        if options
            .stop_after_epoch
            .is_some_and(|stop| state.epochs_done >= stop)
        {
            break;
        }
        let epoch = state.epochs_done + 1;
        let started = Instant::now();
        let seed = epoch_seed(config.seed, epoch);
        ad.seed(seed);
        // A fresh permutation of all windows each epoch (from the identity, so it depends on
        // the epoch only, not on earlier epochs).
        order.iter_mut().enumerate().for_each(|(i, v)| *v = i);
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        observer.epoch_start(epoch, config.optim.epochs, steps_per_epoch);
        let (trained, train_loss, lr) = steps.epoch(
            epoch,
            seed,
            &order[..per_epoch],
            &mut buffer,
            model,
            &mut optim,
            &mut state.steps,
            observer,
        )?;
        model = trained;
        let train_seconds = started.elapsed().as_secs_f64();
        let valid_model = model.valid();
        let valid_loss = validation_loss(
            &valid_model,
            model_config,
            &valid_windows,
            &valid_indices,
            (&prepared.plan_inputs, prepared.hide_plan),
            batch.max(1024),
            weight,
            &device,
            !is_wgpu,
        )?;
        let seconds = started.elapsed().as_secs_f64();
        let metrics = EpochMetrics {
            epoch,
            train_loss,
            valid_loss,
            learning_rate: lr,
            seconds,
            windows_per_second: per_epoch as f64 / train_seconds.max(1e-9),
        };
        let best = record_epoch(
            run,
            config,
            &mut state,
            &metrics,
            &model,
            &valid_model,
            &optim,
        )?;
        observer.epoch_end(&metrics, best);
    }

    let counts = WindowCounts {
        train: train_windows.len(),
        per_epoch,
        valid: valid_indices.len(),
    };
    let summary = summarize(config, prepared, &state, description, counts, parameters);
    run.write_json("summary.json", &summary)?;
    Ok(summary)
}
