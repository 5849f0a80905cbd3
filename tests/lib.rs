//! Helpers shared by restock's integration tests: paths to the shared real data and small
//! generated catalogues.

use std::path::PathBuf;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `shared/data/<rel>` beside the checkout (`../shared/data`), if present.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let p = repo_root().parent()?.join("shared").join("data").join(rel);
    p.exists().then_some(p)
}

/// A synthetic catalogue of `skus` SKUs over `weeks` weeks, written to `dir` and ingested with
/// its own `ingest.toml`.
pub fn synthetic_weekly(
    dir: &std::path::Path,
    skus: usize,
    weeks: usize,
) -> restock_data::WeeklyDataset {
    use restock_data::synth::{SynthCatalogue, SynthConfig};
    let cfg = SynthConfig {
        skus,
        weeks,
        dirty: false,
        ..Default::default()
    };
    let cat = SynthCatalogue::generate(&cfg).expect("synthetic catalogue");
    cat.write(dir).expect("write catalogue");
    let ingest = restock_data::IngestConfig::load(&dir.join("ingest.toml")).expect("ingest.toml");
    restock_data::ingest(&ingest).expect("ingest").0
}
