//! ARCHITECTURE.md's code map and dependency invariants, checked against the crates' manifests:
//! a new edge between stages, or a heavy library in a crate that must not know it, fails here
//! instead of in review (rust-analyzer's `tidy` checks play the same part).

use std::collections::{BTreeMap, BTreeSet};

use restock_tests::repo_root;

/// Each crate's `[dependencies]` names (not dev-dependencies), by crate directory.
fn manifests() -> BTreeMap<String, BTreeSet<String>> {
    let crates = repo_root().join("crates");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&crates).expect("crates/") {
        let dir = entry.expect("crates/ entry").path();
        let path = dir.join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let manifest: toml::Table = toml::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        let deps = manifest
            .get("dependencies")
            .and_then(toml::Value::as_table)
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        let name = dir
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        out.insert(name, deps);
    }
    out
}

/// The restock crates each crate may use, as ARCHITECTURE.md's code map draws them.
const STAGES: [(&str, &[&str]); 12] = [
    ("core", &[]),
    ("stats", &["core"]),
    ("data", &["core"]),
    ("model", &[]),
    ("trees", &["core", "data"]),
    ("planner", &["core", "data", "stats"]),
    ("train", &["core", "data", "model", "stats", "trees"]),
    (
        "infer",
        &["core", "data", "model", "stats", "train", "trees"],
    ),
    (
        "backtest",
        &[
            "core", "data", "infer", "planner", "stats", "train", "trees",
        ],
    ),
    ("report", &["core", "data", "backtest", "planner"]),
    (
        "job",
        &["core", "data", "train", "infer", "planner", "backtest"],
    ),
    (
        "cli",
        &[
            "core", "data", "stats", "planner", "train", "infer", "backtest", "report", "job",
        ],
    ),
];

#[test]
fn stages_depend_only_on_the_stages_the_code_map_draws() {
    let manifests = manifests();
    let listed: BTreeSet<&str> = STAGES.iter().map(|(c, _)| *c).collect();
    let found: BTreeSet<&str> = manifests.keys().map(String::as_str).collect();
    assert_eq!(
        listed, found,
        "a crate is missing from the code map or from crates/"
    );
    for (krate, allowed) in STAGES {
        let used: BTreeSet<&str> = manifests[krate]
            .iter()
            .filter_map(|d| d.strip_prefix("restock-"))
            .collect();
        let extra: Vec<&&str> = used.iter().filter(|d| !allowed.contains(d)).collect();
        assert!(
            extra.is_empty(),
            "crates/{krate} uses {extra:?}, an edge ARCHITECTURE.md's code map does not draw"
        );
    }
}

#[test]
fn heavy_libraries_stay_in_their_stages() {
    let manifests = manifests();
    let holders = |dep: &str| -> BTreeSet<&str> {
        manifests
            .iter()
            .filter(|(_, deps)| deps.contains(dep))
            .map(|(c, _)| c.as_str())
            .collect()
    };
    let set = |v: &[&'static str]| v.iter().copied().collect::<BTreeSet<&str>>();
    // Only the binary reports errors with anyhow; every library crate has its typed error.
    assert_eq!(holders("anyhow"), set(&["cli"]));
    for krate in manifests.keys().filter(|c| *c != "cli") {
        assert!(
            manifests[krate].contains("thiserror"),
            "crates/{krate} has no typed error (thiserror)"
        );
    }
    // The solver only in the planner, LightGBM only in the trees, the database client only in
    // data, tensors only where the network is built, trained and served.
    assert_eq!(holders("good_lp"), set(&["planner"]));
    assert_eq!(holders("lightgbm3"), set(&["trees"]));
    assert_eq!(holders("sqlx"), set(&["data"]));
    assert_eq!(holders("burn"), set(&["model", "train", "infer"]));
    // core, stats, model and trees know no polars.
    let polars = holders("polars");
    for krate in ["core", "stats", "model", "trees"] {
        assert!(!polars.contains(krate), "crates/{krate} uses polars");
    }
}
