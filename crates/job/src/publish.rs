//! The cycle's outputs in the database: forecasts, orders, alerts, history and the cycle's own
//! row, each table's rows of the cycle replaced, all tables in one transaction.

use polars::prelude::*;
use restock_core::Week;
use restock_data::database::{self, Replace};

use crate::config::Connection;
use crate::record::CycleRecord;
use crate::{Error, Result};

/// The tables' names after their prefix, in the order they are written.
pub const TABLES: [&str; 5] = ["forecasts", "orders", "alerts", "history", "cycles"];

/// The frames, in the order of [`TABLES`] (without their `cycle` column), written with
/// `before_commit` run just before the commit. Returns the rows written.
pub(crate) fn publish(
    db: &Connection,
    prefix: &str,
    week: Week,
    frames: [DataFrame; 4],
    record: &CycleRecord,
    before_commit: Option<&dyn Fn()>,
) -> Result<u64> {
    let mut all: Vec<DataFrame> = frames.into_iter().collect();
    all.push(record_frame(record)?);
    let day = week.monday();
    let with_cycle = all
        .into_iter()
        .map(|df| {
            let cycle = Column::new("cycle".into(), vec![day; df.height()]);
            let mut columns = vec![cycle];
            columns.extend(df.columns().iter().filter(|c| c.name() != "cycle").cloned());
            DataFrame::new(df.height(), columns).map_err(restock_data::Error::from_polars)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let names: Vec<String> = TABLES.iter().map(|t| format!("{prefix}{t}")).collect();
    let tables: Vec<(&str, &DataFrame)> = names
        .iter()
        .map(String::as_str)
        .zip(with_cycle.iter())
        .collect();
    let replace = Replace::Rows {
        column: "cycle".into(),
        value: day.to_string(),
    };
    Ok(database::load_tables(
        &db.table(&names[0]),
        &tables,
        &replace,
        before_commit,
    )?)
}

fn record_frame(r: &CycleRecord) -> Result<DataFrame> {
    let text = |name: &str, v: &str| Column::new(name.into(), [v]);
    let number = |name: &str, v: f64| Column::new(name.into(), [v]);
    let count = |name: &str, v: usize| Column::new(name.into(), [v as i64]);
    DataFrame::new(
        1,
        vec![
            text("data_end", &r.data_end),
            count("skus", r.skus),
            text("model", &r.model),
            number("valid_loss", r.valid_loss),
            count("orders_now", r.orders_now),
            number("orders_now_cost", r.orders_now_cost),
            count("order_lines", r.order_lines),
            count("stockout_alerts", r.stockout_alerts),
            count("overstock_alerts", r.overstock_alerts),
            text("plan_status", &r.plan_status),
            number("units_ordered", r.units_ordered),
            number("purchase_cost", r.purchase_cost),
            number("holding_cost", r.holding_cost),
            number("shortage_cost", r.shortage_cost),
            number("total_cost", r.total_cost),
        ],
    )
    .map_err(|e| Error::from(restock_data::Error::from_polars(e)))
}
