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

mod load;
mod read;
mod sql;

pub use load::{Replace, load_file, load_table, load_tables};
pub use read::{for_each_batch, read_frame};
pub use sql::location;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::load::pg_text_escape;
    use super::read::{parse_copy_text, unescape_copy_text};

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
