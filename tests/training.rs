//! Training runs end to end on a small synthetic catalogue: files of a run, evaluation against
//! the baselines, exact resume after an interruption, determinism, and the wgpu path.

use std::path::Path;

use burn::prelude::*;
use restock_train::config::BackendKind;
use restock_train::run::RunState;
use restock_train::trainer::batch_input;
use restock_train::weights::load_model;
use restock_train::{Prepared, RunDir, SessionOptions, Silent, TrainConfig};

pub(crate) fn config(epochs: usize) -> TrainConfig {
    let text = format!(
        r#"
name = "t"
seed = 11
[data]
weekly = "unused.parquet"
test_weeks = 4
valid_weeks = 4
min_history = 12
[window]
context = 12
horizon = 4
min_context = 4
windows_per_epoch = 512
[model]
hidden = 12
embedding_dim = 2
decoder_hidden = 12
horizon_embedding = 2
dropout = 0.1
[optim]
learning_rate = 5e-3
min_learning_rate = 5e-4
warmup_steps = 2
batch_size = 64
epochs = {epochs}
patience = 0
[backend]
kind = "cpu"
"#
    );
    TrainConfig::parse(&text, Path::new("test.toml")).expect("valid config")
}

pub(crate) fn prepared(dir: &Path, config: &TrainConfig) -> Prepared {
    let ds = restock_tests::synthetic_weekly(dir, 40, 60);
    Prepared::new(config, ds).expect("prepared")
}

#[test]
fn a_run_trains_checkpoints_and_beats_nothing_silently() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(3);
    let data = prepared(&dir.path().join("data"), &cfg);
    let run = RunDir::create(&dir.path().join("run"), false).unwrap();
    let summary =
        restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent).unwrap();
    assert_eq!(summary.epochs, 3);
    assert!(summary.best_valid_loss.is_finite());
    for f in [
        "config.toml",
        "model.json",
        "schema.json",
        "scalers.json",
        "model.bpk",
        "state.json",
        "metrics.csv",
        "summary.json",
        "checkpoint/model-3.bpk",
        "checkpoint/optim-3.bpk",
    ] {
        assert!(run.file(f).is_file(), "{f} missing");
    }
    // Only the last checkpoint is kept.
    assert!(!run.file("checkpoint/model-2.bpk").exists());
    let metrics = std::fs::read_to_string(run.file("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 4, "{metrics}");
    let state: RunState = run.read_json("state.json").unwrap();
    // Learning happened: the last epoch's training loss is below the first's.
    assert!(
        state.history[2].train_loss < state.history[0].train_loss,
        "{:?}",
        state.history
    );
    // The stored config reads back as the one used.
    assert_eq!(run.config().unwrap(), cfg);

    let eval = restock_train::evaluate(&run, &data, 256).unwrap();
    let names: Vec<&str> = eval.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(
        names,
        [
            "lstm",
            "lstm_no_plan",
            "naive",
            "seasonal_naive",
            "moving_average",
            "croston",
            "tsb",
            "auto_ets",
            "auto_arima"
        ]
    );
    assert!(eval.series > 0 && eval.weeks == 4);
    for m in &eval.models {
        let a = &m.accuracy;
        assert_eq!(a.series, eval.series);
        assert!(a.wape.is_finite() && a.wape >= 0.0, "{m:?}");
        assert!((0.0..=1.0).contains(&a.coverage), "{m:?}");
    }
    assert!(run.file("evaluation.json").is_file());

    // An existing run is never replaced without force, and force replaces it.
    assert!(RunDir::create(run.path(), false).is_err());
    RunDir::create(run.path(), true).unwrap();
    assert!(!run.file("model.bpk").exists());
}

#[test]
fn an_interrupted_run_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(3);
    let data = prepared(&dir.path().join("data"), &cfg);

    let full = RunDir::create(&dir.path().join("full"), false).unwrap();
    restock_train::train(&cfg, &full, &data, &SessionOptions::default(), &mut Silent).unwrap();

    let cut = RunDir::create(&dir.path().join("cut"), false).unwrap();
    let stop = SessionOptions {
        stop_after_epoch: Some(1),
        ..SessionOptions::default()
    };
    let partial = restock_train::train(&cfg, &cut, &data, &stop, &mut Silent).unwrap();
    assert_eq!(partial.epochs, 1);
    assert!(partial.stop_reason.contains("interrupted"));
    // A new process would load the data again.
    let again = Prepared::new(&cfg, data.dataset.clone()).unwrap();
    let resumed =
        restock_train::resume(&cut, &again, &SessionOptions::default(), &mut Silent).unwrap();
    assert_eq!(resumed.epochs, 3);

    let a: RunState = full.read_json("state.json").unwrap();
    let b: RunState = cut.read_json("state.json").unwrap();
    let losses = |s: &RunState| {
        s.history
            .iter()
            .map(|m| (m.train_loss, m.valid_loss))
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&a), losses(&b));
    // The same weights: bit-identical forecasts (the files differ only in random parameter ids).
    let forecast = |run: &RunDir| -> Vec<f32> {
        let mc = run.model_config().unwrap();
        let device = Device::flex();
        let model = load_model(&mc, run.read("model.bpk").unwrap(), &device).unwrap();
        let windows = data.train_windows();
        let mut batch = windows.new_batch(64);
        windows.fill(&(0..64).collect::<Vec<_>>(), &mut batch);
        model
            .forward(batch_input(&mc, &batch, &device))
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert!(
        forecast(&full) == forecast(&cut),
        "resumed weights differ from the uninterrupted run's"
    );
    // Same config and seed: the same evaluation.
    let ea = restock_train::evaluate(&full, &data, 64).unwrap();
    let eb = restock_train::evaluate(&cut, &again, 64).unwrap();
    assert_eq!(ea, eb);

    // Resuming a run that has not finished an epoch is a clear error.
    let empty = RunDir::create(&dir.path().join("empty"), false).unwrap();
    full.config().unwrap();
    std::fs::copy(full.file("config.toml"), empty.file("config.toml")).unwrap();
    std::fs::copy(full.file("model.json"), empty.file("model.json")).unwrap();
    let err = restock_train::resume(&empty, &data, &SessionOptions::default(), &mut Silent)
        .expect_err("nothing to resume");
    assert!(err.to_string().contains("state.json"), "{err}");
}

/// Data parallelism on the CPU: a batch split across three threads takes the step one thread
/// takes (its parts' gradients add up to the batch's; dropout masks drawn for the whole batch),
/// up to the order of floating-point sums, and runs with the same thread count are identical.
#[test]
fn threads_split_the_batch_without_changing_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(2);
    let data = prepared(&dir.path().join("data"), &cfg);
    let mut run = |threads: usize, name: &str| -> (RunState, String) {
        cfg.optim.threads = threads;
        let run = RunDir::create(&dir.path().join(name), false).unwrap();
        let summary =
            restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent)
                .unwrap();
        (run.read_json("state.json").unwrap(), summary.backend)
    };
    let (one, backend_one) = run(1, "one");
    let (three, backend_three) = run(3, "three");
    let (again, _) = run(3, "again");
    assert_eq!(backend_one, "cpu (flex)");
    assert_eq!(backend_three, "cpu (flex), 3 threads");
    let losses = |s: &RunState| {
        s.history
            .iter()
            .flat_map(|m| [m.train_loss, m.valid_loss])
            .collect::<Vec<_>>()
    };
    assert_eq!(losses(&three), losses(&again), "not reproducible");
    for (a, b) in losses(&one).into_iter().zip(losses(&three)) {
        assert!(
            (a - b).abs() <= 1e-4 * a.abs(),
            "1 thread {a} vs 3 threads {b}"
        );
    }
}

#[test]
fn too_little_data_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1);
    cfg.window.min_context = 40;
    cfg.window.context = 40;
    let ds = restock_tests::synthetic_weekly(dir.path(), 5, 30);
    let err = Prepared::new(&cfg, ds).expect_err("30 weeks cannot hold 4 + 4 + 40 + 4");
    let msg = err.to_string();
    assert!(
        msg.contains("30 weeks") && msg.contains("window.min_context"),
        "{msg}"
    );
}

/// The wgpu backend (a GPU, or lavapipe's software Vulkan in CI) trains an epoch and computes
/// the same forecasts as the CPU backend from the same weights.
#[test]
fn wgpu_backend_trains_and_matches_the_cpu() {
    let selected = match restock_train::backend::select(BackendKind::Wgpu, 0) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("SKIPPED wgpu_backend_trains_and_matches_the_cpu: {e}");
            return;
        }
    };
    eprintln!("wgpu test on {}", selected.description);
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1);
    cfg.backend.kind = BackendKind::Wgpu;
    cfg.window.windows_per_epoch = 128;
    // The GPU's own batch: four steps of 32 instead of two of the config's 64.
    cfg.optim.gpu_batch_size = 32;
    let data = prepared(&dir.path().join("data"), &cfg);
    let run = RunDir::create(&dir.path().join("run"), false).unwrap();
    let summary =
        restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent).unwrap();
    assert!(summary.backend.starts_with("wgpu"), "{}", summary.backend);
    assert!(
        summary.backend.contains("batches of 32 on the GPU"),
        "{}",
        summary.backend
    );
    let state = run.state().unwrap().expect("a state");
    assert_eq!(state.steps, 4, "128 windows in batches of 32");
    assert!(summary.best_valid_loss.is_finite());

    // The same weights on both devices give the same quantiles.
    let model_config = run.model_config().unwrap();
    let bytes = run.read("model.bpk").unwrap();
    let cpu = Device::flex();
    let on_cpu = load_model(&model_config, bytes.clone(), &cpu).unwrap();
    let on_gpu = load_model(&model_config, bytes, &selected.device).unwrap();
    let windows = data.train_windows();
    let mut batch = windows.new_batch(32);
    let indices: Vec<usize> = (0..32).collect();
    windows.fill(&indices, &mut batch);
    let a: Vec<f32> = on_cpu
        .forward(batch_input(&model_config, &batch, &cpu))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let b: Vec<f32> = on_gpu
        .forward(batch_input(&model_config, &batch, &selected.device))
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-3, "cpu and wgpu differ by {worst}");
}

/// On a GPU (lavapipe in CI) the trees are fitted beside the network, on another thread: the
/// run has them, the same trees as fitted after the network with the same LightGBM threads.
/// On the CPU they are fitted after it, and not at all for an interrupted run.
#[test]
fn trees_fitted_beside_a_gpu_network_are_those_fitted_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1);
    cfg.window.windows_per_epoch = 128;
    cfg.optim.threads = 2; // LightGBM's threads in both fits
    let data = prepared(&dir.path().join("data"), &cfg);
    let run = RunDir::create(&dir.path().join("stopped"), false).unwrap();
    let stopped = SessionOptions {
        stop_after_epoch: Some(0),
        ..SessionOptions::default()
    };
    let (_, trees) = restock_train::train_with_trees(&cfg, &run, &data, &stopped, &mut Silent)
        .expect("an interrupted run");
    assert!(trees.is_none(), "{trees:?}");
    assert!(!run.path().join(restock_trees::MODEL_FILE).exists());
    let run = RunDir::create(&dir.path().join("cpu"), false).unwrap();
    let (_, trees) =
        restock_train::train_with_trees(&cfg, &run, &data, &SessionOptions::default(), &mut Silent)
            .expect("a CPU run");
    let trees = trees.expect("fitted after the network");
    assert!(
        matches!(trees.fit, restock_train::TreeFit::Fitted(_)),
        "{trees:?}"
    );
    assert!(!trees.beside_network);
    let on_cpu = std::fs::read_to_string(run.path().join(restock_trees::MODEL_FILE)).unwrap();

    if let Err(e) = restock_train::backend::select(BackendKind::Wgpu, 0) {
        eprintln!("SKIPPED trees_fitted_beside_a_gpu_network_are_those_fitted_after_it: {e}");
        return;
    }
    cfg.backend.kind = BackendKind::Wgpu;
    let run = RunDir::create(&dir.path().join("gpu"), false).unwrap();
    let (summary, trees) =
        restock_train::train_with_trees(&cfg, &run, &data, &SessionOptions::default(), &mut Silent)
            .expect("a GPU run");
    assert!(summary.backend.starts_with("wgpu"), "{}", summary.backend);
    let trees = trees.expect("fitted beside the network");
    assert!(
        matches!(trees.fit, restock_train::TreeFit::Fitted(_)),
        "{trees:?}"
    );
    assert!(trees.beside_network);
    let beside = std::fs::read_to_string(run.path().join(restock_trees::MODEL_FILE)).unwrap();
    restock_train::fit_trees(&run, &data).expect("fitted again");
    let after = std::fs::read_to_string(run.path().join(restock_trees::MODEL_FILE)).unwrap();
    assert_eq!(beside, after, "the trees fitted beside the network differ");
    // The trees do not depend on the network: the CPU run's are the same.
    assert_eq!(beside, on_cpu);
}

#[test]
fn a_run_from_before_the_plan_flags_reads_as_trained() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1);
    cfg.window.hide_plan = 0.0;
    let data = prepared(&dir.path().join("data"), &cfg);
    let run = RunDir::create(&dir.path().join("run"), false).unwrap();
    restock_train::train(&cfg, &run, &data, &SessionOptions::default(), &mut Silent).unwrap();
    // Its config.toml as runs wrote it before `hide_plan`, `scale` and `loss_weight` existed:
    // the keys are absent (this run was trained with their old defaults).
    let text = std::fs::read_to_string(run.file("config.toml")).unwrap();
    assert!(text.contains("scale = \"context\"") && text.contains("loss_weight = \"sqrt_scale\""));
    let old: String = text
        .lines()
        .filter(|l| {
            !l.starts_with("hide_plan") && !l.starts_with("scale") && !l.starts_with("loss_weight")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    std::fs::write(run.file("config.toml"), old).unwrap();
    // It reads with the old defaults (hide_plan = 0, history scale, scale weights), not the new
    // ones: a run written before them was trained that way.
    let back = run.config().unwrap();
    assert_eq!(back.window.hide_plan, 0.0);
    assert_eq!(back.window.scale, restock_train::config::ScaleMode::History);
    assert_eq!(back.model.loss_weight, restock_model::LossWeight::Scale);
    // The other way round, the context scale it was trained with, to rebuild the same inputs.
    let mut back = back;
    back.window.scale = cfg.window.scale;
    let again = Prepared::new(&back, data.dataset.clone()).unwrap();
    assert_eq!(again.schema, run.schema().unwrap());
    restock_train::calibrate(&run, &again, 64).unwrap();
    let eval = restock_train::evaluate(&run, &again, 64).unwrap();
    assert!(eval.models.iter().all(|m| m.model != "lstm_no_plan"));
}
