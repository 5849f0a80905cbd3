//! Sales in a database table: PostgreSQL or MySQL/MariaDB through sqlx, read in batches of text
//! columns that go through the same validation as a file's rows, and written in bulk (to load a
//! catalogue into a table).
//!
//! The connection URL comes from the environment variable the config names (credentials are
//! never written in a config). The table and every mapped column are checked first, through
//! `information_schema`, with an error naming what is missing. PostgreSQL streams the table with
//! `COPY (SELECT …) TO STDOUT` in its text format (one line per row, tab-separated, `\N` for
//! null), parsed by polars batch by batch; MySQL streams the query's rows. Date and timestamp
//! columns are read as `YYYY-MM-DD`, whatever `source.date_format` says of text dates.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use polars::prelude::*;
use sqlx::{Connection, MySqlConnection, PgConnection, Row};

use crate::config::{DatabaseKind, DatabaseSource};
use crate::{Error, Result};

/// How a table is named in messages, where a file's path would be: `postgres:sales`.
pub fn location(db: &DatabaseSource) -> PathBuf {
    let kind = match db.kind {
        DatabaseKind::Postgres => "postgres",
        DatabaseKind::Mysql => "mysql",
    };
    PathBuf::from(format!("{kind}:{}", db.table))
}

/// A mapped column of the table, and whether it holds dates (read as `YYYY-MM-DD`).
struct Wanted {
    name: String,
    is_date: bool,
}

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

/// What a load replaces of the table.
#[derive(Debug, Clone, PartialEq)]
pub enum Replace {
    /// The whole table: dropped and created again with the frame's columns.
    Table,
    /// The rows whose `column` equals `value` (e.g. one weekly cycle's outputs): the table is
    /// created if it does not exist, those rows are deleted and the frame's rows inserted, in
    /// one transaction, so loading the same cycle twice leaves one copy.
    Rows {
        /// The key column (in the frame and the table).
        column: String,
        /// Its value, as text.
        value: String,
    },
}

/// Load `df` into the table (dates as `DATE`, numbers as `DOUBLE PRECISION` or `BIGINT`, the
/// rest as text), replacing what `replace` says. The rows go in in one transaction, so a load
/// that fails leaves the rows as they were (on MySQL a `CREATE`/`DROP` commits on its own, before
/// the rows' transaction). Returns the rows written. For `restock db-load` and the tests.
pub fn load_table(db: &DatabaseSource, df: &DataFrame, replace: &Replace) -> Result<u64> {
    load_tables(db, &[(db.table.as_str(), df)], replace, None)
}

/// Load several frames into their tables (`db.table` is not used) in **one** transaction, each
/// as [`load_table`] would: a weekly cycle's forecasts, orders, alerts and history land
/// together or not at all. `before_commit` runs after the last row is sent and before the
/// commit (the job's fault injection uses it to die there). Returns the rows written.
pub fn load_tables(
    db: &DatabaseSource,
    tables: &[(&str, &DataFrame)],
    replace: &Replace,
    before_commit: Option<&dyn Fn()>,
) -> Result<u64> {
    let at = location(db);
    let url = connection_url(db, &at)?;
    let mut loads = Vec::with_capacity(tables.len());
    for (table, df) in tables {
        if let Replace::Rows { column, .. } = replace
            && df.column(column).is_err()
        {
            return Err(database_error(
                &at,
                format!("the rows for {table} have no column {column:?} to replace by"),
            ));
        }
        loads.push((table.to_string(), TextRows::of(df, &at)?));
    }
    let fail = |e: sqlx::Error| database_error(&at, e.to_string());
    runtime(&at)?.block_on(async {
        match db.kind {
            DatabaseKind::Postgres => {
                let mut conn = PgConnection::connect(&url).await.map_err(fail)?;
                pg_load(&mut conn, &loads, replace, before_commit)
                    .await
                    .map_err(fail)
            }
            DatabaseKind::Mysql => {
                let mut conn = MySqlConnection::connect(&url).await.map_err(fail)?;
                mysql_load(&mut conn, &loads, replace, before_commit)
                    .await
                    .map_err(fail)
            }
        }
    })
}

/// Load a CSV or Parquet file into the table: the whole table replaced, or with `cycle` the
/// rows get a `cycle` date column and replace that cycle's rows ([`Replace::Rows`]).
pub fn load_file(
    db: &DatabaseSource,
    path: &Path,
    cycle: Option<chrono::NaiveDate>,
) -> Result<u64> {
    let mut lf = crate::table::scan(path)?;
    let replace = match cycle {
        None => Replace::Table,
        Some(day) => {
            lf = lf.with_column(lit(day).cast(DataType::Date).alias("cycle"));
            Replace::Rows {
                column: "cycle".into(),
                value: day.to_string(),
            }
        }
    };
    let df = lf.collect().map_err(|source| Error::Read {
        path: path.to_path_buf(),
        source,
    })?;
    load_table(db, &df, &replace)
}

/// A frame's columns as text, with the SQL type each is created as.
struct TextRows {
    names: Vec<String>,
    sql_types: Vec<&'static str>,
    text: Vec<StringChunked>,
    height: usize,
}

impl TextRows {
    fn of(df: &DataFrame, at: &Path) -> Result<Self> {
        let names = df
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let sql_types = df
            .columns()
            .iter()
            .map(|c| match c.dtype() {
                DataType::Date => "DATE",
                d if d.is_float() => "DOUBLE PRECISION",
                d if d.is_integer() => "BIGINT",
                _ => "TEXT",
            })
            .collect();
        let text = df
            .columns()
            .iter()
            .map(|c| {
                Ok(c.cast(&DataType::String)
                    .map_err(|e| database_error(at, format!("column {}: {e}", c.name())))?
                    .str()
                    .map_err(|e| database_error(at, e.to_string()))?
                    .clone())
            })
            .collect::<Result<_>>()?;
        Ok(TextRows {
            names,
            sql_types,
            text,
            height: df.height(),
        })
    }

    /// `name type, …` for a `CREATE TABLE` on `kind`.
    fn definitions(&self, kind: DatabaseKind) -> String {
        let defs: Vec<String> = self
            .names
            .iter()
            .zip(&self.sql_types)
            .map(|(n, t)| format!("{} {t}", kind.quote(n)))
            .collect();
        defs.join(", ")
    }

    fn column_list(&self, kind: DatabaseKind) -> String {
        let cols: Vec<String> = self.names.iter().map(|n| kind.quote(n)).collect();
        cols.join(", ")
    }
}

/// `ALTER TABLE … ADD COLUMN` statements for the columns of `rows` that the existing table
/// (`present` columns) lacks: an output table created by an older restock gains the new
/// columns (empty in its old rows) instead of refusing the load.
fn added_columns(
    kind: DatabaseKind,
    table: &str,
    rows: &TextRows,
    present: &[(String, String)],
) -> Vec<String> {
    rows.names
        .iter()
        .zip(&rows.sql_types)
        .filter(|(n, _)| !present.iter().any(|(p, _)| p == *n))
        .map(|(n, t)| {
            format!(
                "ALTER TABLE {} ADD COLUMN {} {t}",
                kind.quote_table(table),
                kind.quote(n)
            )
        })
        .collect()
}

/// The tables and their rows, in one transaction: DDL is transactional in PostgreSQL.
async fn pg_load(
    conn: &mut PgConnection,
    loads: &[(String, TextRows)],
    replace: &Replace,
    before_commit: Option<&dyn Fn()>,
) -> std::result::Result<u64, sqlx::Error> {
    let kind = DatabaseKind::Postgres;
    let mut tx = conn.begin().await?;
    let mut n = 0;
    for (raw, rows) in loads {
        let table = &kind.quote_table(raw);
        match replace {
            Replace::Table => {
                sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                    .execute(&mut *tx)
                    .await?;
                let sql = format!("CREATE TABLE {table} ({})", rows.definitions(kind));
                sqlx::query(&sql).execute(&mut *tx).await?;
            }
            Replace::Rows { column, value } => {
                let sql = format!(
                    "CREATE TABLE IF NOT EXISTS {table} ({})",
                    rows.definitions(kind)
                );
                sqlx::query(&sql).execute(&mut *tx).await?;
                let present: Vec<(String, String)> = sqlx::query_as(&kind.columns_query(raw))
                    .fetch_all(&mut *tx)
                    .await?;
                for sql in added_columns(kind, raw, rows, &present) {
                    sqlx::query(&sql).execute(&mut *tx).await?;
                }
                let sql = format!(
                    "DELETE FROM {table} WHERE {}::text = $1",
                    kind.quote(column)
                );
                sqlx::query(&sql).bind(value).execute(&mut *tx).await?;
            }
        }
        let statement = format!("COPY {table} ({}) FROM STDIN", rows.column_list(kind));
        let mut copy = tx.copy_in_raw(&statement).await?;
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 0..rows.height {
            for (c, col) in rows.text.iter().enumerate() {
                if c > 0 {
                    buf.push(b'\t');
                }
                match col.get(i) {
                    Some(v) => pg_text_escape(v, &mut buf),
                    None => buf.extend_from_slice(b"\\N"),
                }
            }
            buf.push(b'\n');
            if buf.len() >= 1 << 20 {
                copy.send(std::mem::take(&mut buf)).await?;
            }
        }
        copy.send(buf).await?;
        n += copy.finish().await?;
    }
    if let Some(hook) = before_commit {
        hook();
    }
    tx.commit().await?;
    Ok(n)
}

/// The tables and their rows: tables created, replaced or given missing columns first (DDL
/// commits on its own in MySQL), then every table's rows in one transaction.
async fn mysql_load(
    conn: &mut MySqlConnection,
    loads: &[(String, TextRows)],
    replace: &Replace,
    before_commit: Option<&dyn Fn()>,
) -> std::result::Result<u64, sqlx::Error> {
    let kind = DatabaseKind::Mysql;
    for (raw, rows) in loads {
        let table = kind.quote_table(raw);
        if *replace == Replace::Table {
            sqlx::query(&format!("DROP TABLE IF EXISTS {table}"))
                .execute(&mut *conn)
                .await?;
        }
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {table} ({})",
            rows.definitions(kind)
        );
        sqlx::query(&sql).execute(&mut *conn).await?;
        let present: Vec<(String, String)> = sqlx::query_as(&kind.columns_query(raw))
            .fetch_all(&mut *conn)
            .await?;
        for sql in added_columns(kind, raw, rows, &present) {
            sqlx::query(&sql).execute(&mut *conn).await?;
        }
    }
    let mut tx = conn.begin().await?;
    for (raw, rows) in loads {
        let table = &kind.quote_table(raw);
        if let Replace::Rows { column, value } = replace {
            let sql = format!(
                "DELETE FROM {table} WHERE CAST({} AS CHAR) = ?",
                kind.quote(column)
            );
            sqlx::query(&sql).bind(value).execute(&mut *tx).await?;
        }
        let k = rows.names.len().max(1);
        let per_insert = (60_000 / k).max(1);
        let placeholders = format!("({})", vec!["?"; k].join(", "));
        let mut start = 0;
        while start < rows.height {
            let end = (start + per_insert).min(rows.height);
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {}",
                rows.column_list(kind),
                vec![placeholders.as_str(); end - start].join(", ")
            );
            let mut q = sqlx::query(&sql);
            for i in start..end {
                for col in &rows.text {
                    q = q.bind(col.get(i));
                }
            }
            q.execute(&mut *tx).await?;
            start = end;
        }
    }
    if let Some(hook) = before_commit {
        hook();
    }
    tx.commit().await?;
    Ok(loads.iter().map(|(_, r)| r.height as u64).sum())
}

fn connection_url(db: &DatabaseSource, at: &Path) -> Result<String> {
    std::env::var(&db.url_env).map_err(|_| Error::Config {
        path: at.to_path_buf(),
        message: format!(
            "source.database.url_env names {:?}, which is not set (it holds the connection URL)",
            db.url_env
        ),
    })
}

fn runtime(at: &Path) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| database_error(at, format!("starting the database runtime: {e}")))
}

fn database_error(at: &Path, message: String) -> Error {
    Error::Database {
        path: at.to_path_buf(),
        message,
    }
}

/// `schema.table` split; `None`: the connection's schema (database in MySQL).
fn split_table(table: &str) -> (Option<&str>, &str) {
    match table.split_once('.') {
        Some((schema, name)) => (Some(schema), name),
        None => (None, table),
    }
}

fn sql_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// How each server spells what restock asks of it.
impl DatabaseKind {
    /// An identifier, quoted.
    fn quote(self, name: &str) -> String {
        match self {
            DatabaseKind::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            DatabaseKind::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// `table` or `schema.table`, quoted.
    fn quote_table(self, table: &str) -> String {
        match split_table(table) {
            (Some(schema), t) => format!("{}.{}", self.quote(schema), self.quote(t)),
            (None, t) => self.quote(t),
        }
    }

    /// A column read as text; a date column as `YYYY-MM-DD`.
    fn as_text(self, w: &Wanted) -> String {
        let c = self.quote(&w.name);
        match (self, w.is_date) {
            (DatabaseKind::Postgres, true) => format!("to_char({c}, 'YYYY-MM-DD')"),
            (DatabaseKind::Postgres, false) => format!("{c}::text"),
            (DatabaseKind::Mysql, true) => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
            (DatabaseKind::Mysql, false) => format!("CAST({c} AS CHAR)"),
        }
    }

    /// `SELECT` of the wanted columns as text.
    fn select_text(self, wanted: &[Wanted], table: &str) -> String {
        let cols: Vec<String> = wanted.iter().map(|w| self.as_text(w)).collect();
        format!(
            "SELECT {} FROM {}",
            cols.join(", "),
            self.quote_table(table)
        )
    }

    /// The table's (column, data type) pairs, as text, in `information_schema`.
    fn columns_query(self, table: &str) -> String {
        let (schema, name) = split_table(table);
        let (current, text) = match self {
            DatabaseKind::Postgres => ("current_schema()", "{}::text"),
            DatabaseKind::Mysql => ("database()", "CAST({} AS CHAR)"),
        };
        let schema = schema.map_or(current.to_string(), sql_string);
        let as_text = |c: &str| text.replace("{}", c);
        format!(
            "SELECT {}, {} FROM information_schema.columns WHERE table_schema = {schema} \
             AND table_name = {} ORDER BY ordinal_position",
            as_text("column_name"),
            as_text("data_type"),
            sql_string(name)
        )
    }
}

/// PostgreSQL's COPY text format: backslash, tab, newline and carriage return escaped.
fn pg_text_escape(v: &str, out: &mut Vec<u8>) {
    for b in v.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
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
fn parse_copy_text(bytes: &[u8], names: &[String], at: &Path) -> Result<DataFrame> {
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

fn unescape_copy_text(v: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_round_trip() {
        for v in [
            "plain",
            "tab\there",
            "line\nbreak",
            "back\\slash",
            "\\N",
            "cr\r",
        ] {
            let mut out = Vec::new();
            pg_text_escape(v, &mut out);
            let escaped = String::from_utf8(out).unwrap();
            assert!(
                !escaped.contains('\t') && !escaped.contains('\n'),
                "{escaped:?}"
            );
            assert_eq!(unescape_copy_text(&escaped), v);
        }
        // A batch: escaped values come back whole, `\N` is null.
        let mut bytes = Vec::new();
        for (id, v) in [("A", Some("x\ty")), ("B", None), ("C", Some("a\\b"))] {
            bytes.extend_from_slice(id.as_bytes());
            bytes.push(b'\t');
            match v {
                Some(v) => pg_text_escape(v, &mut bytes),
                None => bytes.extend_from_slice(b"\\N"),
            }
            bytes.push(b'\n');
        }
        let names = ["id".to_string(), "v".to_string()];
        let df = parse_copy_text(&bytes, &names, Path::new("postgres:t")).unwrap();
        let v: Vec<Option<&str>> = df.column("v").unwrap().str().unwrap().iter().collect();
        assert_eq!(v, vec![Some("x\ty"), None, Some("a\\b")]);
    }
}
