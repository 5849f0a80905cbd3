//! The job config, `configs/job/<name>.toml`: a hand-edited TOML file parsed with
//! `deny_unknown_fields`; relative paths are taken from the file's folder.

use std::path::{Path, PathBuf};

use restock_data::config::{DatabaseKind, DatabaseSource};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One weekly job: where its inputs come from, where its outputs go, how it trains and plans.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// The job's folder: the record of cycles, each cycle's input snapshot and outputs, and the
    /// model runs (`cycles.json`, `cycles/<week>/`, `runs/<week>/`).
    pub dir: PathBuf,
    /// The sales history.
    pub sales: SalesConfig,
    /// Stock, open orders, SKU parameters and the known future of the cycle.
    pub inputs: InputsConfig,
    /// The database that `table` inputs and `[output]` tables live in.
    #[serde(default)]
    pub database: Option<Connection>,
    /// Where the cycle's outputs are written besides the job's folder.
    #[serde(default)]
    pub output: OutputConfig,
    /// The model: its training config and how each cycle updates it.
    pub train: JobTrain,
    /// The order plan.
    #[serde(default)]
    pub plan: JobPlan,
    /// Stock-out and overstock alerts.
    #[serde(default)]
    pub alerts: AlertsConfig,
}

/// `[sales]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesConfig {
    /// An ingest config (`configs/ingest/`): a sales file or a `[source.database]` table, read
    /// whole each cycle and cut before the cycle's week.
    #[serde(default)]
    pub ingest: Option<PathBuf>,
    /// Or a preset for a known data set (`m5`, `online-retail`) with its `input` folder or file.
    #[serde(default)]
    pub preset: Option<String>,
    /// The data set of `preset`.
    #[serde(default)]
    pub input: Option<PathBuf>,
}

/// `[inputs]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputsConfig {
    /// Stock on hand at the start of the cycle's week: `unique_id, on_hand`.
    pub inventory: Input,
    /// Open purchase orders: `unique_id, arrival_ds, quantity`.
    #[serde(default)]
    pub open_orders: Option<Input>,
    /// SKU parameters: `unique_id, unit_cost, …` (see `restock plan --help`).
    pub sku_params: Input,
    /// The known future (Nixtla's `X_df`): `unique_id, ds` and any of `event_days, price,
    /// promo` for the forecast weeks, e.g. the promotion plan; SKUs it does not name are
    /// forecast without a plan.
    #[serde(default)]
    pub future: Option<Input>,
}

/// A table the cycle reads: a file (`{ file = "…" }`) or a table of `[database]`
/// (`{ table = "…" }`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    /// A CSV or Parquet file.
    #[serde(default)]
    pub file: Option<PathBuf>,
    /// A table (or `schema.table`) of `[database]`.
    #[serde(default)]
    pub table: Option<String>,
    /// The source's names of the columns restock reads, where they differ: e.g.
    /// `{ unique_id = "sku", on_hand = "qty" }`.
    #[serde(default)]
    pub columns: std::collections::BTreeMap<String, String>,
}

impl Input {
    /// The source's name of column `name`.
    pub fn column(&self, name: &str) -> String {
        self.columns
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    }
}

/// The columns each input can have: (config key, required, optional).
pub(crate) fn input_columns(key: &str) -> (Vec<&'static str>, Vec<&'static str>) {
    match key {
        "inputs.inventory" => (vec!["unique_id", "on_hand"], vec![]),
        "inputs.open_orders" => (vec!["unique_id", "arrival_ds", "quantity"], vec![]),
        "inputs.future" => (
            vec!["unique_id", "ds"],
            restock_data::future::COLUMNS.iter().map(|c| c.0).collect(),
        ),
        _ => (
            vec!["unique_id", "unit_cost"],
            restock_planner::io::SKU_PARAM_COLUMNS.to_vec(),
        ),
    }
}

impl Input {
    /// Where it comes from, in words.
    pub fn describe(&self) -> String {
        match (&self.file, &self.table) {
            (Some(f), _) => f.display().to_string(),
            (None, Some(t)) => format!("table {t}"),
            (None, None) => "nowhere".into(),
        }
    }
}

/// `[database]`: a PostgreSQL or MySQL/MariaDB server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// `postgres` or `mysql`.
    pub kind: DatabaseKind,
    /// The environment variable holding the connection URL (never the URL itself).
    pub url_env: String,
}

impl Connection {
    /// The table `table` of this database.
    pub fn table(&self, table: &str) -> DatabaseSource {
        DatabaseSource {
            kind: self.kind,
            url_env: self.url_env.clone(),
            table: table.to_string(),
        }
    }
}

/// `[output]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Write the cycle's outputs to `[database]` too, as tables named with this prefix:
    /// `<prefix>forecasts`, `<prefix>orders`, `<prefix>alerts`, `<prefix>history` and
    /// `<prefix>cycles`, each with a `cycle` column; a cycle's rows replace that cycle's rows,
    /// all tables in one transaction.
    #[serde(default)]
    pub table_prefix: Option<String>,
}

/// `[train]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobTrain {
    /// A training config (`configs/train/`); its `[data]` source is replaced by the cycle's
    /// weekly data, with no test weeks (the latest `valid_weeks` weeks validate).
    pub config: PathBuf,
    /// When to train from scratch instead of fine-tuning last cycle's model.
    #[serde(default)]
    pub retrain: Retrain,
    /// Epochs of a fine-tuning (the best one on the latest weeks is kept).
    #[serde(default = "default_fine_tune_epochs")]
    pub fine_tune_epochs: usize,
    /// Peak learning rate of a fine-tuning; default: a third of the config's.
    #[serde(default)]
    pub fine_tune_learning_rate: Option<f64>,
    /// With `retrain = "when_worse"`: how much worse (relative) the fine-tuned model's loss on
    /// the latest weeks must be than last cycle's model's for a full training; below it the
    /// difference is taken as noise (a full training is no better on average, and costs 3-4
    /// times a fine-tuning: docs/benchmarks.md, "Session 10").
    #[serde(default = "default_worse_by")]
    pub worse_by: f64,
    /// Model runs kept (with their cycles' weekly data and shard folders): those of the latest
    /// this many recorded cycles; older ones are removed once a cycle is recorded. At least 2,
    /// so the last week can be run again from the same base. The cycles' forecasts, orders,
    /// snapshots, history and reports are always kept (the feedback loop reads them).
    #[serde(default = "default_keep_runs")]
    pub keep_runs: usize,
}

fn default_keep_runs() -> usize {
    4
}

fn default_worse_by() -> f64 {
    0.01
}

fn default_fine_tune_epochs() -> usize {
    3
}

/// When a cycle trains its model from scratch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retrain {
    /// Fine-tune last cycle's model; retrain when the fine-tuned model scores worse than last
    /// cycle's on the latest weeks, or when the network's shape changed (the first cycle too).
    #[default]
    WhenWorse,
    /// Every cycle.
    Always,
    /// Never while the network's shape allows a fine-tuning, whatever it scores.
    Never,
}

/// `[plan]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobPlan {
    /// A plan config (`configs/plan/`); default: the planner's defaults.
    #[serde(default)]
    pub config: Option<PathBuf>,
}

/// `[alerts]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// A SKU whose stock and open orders cover more than this many weeks of its median forecast
    /// is overstocked.
    #[serde(default = "default_overstock_weeks")]
    pub overstock_weeks: f64,
}

fn default_overstock_weeks() -> f64 {
    12.0
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            overstock_weeks: default_overstock_weeks(),
        }
    }
}

impl JobConfig {
    /// Read and check a config file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parse and check a config's text; relative paths are taken from `path`'s folder.
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let bad = |message: String| Error::Config {
            path: path.to_path_buf(),
            message,
        };
        let mut cfg: JobConfig = toml::from_str(text).map_err(|e| bad(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.dir = base.join(&cfg.dir);
        let sales = &mut cfg.sales;
        match (&mut sales.ingest, &sales.preset, &mut sales.input) {
            (Some(i), None, None) => *i = base.join(&*i),
            (None, Some(p), Some(i)) => {
                p.parse::<restock_data::Preset>()
                    .map_err(|e| bad(format!("sales.preset: {e}")))?;
                *i = base.join(&*i);
            }
            _ => {
                return Err(bad(
                    "[sales]: give ingest (an ingest config), or preset and input".into(),
                ));
            }
        }
        cfg.train.config = base.join(&cfg.train.config);
        if let Some(p) = &mut cfg.plan.config {
            *p = base.join(&*p);
        }
        let inputs = [
            ("inputs.inventory", Some(&mut cfg.inputs.inventory)),
            ("inputs.open_orders", cfg.inputs.open_orders.as_mut()),
            ("inputs.sku_params", Some(&mut cfg.inputs.sku_params)),
            ("inputs.future", cfg.inputs.future.as_mut()),
        ];
        for (key, input) in inputs {
            let Some(input) = input else { continue };
            let (required, optional) = input_columns(key);
            if let Some(unknown) = input
                .columns
                .keys()
                .find(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str()))
            {
                return Err(bad(format!(
                    "{key}.columns: {unknown:?} is none of {}",
                    required
                        .iter()
                        .chain(&optional)
                        .copied()
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            match (&mut input.file, &input.table) {
                (Some(f), None) => *f = base.join(&*f),
                (None, Some(_)) if cfg.database.is_none() => {
                    return Err(bad(format!(
                        "{key} is a table, but there is no [database] section"
                    )));
                }
                (None, Some(_)) => {}
                _ => return Err(bad(format!("{key}: give exactly one of file or table"))),
            }
        }
        if let Some(prefix) = &cfg.output.table_prefix {
            if cfg.database.is_none() {
                return Err(bad(
                    "output.table_prefix writes to [database], which is missing".into(),
                ));
            }
            if !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(bad(format!(
                    "output.table_prefix {prefix:?}: letters, digits and _ only"
                )));
            }
        }
        let w = cfg.train.worse_by;
        if !(w >= 0.0 && w.is_finite()) {
            return Err(bad(format!(
                "train.worse_by must be a number >= 0 (a share, e.g. 0.01), got {w}"
            )));
        }
        if cfg.train.keep_runs < 2 {
            return Err(bad(format!(
                "train.keep_runs = {} : at least 2 (the last cycle's run and its base)",
                cfg.train.keep_runs
            )));
        }
        if cfg.train.fine_tune_epochs == 0 {
            return Err(bad("train.fine_tune_epochs must be at least 1".into()));
        }
        if let Some(lr) = cfg.train.fine_tune_learning_rate
            && !(lr > 0.0 && lr.is_finite())
        {
            return Err(bad(format!(
                "train.fine_tune_learning_rate must be a positive number, got {lr}"
            )));
        }
        let w = cfg.alerts.overstock_weeks;
        if !(w > 0.0 && w.is_finite()) {
            return Err(bad(format!(
                "alerts.overstock_weeks must be a positive number, got {w}"
            )));
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
dir = "job"
[sales]
ingest = "ingest.toml"
[inputs]
inventory = { file = "inventory.csv" }
sku_params = { file = "sku_params.csv" }
[train]
config = "train.toml"
"#;

    #[test]
    fn a_minimal_config_takes_paths_from_its_folder_and_defaults() {
        let cfg = JobConfig::parse(MINIMAL, Path::new("configs/job/x.toml")).unwrap();
        assert_eq!(cfg.dir, Path::new("configs/job/job"));
        assert_eq!(
            cfg.sales.ingest.as_deref(),
            Some(Path::new("configs/job/ingest.toml"))
        );
        assert_eq!(
            cfg.inputs.inventory.file.as_deref(),
            Some(Path::new("configs/job/inventory.csv"))
        );
        assert_eq!(cfg.train.retrain, Retrain::WhenWorse);
        assert_eq!(cfg.train.fine_tune_epochs, 3);
        assert_eq!(cfg.alerts.overstock_weeks, 12.0);
        assert!(cfg.output.table_prefix.is_none());
    }

    #[test]
    fn mistakes_name_the_key() {
        let err = |text: &str| {
            JobConfig::parse(text, Path::new("j.toml"))
                .unwrap_err()
                .to_string()
        };
        let table = MINIMAL.replace(
            "inventory = { file = \"inventory.csv\" }",
            "inventory = { table = \"stock\" }",
        );
        assert!(
            err(&table).contains("inputs.inventory is a table"),
            "{}",
            err(&table)
        );
        let both = MINIMAL.replace(
            "{ file = \"inventory.csv\" }",
            "{ file = \"a.csv\", table = \"stock\" }",
        );
        assert!(err(&both).contains("exactly one"), "{}", err(&both));
        let prefix = format!("{MINIMAL}[output]\ntable_prefix = \"x\"\n");
        assert!(
            err(&prefix).contains("output.table_prefix"),
            "{}",
            err(&prefix)
        );
        let preset = MINIMAL.replace("ingest = \"ingest.toml\"", "preset = \"m6\"\ninput = \"d\"");
        assert!(err(&preset).contains("sales.preset"), "{}", err(&preset));
        let neither = MINIMAL.replace("ingest = \"ingest.toml\"", "input = \"d\"");
        assert!(err(&neither).contains("[sales]"), "{}", err(&neither));
        let columns = MINIMAL.replace(
            "{ file = \"inventory.csv\" }",
            "{ file = \"inventory.csv\", columns = { stock = \"qty\" } }",
        );
        assert!(
            err(&columns).contains("inputs.inventory.columns: \"stock\""),
            "{}",
            err(&columns)
        );
        let keep = MINIMAL.replace(
            "config = \"train.toml\"",
            "config = \"train.toml\"\nkeep_runs = 1",
        );
        assert!(err(&keep).contains("train.keep_runs"), "{}", err(&keep));
        let unknown = format!("{MINIMAL}[alerts]\noverstock = 3\n");
        assert!(err(&unknown).contains("overstock"), "{}", err(&unknown));
        let prefix = MINIMAL.replace(
            "[train]",
            "[database]\nkind = \"postgres\"\nurl_env = \"U\"\n[output]\ntable_prefix = \"a;b\"\n[train]",
        );
        assert!(err(&prefix).contains("letters, digits"), "{}", err(&prefix));
    }
}
