//! A seeded synthetic catalogue with a known demand process, for tests, the demo and benchmarks.
//!
//! Each SKU has a level, a trend, yearly seasonality, price changes and promotions that move demand
//! through a price elasticity, calendar events, and behaviour signals (page views, add-to-cart
//! clicks) that lead demand by one week. Some SKUs are intermittent, some are new launches with a
//! short history, some are discontinued. Weekly demand is negative binomial around the known mean
//! `mu` (a gamma-Poisson mixture), split into days. SKU `i` is the same whatever the catalogue size.
//!
//! Files written by [`SynthCatalogue::write`] (in `synth_files`, which only turns a generated
//! catalogue into frames):
//! - `sales.csv` — daily long format `unique_id, ds, y, price, promo, views, clicks, category, store`
//!   (with a few dirty rows when asked: split duplicates, returns on zero days, blank prices);
//! - `calendar.csv` — `date, event` for the history and the future weeks;
//! - `known_future.csv` — `unique_id, ds, event_days, price, promo` of the `horizon` future weeks:
//!   the plan a buyer knows in advance (`restock forecast --future`);
//! - `truth.parquet` — weekly `unique_id, ds, mu, y, price, promo, split` for history and the
//!   `horizon` future weeks (`split` = `history` | `future`), the demand process kept for tests;
//! - `oracle_forecast.parquet` — `unique_id, ds, model, q10, q50, q90`: the true quantiles of the
//!   future weeks, a forecast the planner can use before any model exists;
//! - `inventory.csv` (`unique_id, on_hand`), `open_orders.csv` (`unique_id, arrival_ds, quantity`),
//!   `sku_params.csv` (`unique_id, unit_cost, unit_price, lead_time_weeks, case_pack, moq,
//!   supplier, unit_volume`);
//! - `ingest.toml` — the ingest config for `sales.csv`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution, Gamma, LogNormal, Normal, Poisson};
use restock_core::Week;

use crate::{Error, Result};

/// Parameters of a synthetic catalogue.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Number of SKUs, >= 1.
    pub skus: usize,
    /// Weeks of history, >= 8.
    pub weeks: usize,
    /// Future weeks kept as truth (actuals and oracle forecast), 1..=104.
    pub horizon: usize,
    /// Random seed.
    pub seed: u64,
    /// First week of history.
    pub start: Week,
    /// Add dirty rows (duplicates, returns, blank prices) that ingest must clean.
    pub dirty: bool,
}

/// 2023-01-02, a Monday, as days since 1970-01-01: the first week of generated catalogues.
const FIRST_MONDAY: i32 = 19_359;

/// A sampling distribution whose parameters derive from the config; out-of-range parameters
/// (an absurdly long history drives the trend out of range) are an error naming the SKU.
fn dist<D, E: std::fmt::Display>(
    d: std::result::Result<D, E>,
    sku: usize,
    what: &str,
) -> Result<D> {
    d.map_err(|e| Error::Param {
        name: "weeks",
        message: format!("SKU {sku}: the {what} distribution cannot be built: {e}"),
    })
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            skus: 200,
            weeks: 156,
            horizon: 8,
            seed: 42,
            start: Week::containing_day(FIRST_MONDAY),
            dirty: true,
        }
    }
}

/// The kind of demand a SKU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkuKind {
    /// Steady seller.
    Regular,
    /// Sells in few weeks.
    Intermittent,
    /// Launched late in the history.
    NewLaunch,
    /// Stops selling before the end.
    Discontinued,
}

impl SkuKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SkuKind::Regular => "regular",
            SkuKind::Intermittent => "intermittent",
            SkuKind::NewLaunch => "new_launch",
            SkuKind::Discontinued => "discontinued",
        }
    }
}

/// Negative-binomial shape by kind (smaller = more dispersed).
pub(crate) fn dispersion(kind: SkuKind) -> f64 {
    if kind == SkuKind::Intermittent {
        0.8
    } else {
        6.0
    }
}

const WEEKDAY_SHARE: [f64; 7] = [0.12, 0.12, 0.13, 0.14, 0.16, 0.18, 0.15];
pub(crate) const CATEGORIES: [&str; 4] = ["grocery", "household", "toys", "garden"];
const STORES: [&str; 3] = ["north", "south", "online"];

/// One generated SKU.
#[derive(Debug, Clone)]
pub struct SynthSku {
    /// Its id, `SKU00042`.
    pub unique_id: String,
    /// Its kind.
    pub kind: SkuKind,
    /// Category.
    pub category: &'static str,
    /// Store.
    pub store: &'static str,
    /// First week it sells (index into history + future).
    pub launch: usize,
    /// Expected weekly demand, history then future.
    pub mu: Vec<f64>,
    /// Sampled weekly demand.
    pub y: Vec<f64>,
    /// Shelf price per week.
    pub price: Vec<f64>,
    /// Promotion share of the week, 0..1.
    pub promo: Vec<f64>,
    /// Page views per week.
    pub views: Vec<f64>,
    /// Add-to-cart clicks per week.
    pub clicks: Vec<f64>,
    /// Daily demand for the history weeks (`7 * weeks` values; zeros before launch).
    pub daily: Vec<f64>,
    /// Unit cost.
    pub unit_cost: f64,
    /// Regular unit price at the start.
    pub base_price: f64,
}

/// A generated catalogue.
#[derive(Debug, Clone)]
pub struct SynthCatalogue {
    /// The parameters.
    pub config: SynthConfig,
    /// The SKUs.
    pub skus: Vec<SynthSku>,
    /// Event days per week over history + future.
    pub event_days: Vec<f64>,
}

/// Days of week `w` (index from start) that carry an event: a fixed yearly calendar.
pub(crate) fn events_of_week(week: Week) -> Vec<(i32, &'static str)> {
    use chrono::Datelike;
    let mut out = Vec::new();
    for d in 0..7 {
        let date = week.monday() + chrono::Days::new(d);
        let name = match (date.month(), date.day()) {
            (1, 1) => Some("new_year"),
            (2, 14) => Some("valentines"),
            (7, 4) => Some("summer_sale"),
            (10, 31) => Some("halloween"),
            (11, 24..=30) if date.weekday() == chrono::Weekday::Fri => Some("black_friday"),
            (12, 24..=26) => Some("christmas"),
            _ => None,
        };
        if let Some(n) = name {
            out.push((week.day_number() + d as i32, n));
        }
    }
    out
}

impl SynthCatalogue {
    /// Generate a catalogue.
    pub fn generate(config: &SynthConfig) -> Result<Self> {
        if config.skus == 0 {
            return Err(Error::Param {
                name: "skus",
                message: "needs at least 1 SKU, got 0".into(),
            });
        }
        if config.weeks < 8 {
            return Err(Error::Param {
                name: "weeks",
                message: format!("needs at least 8 weeks, got {}", config.weeks),
            });
        }
        if config.horizon == 0 || config.horizon > 104 {
            return Err(Error::Param {
                name: "horizon",
                message: format!("must be between 1 and 104 weeks, got {}", config.horizon),
            });
        }
        let total = config.weeks + config.horizon;
        let event_days: Vec<f64> = (0..total)
            .map(|t| events_of_week(config.start.offset(t as i64)).len() as f64)
            .collect();
        let skus = (0..config.skus)
            .map(|i| generate_sku(config, i, &event_days))
            .collect::<Result<_>>()?;
        Ok(SynthCatalogue {
            config: config.clone(),
            skus,
            event_days,
        })
    }

    /// The history weeks' first and last Monday.
    pub fn history(&self) -> (Week, Week) {
        (
            self.config.start,
            self.config.start.offset(self.config.weeks as i64 - 1),
        )
    }
}

fn generate_sku(cfg: &SynthConfig, i: usize, event_days: &[f64]) -> Result<SynthSku> {
    let mut rng =
        StdRng::seed_from_u64(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (i as u64 + 1));
    let total = cfg.weeks + cfg.horizon;
    let r: f64 = rng.random();
    let kind = match r {
        r if r < 0.62 => SkuKind::Regular,
        r if r < 0.82 => SkuKind::Intermittent,
        r if r < 0.93 => SkuKind::NewLaunch,
        _ => SkuKind::Discontinued,
    };
    let cat_idx = rng.random_range(0..CATEGORIES.len());
    let store = STORES[rng.random_range(0..STORES.len())];
    let level = match kind {
        SkuKind::Intermittent => rng.random_range(0.15..1.2),
        _ => dist(LogNormal::new(20f64.ln(), 0.9), i, "level")?
            .sample(&mut rng)
            .min(2000.0),
    };
    let trend = dist(Normal::new(0.0, 0.002), i, "trend")?.sample(&mut rng);
    let amplitude = rng.random_range(0.0..0.5);
    let phase = [0.9, 0.3, 0.95, 0.45][cat_idx] + rng.random_range(-0.05..0.05);
    let elasticity = rng.random_range(1.0..3.0);
    let event_lift = [1.3, 1.1, 1.8, 1.0][cat_idx];
    let base_price: f64 = dist(LogNormal::new(8f64.ln(), 0.6), i, "price")?.sample(&mut rng);
    let unit_cost = base_price * rng.random_range(0.45..0.7);
    let launch = match kind {
        SkuKind::NewLaunch => cfg.weeks - rng.random_range(2..=cfg.weeks.min(30)),
        _ => 0,
    };
    let stop = match kind {
        SkuKind::Discontinued => cfg.weeks - rng.random_range(4..cfg.weeks.min(40)),
        _ => usize::MAX,
    };
    let promo_rate = if kind == SkuKind::Intermittent {
        0.02
    } else {
        0.07
    };

    let mut regular = base_price;
    let mut regular_price = vec![0.0; total];
    let mut price = vec![0.0; total];
    let mut promo = vec![0.0; total];
    let mut mu = vec![0.0; total];
    let mut t = 0;
    while t < total {
        if rng.random::<f64>() < 1.0 / 52.0 {
            regular *= rng.random_range(0.9..1.12);
        }
        price[t] = regular;
        regular_price[t] = regular;
        if rng.random::<f64>() < promo_rate {
            let depth = rng.random_range(0.1..0.4);
            let len = rng.random_range(1..=2);
            for k in t..(t + len).min(total) {
                price[k] = regular * (1.0 - depth);
                regular_price[k] = regular;
                promo[k] = 1.0;
            }
            t += len;
            continue;
        }
        t += 1;
    }
    for t in 0..total {
        if t < launch || t >= stop {
            continue;
        }
        let week = cfg.start.offset(t as i64);
        let season =
            1.0 + amplitude * (2.0 * std::f64::consts::PI * (week.year_fraction() - phase)).sin();
        let ramp = if kind == SkuKind::NewLaunch {
            ((t - launch + 1) as f64 / 4.0).min(1.0)
        } else {
            1.0
        };
        // Discounts move demand with the full elasticity, regular price changes with half of it.
        let discount = (price[t] / regular_price[t]).clamp(0.3, 1.0);
        let price_effect = discount.powf(-elasticity)
            * (regular_price[t] / base_price)
                .clamp(0.5, 2.0)
                .powf(-0.5 * elasticity);
        let events = 1.0 + (event_lift - 1.0) * (event_days[t] / 2.0).min(1.0);
        mu[t] = level * (trend * t as f64).exp() * season * ramp * price_effect * events;
    }
    let k = dispersion(kind);
    let mut y = vec![0.0; total];
    let mut daily = vec![0.0; cfg.weeks * 7];
    for t in 0..total {
        if mu[t] <= 0.0 {
            continue;
        }
        let g = dist(Gamma::new(k, 1.0 / k), i, "dispersion")?.sample(&mut rng);
        let w = dist(Poisson::new((mu[t] * g).max(1e-12)), i, "demand")?.sample(&mut rng);
        y[t] = w;
        if t < cfg.weeks {
            let mut left = w as u64;
            let mut share_left = 1.0;
            for (d, share) in WEEKDAY_SHARE.iter().enumerate() {
                let x = if d == 6 || left == 0 {
                    left
                } else {
                    dist(
                        Binomial::new(left, (share / share_left).clamp(0.0, 1.0)),
                        i,
                        "weekday split",
                    )?
                    .sample(&mut rng)
                };
                daily[t * 7 + d] = x as f64;
                left -= x;
                share_left -= share;
            }
        }
    }
    // Behaviour leads demand: this week's views reflect next week's demand rate.
    let views_per_unit = rng.random_range(15.0..40.0);
    let mut views = vec![0.0; total];
    let mut clicks = vec![0.0; total];
    for t in 0..total {
        let next = mu[(t + 1).min(total - 1)];
        if t + 1 < launch || next <= 0.0 {
            continue;
        }
        views[t] = dist(Poisson::new(next * views_per_unit + 1.0), i, "views")?.sample(&mut rng);
        clicks[t] =
            dist(Binomial::new(views[t] as u64, 0.08), i, "clicks")?.sample(&mut rng) as f64;
    }
    Ok(SynthSku {
        unique_id: format!("SKU{i:05}"),
        kind,
        category: CATEGORIES[cat_idx],
        store,
        launch,
        mu,
        y,
        price,
        promo,
        views,
        clicks,
        daily,
        unit_cost,
        base_price,
    })
}

/// Quantile of a negative binomial with mean `mu` and shape `k` (variance mu + mu²/k).
pub fn nb_quantile(mu: f64, k: f64, q: f64) -> f64 {
    if mu <= 0.0 {
        return 0.0;
    }
    let p = k / (k + mu);
    let mut pmf = p.powf(k);
    let mut cdf = pmf;
    let mut x = 0.0;
    while cdf < q && x < 1e7 {
        pmf *= (x + k) / (x + 1.0) * (1.0 - p);
        x += 1.0;
        cdf += pmf;
        if pmf < 1e-300 && cdf < q {
            break;
        }
    }
    x
}

/// A weekly dataset of `skus` simple series over `weeks` weeks, built directly (no daily sales,
/// no ingest), for speed and memory benchmarks of inference on large catalogues: Poisson demand
/// around a seasonal level, with intermittent (a fifth), discontinued (one in twenty: no sale
/// in the last year) and new SKUs (one in twenty: 2 to 6 weeks of history); a `category`
/// static attribute. Seeded; SKU `i` is the same whatever `skus` is.
pub fn weekly_catalogue(skus: usize, weeks: usize, seed: u64) -> Result<crate::WeeklyDataset> {
    let first = Week::containing_day(FIRST_MONDAY);
    let last = first.offset(weeks as i64 - 1);
    let series = (0..skus)
        .map(|i| {
            let mut rng =
                StdRng::seed_from_u64(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let kind = rng.random_range(0..20u32);
            let level: f64 = dist(LogNormal::new(1.0, 1.0), i, "level")?.sample(&mut rng);
            let phase = rng.random_range(0.0..std::f64::consts::TAU);
            let amplitude = rng.random_range(0.0..0.5);
            let len = if kind == 0 {
                rng.random_range(2..=6).min(weeks)
            } else {
                weeks
            };
            let start = last.offset(1 - len as i64);
            let y = (0..len)
                .map(|t| {
                    let week = start.offset(t as i64);
                    let season = 1.0
                        + amplitude * (std::f64::consts::TAU * week.year_fraction() + phase).sin();
                    let mut mu = level * season;
                    if kind <= 4 {
                        mu *= if rng.random_bool(0.2) { 5.0 } else { 0.0 };
                    }
                    if kind == 5 && t + 52 >= len && t > 0 {
                        mu = 0.0;
                    }
                    let v = if mu > 0.0 {
                        Poisson::new(mu).map(|p| p.sample(&mut rng)).unwrap_or(0.0)
                    } else {
                        0.0
                    };
                    // A series starts at its first sale.
                    if t == 0 { v.max(1.0) } else { v }
                })
                .collect();
            Ok(crate::SkuSeries {
                unique_id: format!("SKU_{i:07}"),
                start,
                y,
                covariates: Vec::new(),
                statics: vec![format!("C{:02}", i % 10)],
            })
        })
        .collect::<Result<_>>()?;
    Ok(crate::WeeklyDataset {
        first_week: first,
        last_week: last,
        covariates: Vec::new(),
        statics: vec!["category".into()],
        event_days: None,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_catalogue_and_prefix_stable() {
        let cfg = SynthConfig {
            skus: 20,
            weeks: 60,
            ..Default::default()
        };
        let a = SynthCatalogue::generate(&cfg).unwrap();
        let b = SynthCatalogue::generate(&SynthConfig {
            skus: 30,
            ..cfg.clone()
        })
        .unwrap();
        for i in 0..20 {
            assert_eq!(a.skus[i].y, b.skus[i].y);
        }
        let c = SynthCatalogue::generate(&SynthConfig { seed: 7, ..cfg }).unwrap();
        assert_ne!(a.skus[0].y, c.skus[0].y);
    }

    #[test]
    fn daily_sums_to_weekly_and_kinds_present() {
        let cfg = SynthConfig {
            skus: 200,
            weeks: 104,
            ..Default::default()
        };
        let cat = SynthCatalogue::generate(&cfg).unwrap();
        for s in &cat.skus {
            for t in 0..cfg.weeks {
                let d: f64 = s.daily[t * 7..t * 7 + 7].iter().sum();
                assert_eq!(d, s.y[t], "{} week {t}", s.unique_id);
            }
        }
        for kind in [
            SkuKind::Regular,
            SkuKind::Intermittent,
            SkuKind::NewLaunch,
            SkuKind::Discontinued,
        ] {
            assert!(cat.skus.iter().any(|s| s.kind == kind), "{kind:?}");
        }
        // Promotions lift demand: mean mu in promo weeks vs not, over regular SKUs.
        let (mut on, mut off, mut n_on, mut n_off) = (0.0, 0.0, 0, 0);
        for s in cat.skus.iter().filter(|s| s.kind == SkuKind::Regular) {
            let m: f64 = s.mu.iter().sum::<f64>() / s.mu.len() as f64;
            for t in 0..cfg.weeks {
                if s.promo[t] > 0.0 {
                    on += s.mu[t] / m;
                    n_on += 1
                } else {
                    off += s.mu[t] / m;
                    n_off += 1
                }
            }
        }
        assert!(on / n_on as f64 > 1.2 * off / n_off as f64);
    }

    #[test]
    fn nb_quantiles_are_ordered_and_sane() {
        assert_eq!(nb_quantile(0.0, 1.0, 0.9), 0.0);
        let (a, b, c) = (
            nb_quantile(20.0, 6.0, 0.1),
            nb_quantile(20.0, 6.0, 0.5),
            nb_quantile(20.0, 6.0, 0.9),
        );
        assert!(a < b && b < c, "{a} {b} {c}");
        assert!((b - 20.0).abs() <= 2.0);
        assert_eq!(nb_quantile(0.3, 0.8, 0.5), 0.0);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(
            SynthCatalogue::generate(&SynthConfig {
                skus: 0,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            SynthCatalogue::generate(&SynthConfig {
                weeks: 3,
                ..Default::default()
            })
            .is_err()
        );
    }
}
