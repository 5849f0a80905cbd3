//! The forecast job: stream the weekly data, forecast each chunk with a [`Network`], write.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use polars::prelude::*;
use restock_core::{Horizon, Week, columns};
use restock_data::WeeklyDataset;
use restock_data::future::KnownFuture;
use restock_data::table::BatchWriter;
use restock_data::weekly::WeeklyChunks;
use restock_stats::{ProtectionCalibration, ProtectionCase};
use restock_train::config::BackendKind;
use serde::{Deserialize, Serialize};

use crate::network::{Network, Route};
use crate::protection::{calibration_origins, in_calibration_sample};
use crate::serving::parse_serving;
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

/// Options of a forecast job.
#[derive(Debug, Clone)]
pub struct ForecastOptions {
    /// Weeks to forecast, 1..= the run's horizon.
    pub horizon: usize,
    /// SKUs per network batch; `None`: [`Network::default_batch_size`] for its device.
    pub batch_size: Option<usize>,
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
    /// are averaged with the network's for the network's SKUs ([`Network::combine_with`]);
    /// empty: the network alone; `None`: the run's choice (`serving.json`).
    pub combine: Option<Vec<String>>,
    /// The known future (`unique_id, ds` and any of `event_days, price, promo` for the forecast
    /// weeks): forecasts are conditional on the plan it gives. Without it, a run trained with
    /// `window.hide_plan` forecasts unconditionally; an older run assumes the last price and no
    /// promotion or event.
    pub future: Option<PathBuf>,
    /// Where to write the served forecaster's protection-interval calibration
    /// (`restock_stats::ProtectionCalibration`, JSON; see [`crate::protection`]), which
    /// `restock plan` reads beside the forecasts; `None`: not fitted.
    pub protection: Option<PathBuf>,
}

impl Default for ForecastOptions {
    fn default() -> Self {
        ForecastOptions {
            horizon: 8,
            batch_size: None,
            chunk_rows: 2_000_000,
            shard: None,
            min_history: None,
            intermittent_adi: f64::INFINITY,
            backend: None,
            combine: None,
            future: None,
            protection: None,
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
    /// Calibration cases of the protection-interval levels (0: not fitted).
    #[serde(default)]
    pub protection_cases: usize,
    /// Seconds forecasting the calibration origins and fitting.
    #[serde(default)]
    pub protection_seconds: f64,
    /// Why no calibration was written, when one was asked for and could not be fitted.
    #[serde(default)]
    pub protection_note: Option<String>,
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
        if self.protection_cases > 0 {
            out.push_str(&format!(
                "protection-interval levels calibrated on {} cases ({:.1} s)\n",
                self.protection_cases, self.protection_seconds
            ));
        }
        if let Some(note) = &self.protection_note {
            out.push_str(&format!("protection-interval levels: {note}\n"));
        }
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

/// Forecast every SKU of `data` (a weekly dataset) with the run in `run_dir`, writing
/// `unique_id, ds, model, q..` rows to `out` (Parquet or CSV). `progress(rows_read, rows)`
/// is called after each chunk.
///
/// # Errors
///
/// When the run directory lacks a file the forecast needs or holds one that does not parse
/// (`Error::Run`, `Error::Model`, `Error::Trees`), when the weekly data or a known-future file
/// cannot be read or does not fit the run's schema (`Error::Data`, naming the file, SKU and
/// column), when an option is out of range (`Error::Option`), or when the output cannot be
/// written. The output appears at `out` only when complete (a temporary file renamed over it),
/// so an error leaves whatever was there before.
pub fn forecast(
    run_dir: &Path,
    data: &Path,
    out: &Path,
    options: &ForecastOptions,
    progress: &mut dyn FnMut(usize, usize, usize),
) -> Result<ForecastSummary> {
    let started = Instant::now();
    if options.batch_size == Some(0) || options.chunk_rows == 0 {
        return Err(Error::Option(
            "--batch-size and chunk rows must be at least 1".into(),
        ));
    }
    let chunks = WeeklyChunks::open(data, options.chunk_rows)?;
    let skus = chunks.skus_at_least() / options.shard.map_or(1, |s| s.count);
    let mut loaded = Network::open_for(run_dir, options.backend, Some(skus))?;
    if let Some(members) = &options.combine {
        let (members, with_network) = parse_serving(members)?;
        loaded.serve(members, with_network)?;
    }
    let batch_size = options
        .batch_size
        .unwrap_or_else(|| loaded.default_batch_size());
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
        .unwrap_or(loaded.min_context().max(8))
        .max(loaded.min_context());
    if options.intermittent_adi.is_nan() || options.intermittent_adi < 1.0 {
        return Err(Error::Option(format!(
            "intermittent ADI threshold {}: must be >= 1 (1 = every SKU with a zero week)",
            options.intermittent_adi
        )));
    }

    let last_week = chunks.last_week();
    let first_forecast = last_week.offset(1);
    let (future, plan) = known_future(&loaded, options.future.as_deref(), first_forecast, horizon)?;
    let levels = loaded.levels().levels().to_vec();
    let mut schema = Schema::default();
    schema.insert(columns::UNIQUE_ID.into(), DataType::String);
    schema.insert(columns::DS.into(), DataType::Date);
    schema.insert(columns::MODEL.into(), DataType::String);
    for &q in &levels {
        schema.insert(columns::quantile_column(q).into(), DataType::Float64);
    }
    let writer = BatchWriter::create(out, &schema)?;
    let mut summary = ForecastSummary {
        skus: 0,
        rows: 0,
        by_model: BTreeMap::new(),
        unknown_to_run: 0,
        missing_from_data: 0,
        missing_examples: Vec::new(),
        shard: options.shard.map(|s| format!("{}/{}", s.index, s.count)),
        first_week: first_forecast.to_string(),
        backend: loaded.backend().to_string(),
        plan,
        seconds: 0.0,
        skus_per_second: 0.0,
        read_seconds: 0.0,
        prepare_seconds: 0.0,
        network_seconds: 0.0,
        write_seconds: 0.0,
        protection_cases: 0,
        protection_seconds: 0.0,
        protection_note: None,
    };
    // The SKUs this job sees, about: a shard samples its own 2,000 for the calibration, so that
    // each part's is as good as a whole job's.
    let mut job = ChunkJob {
        network: &loaded,
        options,
        data,
        horizon,
        batch_size,
        min_history,
        future: future.as_ref(),
        last_week,
        catalogue: loaded.known_skus().count() / options.shard.map_or(1, |s| s.count),
        cases: Vec::new(),
        seen: HashSet::new(),
    };
    // Three stages at once: a thread reads the next chunk and another writes the last one's
    // forecasts while this one forecasts, so reading and writing do not hold the network up.
    let rows = chunks.rows();
    let (chunk_tx, chunk_rx) = mpsc::sync_channel::<Result<(WeeklyDataset, f64, usize)>>(1);
    let (out_tx, out_rx) = mpsc::sync_channel::<Finished>(1);
    let (forecasting, writing) = std::thread::scope(|scope| {
        scope.spawn(move || read_ahead(chunks, chunk_tx));
        let levels = &levels;
        let writing = scope.spawn(move || write_behind(writer, out_rx, first_forecast, levels));
        let forecasting = (|| -> Result<()> {
            let out_tx = out_tx;
            for next in chunk_rx {
                let (mut chunk, read_seconds, rows_read) = next?;
                summary.read_seconds += read_seconds;
                let finished = job.forecast(&mut chunk, &mut summary)?;
                if out_tx.send(finished).is_err() {
                    // The writer stopped on an error: it is reported below.
                    return Ok(());
                }
                job.protection_cases(chunk, &mut summary)?;
                progress(rows_read, rows, summary.skus);
            }
            Ok(())
        })();
        let writing = writing
            .join()
            .unwrap_or_else(|_| Err(Error::Network("the writer thread panicked".into())));
        (forecasting, writing)
    });
    // A forecasting error first (the writer then only saw its input end); else the writer's.
    forecasting?;
    let (writer, write_seconds) = writing?;
    summary.write_seconds += write_seconds;
    if let Some(path) = &options.protection {
        write_protection(path, &job.cases, horizon, min_history, &mut summary)?;
    }
    let t = Instant::now();
    writer.finish()?;
    summary.write_seconds += t.elapsed().as_secs_f64();
    let mut missing: Vec<&String> = loaded
        .known_skus()
        .filter(|id| !job.seen.contains(*id))
        .filter(|id| options.shard.is_none_or(|s| s.contains(id)))
        .collect();
    missing.sort();
    summary.missing_from_data = missing.len();
    summary.missing_examples = missing.iter().take(10).map(|s| s.to_string()).collect();
    summary.seconds = started.elapsed().as_secs_f64();
    summary.skus_per_second = summary.skus as f64 / summary.seconds.max(1e-9);
    Ok(summary)
}

/// The known future of a forecast job from `path` (checked against the run), and where the
/// forecast weeks' plan inputs come from, in words for the summary.
fn known_future(
    network: &Network,
    path: Option<&Path>,
    first: Week,
    horizon: Horizon,
) -> Result<(Option<KnownFuture>, String)> {
    let future = match path {
        Some(path) => {
            let f = KnownFuture::read(path, first, horizon.weeks())?;
            network
                .check_future(&f, first, horizon.weeks())
                .map_err(|e| Error::Option(format!("{}: {e}", path.display())))?;
            Some(f)
        }
        None => None,
    };
    let reads = network.plan_columns();
    let plan = match (&future, path) {
        _ if reads.is_empty() => "none: the run reads no events, prices or promotions".to_string(),
        (Some(f), Some(path)) => {
            let unread: Vec<&str> = reads.into_iter().filter(|c| !f.has(c)).collect();
            let mut text = format!("{} from {}", f.given().join(", "), path.display());
            if !unread.is_empty() {
                text.push_str(&format!("; {} not given", unread.join(", ")));
            }
            text
        }
        _ if network.forecasts_without_plan() => {
            "not given: forecast without a plan (unknown events, prices and promotions)".into()
        }
        _ => "not given: this run assumes the last price and no promotion or event \
              (it was trained with window.hide_plan = 0); pass --future"
            .into(),
    };
    Ok((future, plan))
}

/// The forecasting stage of a job: what each chunk needs, and what the job gathers from them
/// (the protection calibration's cases, the run's SKUs seen).
struct ChunkJob<'a> {
    network: &'a Network,
    options: &'a ForecastOptions,
    data: &'a Path,
    horizon: Horizon,
    batch_size: usize,
    min_history: usize,
    future: Option<&'a KnownFuture>,
    last_week: Week,
    catalogue: usize,
    cases: Vec<ProtectionCase>,
    seen: HashSet<String>,
}

impl ChunkJob<'_> {
    /// Forecast `chunk` (its shard's SKUs only, which it keeps): the rows for the writer, with
    /// the summary's counts and seconds updated.
    fn forecast(
        &mut self,
        chunk: &mut WeeklyDataset,
        summary: &mut ForecastSummary,
    ) -> Result<Finished> {
        if let Some(shard) = self.options.shard {
            chunk.series.retain(|s| shard.contains(&s.unique_id));
        }
        for s in &chunk.series {
            if self.network.knows(&s.unique_id) {
                self.seen.insert(s.unique_id.clone());
            } else {
                summary.unknown_to_run += 1;
            }
        }
        let weeks = self.horizon.weeks();
        let f = self
            .network
            .forecast_catalogue(
                chunk,
                self.horizon,
                self.min_history,
                self.options.intermittent_adi,
                self.batch_size,
                self.future,
            )
            .map_err(|e| match e {
                Error::Option(m) => Error::Option(format!("{}: {m}", self.data.display())),
                e => e,
            })?;
        summary.prepare_seconds += f.prepare_seconds;
        summary.network_seconds += f.network_seconds;
        summary.skus += chunk.series.len();
        summary.rows += chunk.series.len() * weeks;
        for r in &f.routes {
            *summary.by_model.entry(r.model().to_string()).or_default() += 1;
        }
        Ok(Finished {
            ids: chunk.series.iter().map(|s| s.unique_id.clone()).collect(),
            routes: f.routes,
            values: f.values,
            weeks,
        })
    }

    /// When the job calibrates protection levels: the cases of `chunk`'s SKUs in the sample.
    fn protection_cases(
        &mut self,
        mut chunk: WeeklyDataset,
        summary: &mut ForecastSummary,
    ) -> Result<()> {
        if self.options.protection.is_none() {
            return Ok(());
        }
        let t = Instant::now();
        let weeks = self.horizon.weeks();
        let catalogue = self.catalogue.max(1);
        chunk
            .series
            .retain(|s| in_calibration_sample(&s.unique_id, catalogue));
        self.cases.extend(self.network.protection_cases(
            &chunk,
            &calibration_origins(self.last_week, weeks),
            weeks,
            self.min_history,
            self.options.intermittent_adi,
            self.batch_size,
        )?);
        summary.protection_seconds += t.elapsed().as_secs_f64();
        Ok(())
    }
}

/// Fit the protection calibration on `cases` and write it to `path`; with too little history,
/// remove a stale one and say why in the summary.
fn write_protection(
    path: &Path,
    cases: &[ProtectionCase],
    horizon: Horizon,
    min_history: usize,
    summary: &mut ForecastSummary,
) -> Result<()> {
    match ProtectionCalibration::fit(horizon.weeks(), cases) {
        Some(calibration) => {
            summary.protection_cases = calibration.cases();
            let text = serde_json::to_string_pretty(&calibration)
                .map_err(|e| Error::Option(e.to_string()))?;
            restock_data::table::write_text(path, &text)?;
        }
        None => {
            // Too little history: the planner takes the normal rule. A calibration left from an
            // earlier job would not describe these forecasts.
            if path.exists() {
                std::fs::remove_file(path)
                    .map_err(|e| Error::Option(format!("{}: {e}", path.display())))?;
            }
            summary.protection_note = Some(format!(
                "not calibrated: no SKU has {min_history} weeks of history before an origin {} \
                 weeks from the end, as the protection calibration needs; the planner will use \
                 the normal rule",
                horizon.weeks()
            ));
        }
    }
    Ok(())
}

/// One chunk's forecasts on their way to the writer.
struct Finished {
    ids: Vec<String>,
    routes: Vec<Route>,
    values: Vec<Vec<f64>>,
    weeks: usize,
}

/// Read `chunks` one ahead of the forecasting: each with the seconds it took and the rows read
/// so far. Stops at the end, at an error (sent on), or when the receiver is gone.
fn read_ahead(mut chunks: WeeklyChunks, tx: mpsc::SyncSender<Result<(WeeklyDataset, f64, usize)>>) {
    loop {
        let t = Instant::now();
        let next = match chunks.next_chunk() {
            Ok(Some(chunk)) => Ok((chunk, t.elapsed().as_secs_f64(), chunks.rows_read())),
            Ok(None) => return,
            Err(e) => Err(e.into()),
        };
        let failed = next.is_err();
        if tx.send(next).is_err() || failed {
            return;
        }
    }
}

/// Build and write each finished chunk's rows as they come; the writer (to finish) and the
/// seconds spent. An error ends the thread, which the sender sees as a closed channel.
fn write_behind(
    mut writer: BatchWriter,
    rx: mpsc::Receiver<Finished>,
    first: Week,
    levels: &[f64],
) -> Result<(BatchWriter, f64)> {
    let mut seconds = 0.0;
    for f in rx {
        let t = Instant::now();
        let df = output_frame(&f.ids, &f.routes, &f.values, first, f.weeks, levels)?;
        writer.write(&df)?;
        seconds += t.elapsed().as_secs_f64();
    }
    Ok((writer, seconds))
}

fn output_frame(
    ids_of: &[String],
    routes: &[Route],
    values: &[Vec<f64>],
    first: Week,
    weeks: usize,
    levels: &[f64],
) -> Result<DataFrame> {
    let n = ids_of.len() * weeks;
    let k = levels.len();
    let mut ids: Vec<&str> = Vec::with_capacity(n);
    let mut ds: Vec<i32> = Vec::with_capacity(n);
    let mut model: Vec<&str> = Vec::with_capacity(n);
    let mut q: Vec<Vec<f64>> = vec![Vec::with_capacity(n); k];
    for ((id, r), v) in ids_of.iter().zip(routes).zip(values) {
        for h in 0..weeks {
            ids.push(id);
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
