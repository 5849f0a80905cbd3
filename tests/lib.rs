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
