//! Reading and writing tables (CSV, Parquet) with polars. Writes are atomic: a temp file beside the
//! target, renamed over it only when complete, so an interrupted run never leaves a half file.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use polars::prelude::*;

use crate::{Error, Result};

/// The kinds of table file restock reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// Comma-separated text with a header row.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl TableFormat {
    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("csv") => Ok(TableFormat::Csv),
            Some("parquet") | Some("pq") => Ok(TableFormat::Parquet),
            _ => Err(Error::Format {
                path: path.to_path_buf(),
            }),
        }
    }
}

fn pl_path(path: &Path) -> PlRefPath {
    PlRefPath::new(path.to_string_lossy().as_ref())
}

/// A lazy scan of a table. CSV columns are all read as text, so that type errors can be reported
/// cell by cell instead of as an inference failure.
pub fn scan(path: &Path) -> Result<LazyFrame> {
    if !path.exists() {
        return Err(Error::NotFound {
            path: path.to_path_buf(),
        });
    }
    let read_err = |source| Error::Read {
        path: path.to_path_buf(),
        source,
    };
    match TableFormat::of(path)? {
        TableFormat::Csv => LazyCsvReader::new(pl_path(path))
            .with_has_header(true)
            .with_infer_schema_length(Some(0))
            .finish()
            .map_err(read_err),
        TableFormat::Parquet => {
            LazyFrame::scan_parquet(pl_path(path), ScanArgsParquet::default()).map_err(read_err)
        }
    }
}

/// The column names of a table.
pub fn column_names(path: &Path) -> Result<Vec<String>> {
    let mut lf = scan(path)?;
    let schema = lf.collect_schema().map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(schema.iter_names().map(|n| n.to_string()).collect())
}

/// Read `columns` of a table, each required: a missing one is an error naming `keys[i]`.
pub fn read_columns(path: &Path, columns: &[(&str, String)]) -> Result<DataFrame> {
    read_columns_lazy(path, columns)?
        .collect()
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })
}

/// A lazy selection of `columns`, each required (checked now, read later).
pub fn read_columns_lazy(path: &Path, columns: &[(&str, String)]) -> Result<LazyFrame> {
    let present = column_names(path)?;
    for (key, col) in columns {
        if !present.iter().any(|p| p == col) {
            let mut listed = present.join(", ");
            if let [only] = present.as_slice()
                && [';', '\t', '|'].iter().any(|sep| only.contains(*sep))
            {
                listed.push_str(" (one column: CSV files are read comma-separated)");
            }
            return Err(Error::MissingColumn {
                path: path.to_path_buf(),
                column: col.clone(),
                key: key.to_string(),
                present: listed,
            });
        }
    }
    let exprs: Vec<Expr> = columns.iter().map(|(_, c)| col(c.as_str())).collect();
    Ok(scan(path)?.select(exprs))
}

/// Batches of a table read by polars' streaming engine on its own thread, in file order, pulled
/// one at a time: memory is bounded by a few batches (the engine reads ahead by one while the
/// caller works on the last). Dropping the reader stops the engine.
pub struct BatchReader {
    path: PathBuf,
    batches: std::sync::mpsc::Receiver<DataFrame>,
    engine: Option<std::thread::JoinHandle<PolarsResult<()>>>,
}

impl std::fmt::Debug for BatchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchReader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl BatchReader {
    /// Start reading `lf` (a scan of `path`) in batches of about `rows` rows.
    pub fn start(path: &Path, lf: LazyFrame, rows: usize) -> Result<Self> {
        let (send, batches) = std::sync::mpsc::sync_channel::<DataFrame>(1);
        // The callback's `true` stops the engine: once the reader is dropped.
        let sink = lf
            .sink_batches(
                PlanCallback::new(move |df: DataFrame| Ok(send.send(df).is_err())),
                true,
                std::num::NonZeroUsize::new(rows.max(1)),
            )
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                source,
            })?;
        let engine =
            std::thread::spawn(move || sink.collect_with_engine(Engine::Streaming).map(|_| ()));
        Ok(BatchReader {
            path: path.to_path_buf(),
            batches,
            engine: Some(engine),
        })
    }

    /// The next batch; `None` at the end of the table, or the engine's error.
    pub fn next_batch(&mut self) -> Result<Option<DataFrame>> {
        if let Ok(df) = self.batches.recv() {
            return Ok(Some(df));
        }
        // The engine finished: successfully, or with the error that stopped it.
        match self.engine.take().map(std::thread::JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(None),
            Some(Ok(Err(source))) => Err(Error::Read {
                path: self.path.clone(),
                source,
            }),
            Some(Err(_)) => Err(Error::Read {
                path: self.path.clone(),
                source: PolarsError::ComputeError("the streaming reader panicked".into()),
            }),
        }
    }
}

/// Read `lf` (a scan of `path`) in batches of about `rows` rows ([`BatchReader`]), handing
/// each to `each` with the 0-based index of its first row. An error from `each` stops the read
/// and is returned.
pub fn for_each_batch(
    path: &Path,
    lf: LazyFrame,
    rows: usize,
    mut each: impl FnMut(DataFrame, usize) -> Result<()>,
) -> Result<()> {
    let mut reader = BatchReader::start(path, lf, rows)?;
    let mut offset = 0;
    while let Some(df) = reader.next_batch()? {
        let n = df.height();
        each(df, offset)?;
        offset += n;
    }
    Ok(())
}

/// Write `df` to `path` (CSV or Parquet by extension) atomically.
pub fn write(df: &mut DataFrame, path: &Path) -> Result<()> {
    let format = TableFormat::of(path)?;
    write_atomic(path, |file| {
        let mut buf = BufWriter::new(file);
        match format {
            TableFormat::Csv => CsvWriter::new(&mut buf).include_header(true).finish(df)?,
            TableFormat::Parquet => {
                ParquetWriter::new(&mut buf)
                    .with_compression(ParquetCompression::Zstd(None))
                    .finish(df)?;
            }
        }
        buf.flush().map_err(|e| PolarsError::IO {
            error: std::sync::Arc::new(e),
            msg: None,
        })?;
        Ok(())
    })
}

/// Write a text file (JSON report, ...) atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    write_atomic(path, |mut file| {
        file.write_all(text.as_bytes())
            .map_err(|e| PolarsError::IO {
                error: std::sync::Arc::new(e),
                msg: None,
            })
    })
}

/// Where an output at `path` is written before it is renamed there: a hidden name beside it,
/// unique to this process.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

fn write_atomic(path: &Path, fill: impl FnOnce(File) -> PolarsResult<()>) -> Result<()> {
    let err = |message: String| Error::Write {
        path: path.to_path_buf(),
        message,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
    }
    let tmp = temp_path(path);
    let file = File::create(&tmp).map_err(|e| err(e.to_string()))?;
    if let Err(e) = fill(file) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e.to_string()));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        err(e.to_string())
    })
}

/// Writes a table in batches, so an output of any size never sits in memory whole; the file
/// appears at its path (renamed from a temp file) only when [`BatchWriter::finish`] succeeds.
pub struct BatchWriter {
    path: PathBuf,
    tmp: PathBuf,
    inner: Option<BatchInner>,
}

enum BatchInner {
    Csv(polars::io::csv::write::BatchedWriter<File>),
    // Boxed: the Parquet writer is several times the CSV one's size.
    Parquet(Box<polars::io::parquet::write::BatchedWriter<File>>),
}

impl BatchWriter {
    /// Start writing `path` (CSV or Parquet by extension) with columns `schema`.
    pub fn create(path: &Path, schema: &Schema) -> Result<Self> {
        let err = |message: String| Error::Write {
            path: path.to_path_buf(),
            message,
        };
        let format = TableFormat::of(path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let tmp = temp_path(path);
        let file = File::create(&tmp).map_err(|e| err(e.to_string()))?;
        let inner = match format {
            TableFormat::Csv => CsvWriter::new(file)
                .include_header(true)
                .batched(schema)
                .map(BatchInner::Csv),
            TableFormat::Parquet => ParquetWriter::new(file)
                .with_compression(ParquetCompression::Zstd(None))
                .batched(schema)
                .map(|w| BatchInner::Parquet(Box::new(w))),
        }
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            err(e.to_string())
        })?;
        Ok(BatchWriter {
            path: path.to_path_buf(),
            tmp,
            inner: Some(inner),
        })
    }

    /// Append rows.
    pub fn write(&mut self, df: &DataFrame) -> Result<()> {
        let result = match self.inner.as_mut() {
            Some(BatchInner::Csv(w)) => w.write_batch(df),
            Some(BatchInner::Parquet(w)) => w.write_batch(df),
            None => Ok(()),
        };
        result.map_err(|e| Error::Write {
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// Complete the file and move it into place.
    pub fn finish(mut self) -> Result<()> {
        let err = |message: String| Error::Write {
            path: self.path.clone(),
            message,
        };
        let result = match self.inner.take() {
            Some(BatchInner::Csv(mut w)) => w.finish(),
            Some(BatchInner::Parquet(w)) => w.finish().map(|_| ()),
            None => Ok(()),
        };
        result.map_err(|e| err(e.to_string()))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| err(e.to_string()))
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        // Not finished: remove the partial temp file (after a finish it has been renamed).
        if self.inner.is_some() {
            self.inner = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_atomic_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut df = df!("a" => [1i64, 2, 3], "b" => ["x", "y", "z"]).unwrap();
        for name in ["t.parquet", "t.csv"] {
            let p = dir.path().join(name);
            write(&mut df, &p).unwrap();
            let back = read_columns(&p, &[("k", "b".to_string())]).unwrap();
            assert_eq!(back.height(), 3);
            let err = read_columns(&p, &[("columns.id", "nope".to_string())])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("nope") && err.contains("columns.id") && err.contains(name),
                "{err}"
            );
        }
        // Only the final files remain: no temp files.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(matches!(
            TableFormat::of(Path::new("a.txt")),
            Err(Error::Format { .. })
        ));
    }

    #[test]
    fn batches_come_in_order_and_an_error_stops_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let n = 10_000i64;
        let mut df = df!("a" => (0..n).collect::<Vec<_>>()).unwrap();
        for name in ["b.parquet", "b.csv"] {
            let p = dir.path().join(name);
            write(&mut df, &p).unwrap();
            let mut seen = Vec::new();
            let mut batches = 0;
            for_each_batch(&p, scan(&p).unwrap(), 1000, |b, first| {
                let col = b.column("a").unwrap().cast(&DataType::Int64).unwrap();
                let a: Vec<i64> = col.i64().unwrap().into_no_null_iter().collect();
                assert_eq!(a[0], first as i64, "{name}: a batch's first row");
                seen.extend(a);
                batches += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{name}");
            assert!(batches >= 2, "{name}: {batches} batches");
            let err = for_each_batch(&p, scan(&p).unwrap(), 1000, |_, first| {
                if first > 0 {
                    return Err(Error::Empty {
                        path: p.clone(),
                        why: "stop".into(),
                    });
                }
                Ok(())
            })
            .unwrap_err();
            assert!(err.to_string().contains("stop"), "{err}");
        }
    }
}
