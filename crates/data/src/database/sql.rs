//! What both directions share: where a table is named, the connection, errors, and how each
//! server spells identifiers, text casts and the catalogue queries.

use std::path::{Path, PathBuf};

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
pub(super) struct Wanted {
    pub(super) name: String,
    pub(super) is_date: bool,
}

pub(super) fn connection_url(db: &DatabaseSource, at: &Path) -> Result<String> {
    std::env::var(&db.url_env).map_err(|_| Error::Config {
        path: at.to_path_buf(),
        message: format!(
            "source.database.url_env names {:?}, which is not set (it holds the connection URL)",
            db.url_env
        ),
    })
}

pub(super) fn runtime(at: &Path) -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| database_error(at, format!("starting the database runtime: {e}")))
}

pub(super) fn database_error(at: &Path, message: String) -> Error {
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
    pub(super) fn quote(self, name: &str) -> String {
        match self {
            DatabaseKind::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            DatabaseKind::Mysql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// `table` or `schema.table`, quoted.
    pub(super) fn quote_table(self, table: &str) -> String {
        match split_table(table) {
            (Some(schema), t) => format!("{}.{}", self.quote(schema), self.quote(t)),
            (None, t) => self.quote(t),
        }
    }

    /// A column read as text; a date column as `YYYY-MM-DD`.
    pub(super) fn as_text(self, w: &Wanted) -> String {
        let c = self.quote(&w.name);
        match (self, w.is_date) {
            (DatabaseKind::Postgres, true) => format!("to_char({c}, 'YYYY-MM-DD')"),
            (DatabaseKind::Postgres, false) => format!("{c}::text"),
            (DatabaseKind::Mysql, true) => format!("DATE_FORMAT({c}, '%Y-%m-%d')"),
            (DatabaseKind::Mysql, false) => format!("CAST({c} AS CHAR)"),
        }
    }

    /// `SELECT` of the wanted columns as text.
    pub(super) fn select_text(self, wanted: &[Wanted], table: &str) -> String {
        let cols: Vec<String> = wanted.iter().map(|w| self.as_text(w)).collect();
        format!(
            "SELECT {} FROM {}",
            cols.join(", "),
            self.quote_table(table)
        )
    }

    /// The table's (column, data type) pairs, as text, in `information_schema`.
    pub(super) fn columns_query(self, table: &str) -> String {
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
