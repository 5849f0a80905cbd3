//! Reading a table in batches: the mapped columns checked through `information_schema`, then
//! PostgreSQL's `COPY … TO STDOUT` text parsed by polars, or MySQL's rows, on a thread of their
//! own one batch ahead of the caller.

use std::io::Cursor;
use std::path::Path;

use futures_util::TryStreamExt;
use polars::prelude::*;
use sqlx::{Connection, MySqlConnection, PgConnection, Row};

use super::sql::{Wanted, connection_url, database_error, location, runtime};
use crate::config::{DatabaseKind, DatabaseSource};
use crate::{Error, Result};

/// What the reading thread hands over: the columns' names and the dates' format first, then
/// raw batches, turned into frames on the caller's thread (polars must not run inside the
/// driver's async runtime).
enum Message {
    Columns(Vec<String>, String),
    /// Lines of PostgreSQL's COPY text format, parsed on the reading thread.
    Frame(Result<DataFrame>),
    /// MySQL rows, column by column.
    Rows(Vec<Vec<Option<String>>>),
}

/// Read `columns` (config key, column name) of the table in batches of about `rows` rows, each
/// a frame of text columns named as in the table, handed to `each` with the 0-based index of
/// its first row and the format of its dates: `dates` names the date column and the format of
/// text dates; a date or timestamp column is read as `%Y-%m-%d` text. The driver reads on its
/// own thread, one batch ahead of `each`.
pub fn for_each_batch(
    db: &DatabaseSource,
    columns: &[(&str, String)],
    dates: (&str, &str),
    rows: usize,
    each: &mut dyn FnMut(DataFrame, usize, &str) -> Result<()>,
) -> Result<()> {
    read_batches(db, (columns, &[]), dates, rows, each).map(|_| ())
}

/// Columns to read: the required and the optional (config key, column name) pairs.
type Mapped<'a, 'k> = (&'a [(&'k str, String)], &'a [(&'k str, String)]);

/// [`for_each_batch`] of the `required` columns and those of `optional` the table has, on one
/// connection; returns the names of the columns read (also when the table has no rows).
fn read_batches(
    db: &DatabaseSource,
    (required, optional): Mapped<'_, '_>,
    dates: (&str, &str),
    rows: usize,
    each: &mut dyn FnMut(DataFrame, usize, &str) -> Result<()>,
) -> Result<Vec<String>> {
    let at = location(db);
    let url = connection_url(db, &at)?;
    std::thread::scope(|scope| {
        let (send, messages) = std::sync::mpsc::sync_channel::<Message>(1);
        let reader =
            scope.spawn(|| read_table(db, &at, &url, (required, optional), dates, rows, send));
        let (mut names, mut format, mut first) = (Vec::new(), dates.1.to_string(), 0usize);
        let mut failed = None;
        for message in messages.iter() {
            let df = match message {
                Message::Columns(n, f) => {
                    (names, format) = (n, f);
                    continue;
                }
                Message::Frame(df) => df,
                Message::Rows(cols) => rows_frame(cols, &names, &at),
            };
            let done = df.and_then(|df| {
                let n = df.height();
                each(df, first, &format).map(|()| n)
            });
            match done {
                Ok(n) => first += n,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        // Gone, the receiver stops the reader at its next batch.
        drop(messages);
        let read = reader
            .join()
            .unwrap_or_else(|_| Err(database_error(&at, "the database reader panicked".into())));
        match failed {
            Some(e) => Err(e),
            None => read.map(|()| names),
        }
    })
}

/// A whole (small) table as text columns: the `required` (name, column) pairs, an error naming
/// any column the table lacks and its name, and those of `optional` it has; dates as
/// `%Y-%m-%d`; the frame's columns are the tables' names. For the weekly job's stock, open
/// orders and SKU parameters.
pub fn read_frame(
    db: &DatabaseSource,
    required: &[(&str, String)],
    optional: &[(&str, String)],
) -> Result<DataFrame> {
    let at = location(db);
    let mut frames: Option<DataFrame> = None;
    let names = read_batches(
        db,
        (required, optional),
        ("", "%Y-%m-%d"),
        1 << 16,
        &mut |df, _, _| {
            match &mut frames {
                None => frames = Some(df),
                Some(all) => {
                    all.vstack_mut(&df)
                        .map_err(|e| database_error(&at, e.to_string()))?;
                }
            }
            Ok(())
        },
    )?;
    match frames {
        Some(df) => Ok(df),
        None => {
            let empty: Vec<Column> = names
                .iter()
                .map(|c| Column::new_empty(c.as_str().into(), &DataType::String))
                .collect();
            DataFrame::new(0, empty).map_err(|e| database_error(&at, e.to_string()))
        }
    }
}

/// The reading thread: connect, check the columns, stream the rows to `send` (stopping
/// quietly when the receiver is gone).
fn read_table(
    db: &DatabaseSource,
    at: &Path,
    url: &str,
    columns: Mapped<'_, '_>,
    dates: (&str, &str),
    rows: usize,
    send: std::sync::mpsc::SyncSender<Message>,
) -> Result<()> {
    let (date_column, text_format) = dates;
    let announce = |wanted: &[Wanted]| {
        let format = if wanted.iter().any(|w| w.is_date) {
            "%Y-%m-%d"
        } else {
            text_format
        };
        let names = wanted.iter().map(|w| w.name.clone()).collect();
        send.send(Message::Columns(names, format.to_string()))
            .is_ok()
    };
    let mut pass = |m: Message| send.send(m).is_ok();
    runtime(at)?.block_on(async {
        match db.kind {
            DatabaseKind::Postgres => {
                let mut conn = PgConnection::connect(url)
                    .await
                    .map_err(|e| database_error(at, format!("connecting: {e}")))?;
                let present = sqlx::query_as(&db.kind.columns_query(&db.table))
                    .fetch_all(&mut conn)
                    .await
                    .map_err(|e| database_error(at, format!("reading the table's columns: {e}")))?;
                let wanted = check_columns(present, db, at, columns, date_column)?;
                if !announce(&wanted) {
                    return Ok(());
                }
                pg_batches(&mut conn, db, at, &wanted, rows, &mut pass).await
            }
            DatabaseKind::Mysql => {
                let mut conn = MySqlConnection::connect(url)
                    .await
                    .map_err(|e| database_error(at, format!("connecting: {e}")))?;
                let present = sqlx::query_as(&db.kind.columns_query(&db.table))
                    .fetch_all(&mut conn)
                    .await
                    .map_err(|e| database_error(at, format!("reading the table's columns: {e}")))?;
                let wanted = check_columns(present, db, at, columns, date_column)?;
                if !announce(&wanted) {
                    return Ok(());
                }
                mysql_batches(&mut conn, db, at, &wanted, rows, &mut pass).await
            }
        }
    })
}

/// The mapped columns, each required one checked to exist (an error names the missing one, its
/// config key and the columns present), and the optional ones the table has.
fn check_columns(
    present: Vec<(String, String)>,
    db: &DatabaseSource,
    at: &Path,
    (required, optional): Mapped<'_, '_>,
    date_column: &str,
) -> Result<Vec<Wanted>> {
    if present.is_empty() {
        return Err(database_error(
            at,
            format!("no table {:?} (or one without columns)", db.table),
        ));
    }
    let there = optional
        .iter()
        .filter(|(_, name)| present.iter().any(|(c, _)| c == name));
    required
        .iter()
        .chain(there)
        .map(|(key, name)| {
            let Some((_, dtype)) = present.iter().find(|(c, _)| c == name) else {
                return Err(Error::MissingColumn {
                    path: at.to_path_buf(),
                    column: name.clone(),
                    key: key.to_string(),
                    present: present
                        .iter()
                        .map(|(c, _)| c.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            let dtype = dtype.to_ascii_lowercase();
            let dated = dtype == "date" || dtype == "datetime" || dtype.starts_with("timestamp");
            Ok(Wanted {
                name: name.clone(),
                is_date: name == date_column && dated,
            })
        })
        .collect()
}

/// Stream the table through `COPY … TO STDOUT` and cut it into pieces of `rows` lines.
async fn pg_batches(
    conn: &mut PgConnection,
    db: &DatabaseSource,
    at: &Path,
    wanted: &[Wanted],
    rows: usize,
    pass: &mut dyn FnMut(Message) -> bool,
) -> Result<()> {
    let names: Vec<String> = wanted.iter().map(|w| w.name.clone()).collect();
    let kind = DatabaseKind::Postgres;
    // Without a date column to format, the table's columns are copied as they are (COPY writes
    // each type's text output, as `::text` would), which spares the server a query's executor.
    let statement = if wanted.iter().any(|w| w.is_date) {
        format!("COPY ({}) TO STDOUT", kind.select_text(wanted, &db.table))
    } else {
        let cols: Vec<String> = wanted.iter().map(|w| kind.quote(&w.name)).collect();
        format!(
            "COPY {} ({}) TO STDOUT",
            kind.quote_table(&db.table),
            cols.join(", ")
        )
    };
    let mut stream = conn
        .copy_out_raw(&statement)
        .await
        .map_err(|e| database_error(at, format!("reading: {e}")))?;
    let (mut buf, mut lines) = (Vec::<u8>::new(), 0usize);
    while let Some(bytes) = stream
        .try_next()
        .await
        .map_err(|e| database_error(at, format!("reading: {e}")))?
    {
        lines += bytes.iter().filter(|b| **b == b'\n').count();
        buf.extend_from_slice(&bytes);
        if lines >= rows {
            // Everything up to the last complete line.
            let cut = buf.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            let rest = buf.split_off(cut);
            let batch = std::mem::replace(&mut buf, rest);
            if !pass(Message::Frame(parse_copy_text(&batch, &names, at))) {
                return Ok(());
            }
            // What is left follows the last newline.
            lines = 0;
        }
    }
    if !buf.is_empty() {
        pass(Message::Frame(parse_copy_text(&buf, &names, at)));
    }
    Ok(())
}

/// COPY's text format (tab-separated, `\N` for null, backslash escapes) as text columns.
pub(super) fn parse_copy_text(bytes: &[u8], names: &[String], at: &Path) -> Result<DataFrame> {
    let schema: Schema = names
        .iter()
        .map(|n| Field::new(n.as_str().into(), DataType::String))
        .collect();
    let df = CsvReadOptions::default()
        .with_has_header(false)
        .with_schema(Some(Arc::new(schema)))
        .with_parse_options(
            CsvParseOptions::default()
                .with_separator(b'\t')
                .with_quote_char(None)
                .with_null_values(Some(NullValues::AllColumnsSingle("\\N".into()))),
        )
        .into_reader_with_file_handle(Cursor::new(bytes))
        .finish()
        .map_err(|source| Error::Read {
            path: at.to_path_buf(),
            source,
        })?;
    // Rare: a value with a backslash, tab or newline in it, escaped by COPY (`\N`, null, is
    // already a null). Only such values are rewritten.
    let columns = df
        .columns()
        .iter()
        .map(|c| {
            let ca = c.str().map_err(|source| Error::Read {
                path: at.to_path_buf(),
                source,
            })?;
            if !ca.iter().flatten().any(|v| v.contains('\\')) {
                return Ok(c.clone());
            }
            let un: StringChunked = ca
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if v.contains('\\') {
                            unescape_copy_text(v)
                        } else {
                            v.to_string()
                        }
                    })
                })
                .collect();
            Ok(un.with_name(c.name().clone()).into_column())
        })
        .collect::<Result<Vec<Column>>>()?;
    DataFrame::new(df.height(), columns).map_err(|source| Error::Read {
        path: at.to_path_buf(),
        source,
    })
}

pub(super) fn unescape_copy_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// MySQL's rows of a batch as a frame of text columns.
fn rows_frame(cols: Vec<Vec<Option<String>>>, names: &[String], at: &Path) -> Result<DataFrame> {
    let n = cols.first().map_or(0, Vec::len);
    let columns: Vec<Column> = cols
        .into_iter()
        .zip(names)
        .map(|(v, name)| Column::new(name.as_str().into(), v))
        .collect();
    DataFrame::new(n, columns).map_err(|source| Error::Read {
        path: at.to_path_buf(),
        source,
    })
}

/// Stream the query's rows and gather them into batches of `rows` rows.
async fn mysql_batches(
    conn: &mut MySqlConnection,
    db: &DatabaseSource,
    at: &Path,
    wanted: &[Wanted],
    rows: usize,
    pass: &mut dyn FnMut(Message) -> bool,
) -> Result<()> {
    let query = DatabaseKind::Mysql.select_text(wanted, &db.table);
    let empty = || vec![Vec::with_capacity(rows.min(1 << 20)); wanted.len()];
    let mut cols: Vec<Vec<Option<String>>> = empty();
    let mut stream = sqlx::query(&query).fetch(&mut *conn);
    while let Some(row) = stream
        .try_next()
        .await
        .map_err(|e| database_error(at, format!("reading: {e}")))?
    {
        for (c, col) in cols.iter_mut().enumerate() {
            let v: Option<String> = row
                .try_get(c)
                .map_err(|e| database_error(at, format!("reading: {e}")))?;
            col.push(v);
        }
        if cols[0].len() >= rows && !pass(Message::Rows(std::mem::replace(&mut cols, empty()))) {
            return Ok(());
        }
    }
    if !cols[0].is_empty() {
        pass(Message::Rows(cols));
    }
    Ok(())
}
