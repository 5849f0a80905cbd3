//! The ingest config: a hand-edited TOML file, parsed with `deny_unknown_fields` and checked before use.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `configs/ingest/<name>.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// The raw sales file.
    pub source: SourceConfig,
    /// Which raw column holds what.
    #[serde(default)]
    pub columns: ColumnMap,
    /// Cleaning rules.
    #[serde(default)]
    pub clean: CleanConfig,
    /// An optional calendar of events.
    #[serde(default)]
    pub calendar: Option<CalendarConfig>,
}

/// Where the raw sales are: a file (`path`) or a database table (`database`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// A `.csv` or `.parquet` file, long format: one row per SKU and day (or week).
    #[serde(default)]
    pub path: PathBuf,
    /// chrono format of text dates (CSV, or text columns of a table).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// A table of a PostgreSQL or MySQL/MariaDB database instead of a file.
    pub database: Option<DatabaseSource>,
}

/// A table in a database, read in batches through its driver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSource {
    /// `postgres` or `mysql` (MySQL and MariaDB).
    pub kind: DatabaseKind,
    /// The environment variable holding the connection URL (credentials never go in a config
    /// file), e.g. `postgres://user:password@localhost/shop`.
    pub url_env: String,
    /// The table (or `schema.table`) of long-format sales, columns named by `[columns]`.
    pub table: String,
}

/// A database server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

fn default_date_format() -> String {
    "%Y-%m-%d".to_string()
}

/// Raw column names; the defaults are Nixtla's long format, so a `[columns]` section names only
/// what differs from them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnMap {
    /// The SKU id column.
    pub id: String,
    /// The date column.
    pub date: String,
    /// The demand (units) column.
    pub target: String,
    /// Price per unit (optional).
    pub price: Option<String>,
    /// Promotion flag or share, 0..1 (optional).
    pub promo: Option<String>,
    /// Page views (optional).
    pub views: Option<String>,
    /// Add-to-cart clicks (optional).
    pub clicks: Option<String>,
    /// Conversion rate (optional).
    pub conversion: Option<String>,
    /// Static attributes (category, store, ...), kept as text.
    #[serde(default, rename = "static")]
    pub statics: Vec<String>,
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            id: "unique_id".into(),
            date: "ds".into(),
            target: "y".into(),
            price: None,
            promo: None,
            views: None,
            clicks: None,
            conversion: None,
            statics: Vec::new(),
        }
    }
}

impl ColumnMap {
    /// `(canonical name, raw name)` of the covariates that are mapped, in canonical order.
    pub fn covariates(&self) -> Vec<(&'static str, &str)> {
        use restock_core::columns::*;
        [
            (PRICE, &self.price),
            (PROMO, &self.promo),
            (VIEWS, &self.views),
            (CLICKS, &self.clicks),
            (CONVERSION, &self.conversion),
        ]
        .into_iter()
        .filter_map(|(c, raw)| raw.as_deref().map(|r| (c, r)))
        .collect()
    }
}

/// What to do with rows that repeat a (SKU, date).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicatePolicy {
    /// Add their demand up (several order lines of one day).
    Sum,
    /// Stop with an error that names the first one.
    Reject,
}

/// What to do with negative demand (returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NegativePolicy {
    /// Set to zero: returns are not negative demand.
    Clip,
    /// Drop the row.
    Drop,
    /// Keep: net the returns against sales of the same week (weekly totals are floored at 0).
    Keep,
    /// Stop with an error.
    Reject,
}

/// What to do with rows whose demand is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Drop the row (the day becomes a gap, filled with zero when `fill_gaps`).
    Drop,
    /// Treat as zero demand.
    Zero,
    /// Stop with an error.
    Reject,
}

/// Per-SKU outlier rule on weekly demand. Promotion weeks are never capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierMethod {
    /// Leave demand as sold.
    None,
    /// Cap at median + threshold × 1.4826 × MAD (skipped where MAD = 0).
    RobustZ,
    /// Cap at Q3 + threshold × IQR (skipped where IQR = 0).
    Iqr,
}

/// Cleaning rules; each is reported in the quality report.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanConfig {
    /// Duplicate (SKU, date) rows.
    #[serde(default = "d_dup")]
    pub duplicates: DuplicatePolicy,
    /// Negative demand.
    #[serde(default = "d_neg")]
    pub negative: NegativePolicy,
    /// Missing demand.
    #[serde(default = "d_missing")]
    pub missing_target: MissingPolicy,
    /// Weeks between a SKU's first sale and the end of the data without rows get zero demand.
    #[serde(default = "d_true")]
    pub fill_gaps: bool,
    /// Outlier capping on weekly demand.
    #[serde(default = "d_outliers")]
    pub outliers: OutlierMethod,
    /// Threshold of the outlier rule (robust z-score or IQR multiple), > 0.
    #[serde(default = "d_threshold")]
    pub outlier_threshold: f64,
}

fn d_dup() -> DuplicatePolicy {
    DuplicatePolicy::Sum
}
fn d_neg() -> NegativePolicy {
    NegativePolicy::Clip
}
fn d_missing() -> MissingPolicy {
    MissingPolicy::Drop
}
fn d_true() -> bool {
    true
}
fn d_outliers() -> OutlierMethod {
    OutlierMethod::None
}
fn d_threshold() -> f64 {
    6.0
}

impl Default for CleanConfig {
    fn default() -> Self {
        CleanConfig {
            duplicates: d_dup(),
            negative: d_neg(),
            missing_target: d_missing(),
            fill_gaps: true,
            outliers: d_outliers(),
            outlier_threshold: d_threshold(),
        }
    }
}

/// A calendar of events: a file with one row per date and event columns (empty = no event).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarConfig {
    /// The calendar file (`.csv` or `.parquet`).
    pub path: PathBuf,
    /// Its date column.
    #[serde(default = "d_cal_date")]
    pub date: String,
    /// Columns that name an event on that day when not empty.
    pub events: Vec<String>,
}

fn d_cal_date() -> String {
    "date".into()
}

impl IngestConfig {
    /// Read and check a config file; relative paths in it are taken from the file's folder.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}"),
        })?;
        let mut cfg: IngestConfig = toml::from_str(&text).map_err(|e| Error::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        if cfg.source.database.is_none() {
            cfg.source.path = base.join(&cfg.source.path);
        }
        if let Some(cal) = &mut cfg.calendar {
            cal.path = base.join(&cal.path);
        }
        cfg.check(path)?;
        Ok(cfg)
    }

    /// Check values that serde cannot: a message names the key.
    pub fn check(&self, path: &Path) -> Result<()> {
        let bad = |message: String| {
            Err(Error::Config {
                path: path.to_path_buf(),
                message,
            })
        };
        match (
            &self.source.database,
            self.source.path.as_os_str().is_empty(),
        ) {
            (None, true) => {
                return bad("source.path (a file) or [source.database] is required".into());
            }
            (Some(_), false) => {
                return bad("give source.path or [source.database], not both".into());
            }
            (Some(db), true) => {
                if db.url_env.trim().is_empty() || db.table.trim().is_empty() {
                    return bad(
                        "source.database.url_env and source.database.table must be named".into(),
                    );
                }
            }
            (None, false) => {}
        }
        if !(self.clean.outlier_threshold > 0.0 && self.clean.outlier_threshold.is_finite()) {
            return bad(format!(
                "clean.outlier_threshold must be a positive number, got {}",
                self.clean.outlier_threshold
            ));
        }
        let c = &self.columns;
        let mut names: Vec<(&str, &str)> = vec![
            ("columns.id", &c.id),
            ("columns.date", &c.date),
            ("columns.target", &c.target),
        ];
        for (canon, raw) in c.covariates() {
            names.push((canon, raw));
        }
        for s in &c.statics {
            names.push(("columns.static", s));
        }
        for (i, (key, raw)) in names.iter().enumerate() {
            if raw.trim().is_empty() {
                return bad(format!("{key} is empty"));
            }
            if let Some((other, _)) = names[..i].iter().find(|(_, r)| r == raw) {
                return bad(format!(
                    "column `{raw}` is mapped twice ({other} and {key})"
                ));
            }
        }
        if let Some(cal) = &self.calendar
            && cal.events.is_empty()
        {
            return bad("calendar.events must name at least one column".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> std::result::Result<IngestConfig, toml::de::Error> {
        toml::from_str(s)
    }

    #[test]
    fn minimal_config_uses_defaults() {
        let cfg = parse("[source]\npath = \"a.csv\"\n").unwrap();
        assert_eq!(cfg.columns.id, "unique_id");
        assert_eq!(cfg.clean.duplicates, DuplicatePolicy::Sum);
        assert!(cfg.check(Path::new("x")).is_ok());
    }

    /// A `[columns]` section names what differs from the defaults; the rest stay defaults.
    #[test]
    fn a_columns_section_keeps_the_defaults_it_does_not_name() {
        let cfg = parse("[source]\npath = \"a.csv\"\n[columns]\nprice = \"price\"\n").unwrap();
        assert_eq!(
            (cfg.columns.id.as_str(), cfg.columns.date.as_str()),
            ("unique_id", "ds")
        );
        assert_eq!(cfg.columns.target, "y");
        assert_eq!(cfg.columns.price.as_deref(), Some("price"));
        let cfg = parse("[source]\npath = \"a.csv\"\n[columns]\nid = \"sku\"\n").unwrap();
        assert_eq!(
            (cfg.columns.id.as_str(), cfg.columns.target.as_str()),
            ("sku", "y")
        );
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = parse("[source]\npath = \"a.csv\"\n[clean]\nduplicate = \"sum\"\n").unwrap_err();
        assert!(err.to_string().contains("duplicate"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cfg = parse("[source]\npath = \"a\"\n[clean]\noutlier_threshold = -1.0\n").unwrap();
        let err = cfg.check(Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("clean.outlier_threshold"), "{err}");
        let cfg = parse("[source]\npath = \"a\"\n[columns]\nid = \"sku\"\ndate = \"d\"\ntarget = \"q\"\nprice = \"q\"\n").unwrap();
        let err = cfg.check(Path::new("c.toml")).unwrap_err().to_string();
        assert!(err.contains("mapped twice"), "{err}");
    }
}
