//! Writing frames to tables in one transaction: created or widened as needed, replaced whole or
//! one cycle's rows at a time, in bulk (PostgreSQL `COPY … FROM STDIN`, MySQL multi-row inserts).

use std::path::Path;

use polars::prelude::*;
use sqlx::{Connection, MySqlConnection, PgConnection};

use super::sql::{connection_url, database_error, location, runtime};
use crate::config::{DatabaseKind, DatabaseSource};
use crate::{Error, Result};

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

/// PostgreSQL's COPY text format: backslash, tab, newline and carriage return escaped.
pub(super) fn pg_text_escape(v: &str, out: &mut Vec<u8>) {
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
