//! The files of a synthetic catalogue (`restock synth`, [`SynthCatalogue::write`]): the daily
//! sales, the calendar, the demand process kept as truth, the known future, the oracle
//! forecast, the planning inputs and the ingest config. Generation is in `synth`; this module
//! only turns a generated catalogue into frames and files.

use std::path::Path;

use polars::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use restock_core::columns;

use crate::error::PolarsContext;
use crate::synth::{CATEGORIES, SkuKind, SynthCatalogue, dispersion, events_of_week, nb_quantile};
use crate::{Error, Result, table};

impl SynthCatalogue {
    /// Write all files into `dir` (created if needed).
    pub fn write(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::Write {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        table::write(&mut self.sales_frame()?, &dir.join("sales.csv"))?;
        table::write(&mut self.calendar_frame()?, &dir.join("calendar.csv"))?;
        table::write(&mut self.truth_frame()?, &dir.join("truth.parquet"))?;
        table::write(
            &mut self.known_future_frame()?,
            &dir.join("known_future.csv"),
        )?;
        table::write(
            &mut self.oracle_forecast_frame(&[0.1, 0.5, 0.9])?,
            &dir.join("oracle_forecast.parquet"),
        )?;
        let (mut inv, mut open, mut params) = self.planning_frames()?;
        table::write(&mut inv, &dir.join("inventory.csv"))?;
        table::write(&mut open, &dir.join("open_orders.csv"))?;
        table::write(&mut params, &dir.join("sku_params.csv"))?;
        table::write_text(&dir.join("ingest.toml"), INGEST_TOML)?;
        Ok(())
    }

    /// Daily sales rows of the history.
    pub fn sales_frame(&self) -> Result<DataFrame> {
        let cfg = &self.config;
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0xD1_27);
        let mut id = Vec::new();
        let mut ds: Vec<String> = Vec::new();
        let mut y: Vec<f64> = Vec::new();
        let mut price: Vec<Option<f64>> = Vec::new();
        let mut promo = Vec::new();
        let mut views = Vec::new();
        let mut clicks = Vec::new();
        let mut cat = Vec::new();
        let mut store = Vec::new();
        for s in &self.skus {
            let last = if s.kind == SkuKind::Discontinued {
                s.mu[..cfg.weeks]
                    .iter()
                    .rposition(|m| *m > 0.0)
                    .map(|t| t + 1)
                    .unwrap_or(0)
            } else {
                cfg.weeks
            };
            for t in s.launch.min(cfg.weeks)..last {
                let week = cfg.start.offset(t as i64);
                for d in 0..7 {
                    let day = week.monday() + chrono::Days::new(d as u64);
                    let mut qty = s.daily[t * 7 + d];
                    let mut p = Some((s.price[t] * 100.0).round() / 100.0);
                    let mut rows = 1;
                    if cfg.dirty {
                        let u: f64 = rng.random();
                        if u < 0.003 && qty >= 2.0 {
                            rows = 2; // the day's sales recorded as two rows
                        } else if u < 0.005 && qty == 0.0 {
                            qty = -1.0; // a return on a day without sales
                        } else if u < 0.015 {
                            p = None; // price not recorded
                        }
                    }
                    let parts = if rows == 2 {
                        vec![(qty / 2.0).floor(), qty - (qty / 2.0).floor()]
                    } else {
                        vec![qty]
                    };
                    for part in parts {
                        id.push(s.unique_id.clone());
                        ds.push(day.to_string());
                        y.push(part);
                        price.push(p);
                        promo.push(if s.promo[t] > 0.0 { 1.0 } else { 0.0 });
                        views.push((s.views[t] / 7.0).round());
                        clicks.push((s.clicks[t] / 7.0).round());
                        cat.push(s.category);
                        store.push(s.store);
                    }
                }
            }
        }
        let n = id.len();
        DataFrame::new(
            n,
            vec![
                Column::new(columns::UNIQUE_ID.into(), id),
                Column::new(columns::DS.into(), ds),
                Column::new(columns::Y.into(), y),
                Column::new(columns::PRICE.into(), price),
                Column::new(columns::PROMO.into(), promo),
                Column::new(columns::VIEWS.into(), views),
                Column::new(columns::CLICKS.into(), clicks),
                Column::new("category".into(), cat),
                Column::new("store".into(), store),
            ],
        )
        .ctx(|| "synthetic sales".into())
    }

    fn calendar_frame(&self) -> Result<DataFrame> {
        let mut date = Vec::new();
        let mut event: Vec<Option<&str>> = Vec::new();
        for t in 0..self.config.weeks + self.config.horizon {
            let week = self.config.start.offset(t as i64);
            let ev = events_of_week(week);
            for d in 0..7 {
                let day = week.day_number() + d;
                date.push((week.monday() + chrono::Days::new(d as u64)).to_string());
                event.push(ev.iter().find(|(x, _)| *x == day).map(|(_, n)| *n));
            }
        }
        DataFrame::new(
            date.len(),
            vec![
                Column::new("date".into(), date),
                Column::new("event".into(), event),
            ],
        )
        .ctx(|| "synthetic calendar".into())
    }

    /// Weekly truth: `unique_id, ds, mu, y, price, promo, views, clicks, split`, from each SKU's launch.
    pub fn truth_frame(&self) -> Result<DataFrame> {
        let cfg = &self.config;
        let (mut id, mut ds, mut mu, mut y, mut price, mut promo, mut split) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut kind = vec![];
        for s in &self.skus {
            for t in s.launch..cfg.weeks + cfg.horizon {
                id.push(s.unique_id.as_str());
                ds.push(cfg.start.offset(t as i64).day_number());
                mu.push(s.mu[t]);
                y.push(s.y[t]);
                price.push(s.price[t]);
                promo.push(s.promo[t]);
                split.push(if t < cfg.weeks { "history" } else { "future" });
                kind.push(s.kind.as_str());
            }
        }
        DataFrame::new(
            id.len(),
            vec![
                Column::new(columns::UNIQUE_ID.into(), id),
                Column::new(columns::DS.into(), ds)
                    .cast(&DataType::Date)
                    .ctx(|| "ds".into())?,
                Column::new("mu".into(), mu),
                Column::new(columns::Y.into(), y),
                Column::new(columns::PRICE.into(), price),
                Column::new(columns::PROMO.into(), promo),
                Column::new("split".into(), split),
                Column::new("kind".into(), kind),
            ],
        )
        .ctx(|| "synthetic truth".into())
    }

    /// The plan of the future weeks, known in advance: `unique_id, ds, event_days, price, promo`.
    pub fn known_future_frame(&self) -> Result<DataFrame> {
        let cfg = &self.config;
        let (mut id, mut ds, mut events, mut price, mut promo) =
            (vec![], vec![], vec![], vec![], vec![]);
        for s in &self.skus {
            for t in cfg.weeks..cfg.weeks + cfg.horizon {
                id.push(s.unique_id.as_str());
                ds.push(cfg.start.offset(t as i64).to_string());
                events.push(self.event_days[t]);
                price.push(s.price[t]);
                promo.push(s.promo[t]);
            }
        }
        DataFrame::new(
            id.len(),
            vec![
                Column::new(columns::UNIQUE_ID.into(), id),
                Column::new(columns::DS.into(), ds),
                Column::new(columns::EVENT_DAYS.into(), events),
                Column::new(columns::PRICE.into(), price),
                Column::new(columns::PROMO.into(), promo),
            ],
        )
        .ctx(|| "synthetic known future".into())
    }

    /// True quantiles of the future weeks (negative binomial around `mu`).
    pub fn oracle_forecast_frame(&self, levels: &[f64]) -> Result<DataFrame> {
        let cfg = &self.config;
        let mut id = vec![];
        let mut ds = vec![];
        let mut q: Vec<Vec<f64>> = vec![vec![]; levels.len()];
        for s in &self.skus {
            let k = dispersion(s.kind);
            for t in cfg.weeks..cfg.weeks + cfg.horizon {
                id.push(s.unique_id.as_str());
                ds.push(cfg.start.offset(t as i64).day_number());
                for (j, level) in levels.iter().enumerate() {
                    q[j].push(nb_quantile(s.mu[t], k, *level));
                }
            }
        }
        let n = id.len();
        let mut cols = vec![
            Column::new(columns::UNIQUE_ID.into(), id),
            Column::new(columns::DS.into(), ds)
                .cast(&DataType::Date)
                .ctx(|| "ds".into())?,
            Column::new(columns::MODEL.into(), vec!["oracle"; n]),
        ];
        for (level, v) in levels.iter().zip(q) {
            cols.push(Column::new(columns::quantile_column(*level).into(), v));
        }
        DataFrame::new(n, cols).ctx(|| "oracle forecast".into())
    }

    /// Inventory snapshot, open purchase orders and SKU parameters at the end of the history.
    pub fn planning_frames(&self) -> Result<(DataFrame, DataFrame, DataFrame)> {
        let cfg = &self.config;
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x1A_7E);
        let next_week = cfg.start.offset(cfg.weeks as i64);
        let (mut iid, mut on_hand) = (vec![], vec![]);
        let (mut oid, mut arrival, mut qty) = (vec![], vec![], vec![]);
        let (mut pid, mut cost, mut price, mut lead, mut pack, mut moq, mut sup, mut vol) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for s in &self.skus {
            let recent = s.mu[cfg.weeks.saturating_sub(4)..cfg.weeks]
                .iter()
                .sum::<f64>()
                / 4.0;
            let case_pack: i64 = match recent {
                r if r >= 60.0 => 24,
                r if r >= 15.0 => 12,
                r if r >= 3.0 => 6,
                _ => 1,
            };
            iid.push(s.unique_id.as_str());
            on_hand.push((recent * rng.random_range(0.0..3.0)).round());
            if rng.random::<f64>() < 0.3 && recent > 0.0 {
                oid.push(s.unique_id.as_str());
                arrival.push(next_week.offset(rng.random_range(0..2)).day_number());
                qty.push(
                    ((recent * 2.0 / case_pack as f64).ceil() * case_pack as f64)
                        .max(case_pack as f64),
                );
            }
            pid.push(s.unique_id.as_str());
            cost.push((s.unit_cost * 100.0).round() / 100.0);
            price.push((s.base_price * 100.0).round() / 100.0);
            lead.push(rng.random_range(1..=4i64));
            pack.push(case_pack);
            moq.push(if rng.random::<f64>() < 0.3 {
                case_pack * rng.random_range(2..=4i64)
            } else {
                0
            });
            sup.push(format!(
                "supplier_{}",
                CATEGORIES
                    .iter()
                    .position(|c| *c == s.category)
                    .unwrap_or(0)
                    + 1
            ));
            vol.push((rng.random_range(0.001..0.05f64) * 1000.0).round() / 1000.0);
        }
        let inv = DataFrame::new(
            iid.len(),
            vec![
                Column::new(columns::UNIQUE_ID.into(), iid),
                Column::new("on_hand".into(), on_hand),
            ],
        )
        .ctx(|| "inventory".into())?;
        let open = DataFrame::new(
            oid.len(),
            vec![
                Column::new(columns::UNIQUE_ID.into(), oid),
                Column::new("arrival_ds".into(), arrival)
                    .cast(&DataType::Date)
                    .ctx(|| "arrival".into())?,
                Column::new("quantity".into(), qty),
            ],
        )
        .ctx(|| "open orders".into())?;
        let params = DataFrame::new(
            pid.len(),
            vec![
                Column::new(columns::UNIQUE_ID.into(), pid),
                Column::new("unit_cost".into(), cost),
                Column::new("unit_price".into(), price),
                Column::new("lead_time_weeks".into(), lead),
                Column::new("case_pack".into(), pack),
                Column::new("moq".into(), moq),
                Column::new("supplier".into(), sup),
                Column::new("unit_volume".into(), vol),
            ],
        )
        .ctx(|| "sku params".into())?;
        Ok((inv, open, params))
    }
}

const INGEST_TOML: &str = r#"# Ingest config for the synthetic catalogue written by `restock synth`.
[source]
path = "sales.csv"
date_format = "%Y-%m-%d"

[columns]
id = "unique_id"
date = "ds"
target = "y"
price = "price"
promo = "promo"
views = "views"
clicks = "clicks"
static = ["category", "store"]

[clean]
duplicates = "sum"
negative = "clip"
missing_target = "drop"
fill_gaps = true
outliers = "none"

[calendar]
path = "calendar.csv"
date = "date"
events = ["event"]
"#;
