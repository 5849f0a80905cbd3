//! A run's weights: serialised after each epoch, loaded into a freshly built network, and the
//! check that a run's weights fit the network another config would build (warm starts).

use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;
use restock_model::{DemandModel, DemandModelConfig};

use crate::backend;
use crate::config::TrainConfig;
use crate::prepare::Prepared;
use crate::run::RunDir;
use crate::trainer::{SESSION, model_config};
use crate::{Error, Result};

/// The weights of `model` as bytes (`model.bpk`, the checkpoint's).
pub(crate) fn save_model(model: &DemandModel) -> Result<Vec<u8>> {
    model
        .clone()
        .into_record()
        .into_bytes()
        .map(|b| b.to_vec())
        .map_err(|e| Error::Evaluation(format!("cannot serialise the weights: {e}")))
}

/// Load weights saved by a run into a freshly built network on `device`.
///
/// Building the network draws initial weights from burn's random stream, so this waits for any
/// training session of this process to finish (see `trainer::SESSION`).
pub fn load_model(
    config: &DemandModelConfig,
    bytes: Vec<u8>,
    device: &Device,
) -> Result<DemandModel> {
    let _turn = SESSION.lock().unwrap_or_else(|e| e.into_inner());
    load_model_unlocked(config, bytes, device)
}

/// A run's best weights (`model.bpk`) on the device its config selects: the network and device.
pub(crate) fn load_best(
    run: &RunDir,
    config: &TrainConfig,
    model_config: &DemandModelConfig,
) -> Result<(DemandModel, Device)> {
    let selected = backend::select(config.backend.kind, config.backend.device)?;
    let model = load_model(model_config, run.read("model.bpk")?, &selected.device)?;
    Ok((model, selected.device))
}

pub(crate) fn load_model_unlocked(
    config: &DemandModelConfig,
    bytes: Vec<u8>,
    device: &Device,
) -> Result<DemandModel> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
        .map_err(|e| Error::Evaluation(format!("cannot read the weights: {e}")))?;
    config
        .init(device)
        .try_load_record(record)
        .map_err(|e| Error::Evaluation(format!("weights do not fit the network: {e}")))
}

/// Why the run in `base` cannot warm-start a run of `config` on `prepared`, if it cannot: the
/// network's shape would differ (other features, static vocabularies, window or layers).
pub fn warm_start_problem(
    base: &RunDir,
    config: &TrainConfig,
    prepared: &Prepared,
) -> Result<Option<String>> {
    let recorded = base.model_config()?;
    let wanted = model_config(config, prepared);
    Ok((recorded != wanted).then(|| {
        let mut what = Vec::new();
        if recorded.static_cardinalities != wanted.static_cardinalities {
            what.push(format!(
                "static vocabularies {:?} -> {:?}",
                recorded.static_cardinalities, wanted.static_cardinalities
            ));
        }
        if (recorded.past_features, recorded.future_features)
            != (wanted.past_features, wanted.future_features)
        {
            what.push(format!(
                "features {}+{} -> {}+{}",
                recorded.past_features,
                recorded.future_features,
                wanted.past_features,
                wanted.future_features
            ));
        }
        if what.is_empty() {
            what.push("window or layer sizes".into());
        }
        format!("the network's shape changed ({})", what.join(", "))
    }))
}
