//! The cycle's inputs, read once at its start: the sales history cut before the cycle's week,
//! and a snapshot of stock, open orders and SKU parameters in the cycle's folder, checked before
//! anything is trained, so a bad row stops the cycle with nothing written but the snapshot.

use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_core::Week;
use restock_data::{IngestConfig, QualityReport, WeeklyDataset};
use restock_planner::PlanConfig;
use restock_planner::io as plan_io;

use crate::config::{Input, JobConfig, input_columns};
use crate::{Error, Result};

/// Where the snapshot of the cycle's tables is.
#[derive(Debug, Clone)]
pub(crate) struct Snapshot {
    pub(crate) inventory: PathBuf,
    pub(crate) open_orders: Option<PathBuf>,
    pub(crate) sku_params: PathBuf,
    pub(crate) future: Option<PathBuf>,
}

impl Snapshot {
    /// The snapshot taken into `dir`.
    pub(crate) fn of(dir: &Path) -> Result<Self> {
        let find = |name: &str| {
            ["csv", "parquet"]
                .iter()
                .map(|ext| dir.join(format!("{name}.{ext}")))
                .find(|p| p.is_file())
        };
        let missing = |name: &str| Error::file(dir, format!("no {name} in the cycle's snapshot"));
        Ok(Snapshot {
            inventory: find("inventory").ok_or_else(|| missing("inventory"))?,
            open_orders: find("open_orders"),
            sku_params: find("sku_params").ok_or_else(|| missing("sku_params"))?,
            future: find("future"),
        })
    }
}

/// The cycle's week (by default the week after the last week of sales) and the sales history
/// up to the week before it: the whole source ingested, then cut. The data must reach that
/// week: a cycle never plans from stale sales.
pub(crate) fn sales(
    cfg: &JobConfig,
    week: Option<Week>,
) -> Result<(Week, WeeklyDataset, QualityReport)> {
    let sales = &cfg.sales;
    let (ds, report, source) = match (&sales.ingest, &sales.preset, &sales.input) {
        (Some(path), _, _) => {
            let ingest = IngestConfig::load(path)?;
            let (ds, report) = restock_data::ingest(&ingest)?;
            (ds, report, source_name(&ingest))
        }
        (None, Some(preset), Some(input)) => {
            let (ds, report) = preset.parse::<restock_data::Preset>()?.ingest(input)?;
            (ds, report, input.display().to_string())
        }
        _ => {
            return Err(Error::Config {
                path: cfg.dir.clone(),
                message: "[sales]: give ingest, or preset and input".into(),
            });
        }
    };
    let week = week.unwrap_or(ds.last_week.offset(1));
    let last = week.offset(-1);
    let bad = |message: String| Error::Week {
        week: week.to_string(),
        message,
    };
    if ds.last_week < last {
        return Err(bad(format!(
            "the sales ({}) end with the week of {}, but the cycle needs the week before it, {last}; \
             load the latest sales first",
            source, ds.last_week
        )));
    }
    let ds = ds.truncate(last).ok_or_else(|| {
        bad(format!(
            "no sales before it (the sales start with the week of {})",
            ds.first_week
        ))
    })?;
    Ok((week, ds, report))
}

fn source_name(ingest: &IngestConfig) -> String {
    match &ingest.source.database {
        Some(db) => format!("table {}", db.table),
        None => ingest.source.path.display().to_string(),
    }
}

/// Copy (or read from the database) stock, open orders and SKU parameters into `dir`, then check
/// them as the planner will read them; an error names the input, where it came from, the row
/// and the SKU.
pub(crate) fn snapshot(
    cfg: &JobConfig,
    plan: &PlanConfig,
    week: Week,
    dir: &Path,
) -> Result<Snapshot> {
    // Taken into a side folder, checked, then moved into place: a bad input leaves nothing.
    let partial = dir.with_extension("partial");
    let _ = std::fs::remove_dir_all(&partial);
    let taken = match take_and_check(cfg, plan, week, &partial) {
        Ok(t) => t,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            return Err(e);
        }
    };
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    }
    std::fs::rename(&partial, dir).map_err(|e| Error::file(dir, e))?;
    let moved = |p: &Path| dir.join(p.file_name().unwrap_or_default());
    Ok(Snapshot {
        inventory: moved(&taken.inventory),
        open_orders: taken.open_orders.as_deref().map(moved),
        sku_params: moved(&taken.sku_params),
        future: taken.future.as_deref().map(moved),
    })
}

/// Take the inputs into `dir` and check them.
fn take_and_check(cfg: &JobConfig, plan: &PlanConfig, week: Week, dir: &Path) -> Result<Snapshot> {
    let inputs = &cfg.inputs;
    let inventory = take(cfg, &inputs.inventory, dir, "inventory")?;
    let open_orders = inputs
        .open_orders
        .as_ref()
        .map(|i| take(cfg, i, dir, "open_orders"))
        .transpose()?;
    let sku_params = take(cfg, &inputs.sku_params, dir, "sku_params")?;
    let future = inputs
        .future
        .as_ref()
        .map(|i| take(cfg, i, dir, "future"))
        .transpose()?;
    fn wrap<'a>(
        what: &'static str,
        input: &'a Input,
    ) -> impl Fn(restock_planner::Error) -> Error + 'a {
        move |e| Error::Input {
            what,
            from: input.describe(),
            message: e.to_string(),
        }
    }
    plan_io::read_inventory(&inventory).map_err(wrap("inventory", &inputs.inventory))?;
    if let (Some(path), Some(input)) = (&open_orders, &inputs.open_orders) {
        plan_io::read_open_orders(path, week, &mut Vec::new())
            .map_err(wrap("open orders", input))?;
    }
    plan_io::read_sku_params(&sku_params, plan)
        .map_err(wrap("SKU parameters", &inputs.sku_params))?;
    if let (Some(path), Some(input)) = (&future, &inputs.future) {
        // Checked for the weeks the cycle forecasts: the model's horizon from the week.
        let horizon = restock_train::TrainConfig::load(&cfg.train.config)?
            .window
            .horizon;
        restock_data::future::KnownFuture::read(path, week, horizon).map_err(|e| Error::Input {
            what: "known future",
            from: input.describe(),
            message: e.to_string(),
        })?;
    }
    Ok(Snapshot {
        inventory,
        open_orders,
        sku_params,
        future,
    })
}

/// One input into `dir/<name>.<csv|parquet>` with restock's column names: a file copied as it
/// is (read and renamed when `columns` maps its names), a table read whole, sorted, renamed and
/// written as CSV.
fn take(cfg: &JobConfig, input: &Input, dir: &Path, name: &str) -> Result<PathBuf> {
    let (required, optional) = input_columns(&format!("inputs.{name}"));
    let pairs = |names: &[&'static str]| -> Vec<(&'static str, String)> {
        names.iter().map(|n| (*n, input.column(n))).collect()
    };
    let renamed = |mut df: DataFrame, at: &Path| -> Result<DataFrame> {
        for (canonical, source) in &input.columns {
            if df.column(source).is_ok() {
                df.rename(source, canonical.as_str().into())
                    .map_err(|e| Error::file(at, e))?;
            }
        }
        Ok(df)
    };
    match (&input.file, &input.table, &cfg.database) {
        (Some(file), _, _) if input.columns.is_empty() => {
            let ext = file.extension().and_then(|e| e.to_str()).unwrap_or("csv");
            let out = dir.join(format!("{name}.{ext}"));
            let bytes = std::fs::read(file).map_err(|e| Error::Input {
                what: "input",
                from: file.display().to_string(),
                message: format!("cannot read: {e}"),
            })?;
            write_bytes(&out, &bytes)?;
            Ok(out)
        }
        (Some(file), _, _) => {
            let df = restock_data::table::scan(file)?
                .collect()
                .map_err(|e| Error::file(file, e))?;
            let mut df = renamed(df, file)?;
            let out = dir.join(format!("{name}.csv"));
            restock_data::table::write(&mut df, &out)?;
            Ok(out)
        }
        (None, Some(table), Some(db)) => {
            let df = restock_data::database::read_frame(
                &db.table(table),
                &pairs(&required),
                &pairs(&optional),
            )?;
            let mut df = renamed(df, &dir.join(name))?;
            let by: Vec<PlSmallStr> = df.get_column_names().into_iter().cloned().collect();
            df = df
                .sort(by, SortMultipleOptions::default())
                .map_err(|e| Error::file(&dir.join(name), e))?;
            let out = dir.join(format!("{name}.csv"));
            restock_data::table::write(&mut df, &out)?;
            Ok(out)
        }
        _ => Err(Error::Input {
            what: "input",
            from: input.describe(),
            message: "neither a file nor a table of [database]".into(),
        }),
    }
}

/// Write bytes whole: a temp file renamed into place.
pub(crate) fn write_bytes(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::file(dir, e))?;
    }
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).map_err(|e| Error::file(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::file(path, e))
}
