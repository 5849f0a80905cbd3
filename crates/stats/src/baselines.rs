//! Baseline forecasters behind the core [`Forecaster`] trait.
//!
//! `auto_ets` is the ETS family with automatic selection ([`crate::ets`]), with the model's own
//! normal prediction intervals. Every other method here forecasts a flat or seasonal point path;
//! its quantiles come from the
//! empirical distribution of its own `h`-step-ahead errors on the last [`ERROR_ORIGINS`] origins
//! of the history (a split-conformal construction), so the intervals are as wide as the method's
//! past mistakes at that lead time. The median is the point forecast, as statsforecast reports
//! it, so WAPE numbers compare with the protocol's table. Where too few errors exist (short
//! histories), a Poisson distribution around the point forecast stands in.

use restock_core::{Error as CoreError, Forecaster, Horizon, Predict, Quantiles};

use crate::{Error, Result};

/// Origins whose errors calibrate the quantiles (one year of weeks).
pub const ERROR_ORIGINS: usize = 52;
/// Fewest errors at a lead time for empirical quantiles; below it, Poisson quantiles.
pub const MIN_ERRORS: usize = 8;

/// The statistical methods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BaselineKind {
    /// The last week's demand.
    Naive,
    /// The demand of the same week one season earlier; naive where the history is shorter.
    SeasonalNaive {
        /// Season length in weeks (52).
        season: usize,
    },
    /// The mean of the last `window` weeks (fewer when the history is shorter).
    MovingAverage {
        /// Weeks averaged.
        window: usize,
    },
    /// Croston's method: exponentially smoothed non-zero demand size over smoothed interval.
    Croston {
        /// Smoothing of sizes and intervals.
        alpha: f64,
    },
    /// Teunter–Syntetos–Babai: smoothed size times smoothed demand probability, which decays
    /// through runs of zeros (so obsolete items fade out, unlike Croston).
    Tsb {
        /// Smoothing of the demand size.
        alpha_d: f64,
        /// Smoothing of the demand probability.
        alpha_p: f64,
    },
    /// Exponential smoothing with the error and trend chosen by AICc (statsforecast's AutoETS
    /// on weekly data); histories too short for any ETS model get their running mean.
    AutoEts,
    /// ARIMA(p, d, q) with d by the KPSS test and p, q ≤ 2 by AICc (statsforecast's AutoARIMA
    /// without seasonal terms); histories too short for any model get their running mean.
    AutoArima,
}

/// A named, checked statistical forecaster.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    kind: BaselineKind,
    name: String,
}

impl Baseline {
    /// The names [`Baseline::parse`] accepts, with their default parameters.
    pub const NAMES: [&'static str; 7] = [
        "naive",
        "seasonal_naive",
        "moving_average",
        "croston",
        "tsb",
        "auto_ets",
        "auto_arima",
    ];

    /// A checked forecaster.
    pub fn new(kind: BaselineKind) -> Result<Self> {
        let unit = |name: &'static str, value: f64| {
            if value > 0.0 && value <= 1.0 {
                Ok(())
            } else {
                Err(Error::Param {
                    name,
                    value,
                    problem: "must be in (0, 1]",
                })
            }
        };
        let name = match kind {
            BaselineKind::Naive => "naive".to_string(),
            BaselineKind::SeasonalNaive { season } => {
                if season < 2 {
                    return Err(Error::Param {
                        name: "season",
                        value: season as f64,
                        problem: "must be at least 2 weeks",
                    });
                }
                "seasonal_naive".to_string()
            }
            BaselineKind::MovingAverage { window } => {
                if window == 0 {
                    return Err(Error::Param {
                        name: "window",
                        value: 0.0,
                        problem: "must be at least 1 week",
                    });
                }
                "moving_average".to_string()
            }
            BaselineKind::Croston { alpha } => {
                unit("alpha", alpha)?;
                "croston".to_string()
            }
            BaselineKind::Tsb { alpha_d, alpha_p } => {
                unit("alpha_d", alpha_d)?;
                unit("alpha_p", alpha_p)?;
                "tsb".to_string()
            }
            BaselineKind::AutoEts => "auto_ets".to_string(),
            BaselineKind::AutoArima => "auto_arima".to_string(),
        };
        Ok(Baseline { kind, name })
    }

    /// A forecaster by name with the protocol's parameters: `naive`, `seasonal_naive` (52
    /// weeks), `moving_average` (4 weeks), `croston` (α 0.1), `tsb` (α 0.2 / 0.2), `auto_ets`,
    /// `auto_arima`.
    pub fn parse(name: &str) -> Result<Self> {
        let kind = match name {
            "naive" => BaselineKind::Naive,
            "seasonal_naive" => BaselineKind::SeasonalNaive { season: 52 },
            "moving_average" => BaselineKind::MovingAverage { window: 4 },
            "croston" => BaselineKind::Croston { alpha: 0.1 },
            "tsb" => BaselineKind::Tsb {
                alpha_d: 0.2,
                alpha_p: 0.2,
            },
            "auto_ets" => BaselineKind::AutoEts,
            "auto_arima" => BaselineKind::AutoArima,
            other => return Err(Error::UnknownModel(other.to_string())),
        };
        Baseline::new(kind)
    }

    /// The method.
    pub fn kind(&self) -> BaselineKind {
        self.kind
    }
}

impl Forecaster for Baseline {
    type Fitted = Fitted;

    fn name(&self) -> &str {
        &self.name
    }

    fn fit(&self, y: &[f64]) -> restock_core::Result<Fitted> {
        let fail = |reason: String| CoreError::Fit {
            model: self.name.clone(),
            reason,
        };
        if y.is_empty() {
            return Err(fail(
                "the history is empty; at least 1 week is needed".into(),
            ));
        }
        if let Some((t, v)) = y
            .iter()
            .enumerate()
            .find(|(_, v)| !v.is_finite() || **v < 0.0)
        {
            return Err(fail(format!(
                "week {t} of the history is {v}; demand must be finite and >= 0"
            )));
        }
        let mut ets = None;
        let mut arima = None;
        let flat = match self.kind {
            BaselineKind::SeasonalNaive { .. } | BaselineKind::Naive => Vec::new(),
            BaselineKind::MovingAverage { window } => moving_average_path(y, window),
            BaselineKind::Croston { alpha } => croston_path(y, alpha),
            BaselineKind::Tsb { alpha_d, alpha_p } => tsb_path(y, alpha_d, alpha_p),
            BaselineKind::AutoEts => {
                ets = crate::ets::auto(y);
                if ets.is_some() {
                    Vec::new()
                } else {
                    moving_average_path(y, y.len())
                }
            }
            BaselineKind::AutoArima => {
                arima = crate::arima::auto(y);
                if arima.is_some() {
                    Vec::new()
                } else {
                    moving_average_path(y, y.len())
                }
            }
        };
        Ok(Fitted {
            kind: self.kind,
            y: y.to_vec(),
            flat,
            ets,
            arima,
        })
    }
}

/// A baseline fitted to one history.
#[derive(Debug, Clone)]
pub struct Fitted {
    kind: BaselineKind,
    y: Vec<f64>,
    /// `flat[t]`: the flat forecast made from `y[..t]`, for `t` in 1..=len (index 0 unused).
    flat: Vec<f64>,
    /// The selected ETS model (`auto_ets` on a long enough history).
    ets: Option<crate::ets::EtsFit>,
    /// The selected ARIMA model (`auto_arima` on a long enough history).
    arima: Option<crate::arima::ArimaFit>,
}

impl Fitted {
    /// The point forecast for lead `h` (1-based) made at `origin` (from `y[..origin]`, origin >= 1).
    fn point(&self, origin: usize, h: usize) -> f64 {
        let y = &self.y;
        match self.kind {
            BaselineKind::Naive => y[origin - 1],
            BaselineKind::SeasonalNaive { season } => {
                if origin >= season {
                    y[origin - season + (h - 1) % season]
                } else {
                    y[origin - 1]
                }
            }
            _ => self.flat[origin],
        }
    }

    /// The point forecasts of the next `weeks` weeks.
    pub fn points(&self, weeks: usize) -> Vec<f64> {
        if let Some(arima) = &self.arima {
            return arima.means(weeks);
        }
        match &self.ets {
            Some(ets) => (1..=weeks).map(|h| ets.mean(h)).collect(),
            None => (1..=weeks).map(|h| self.point(self.y.len(), h)).collect(),
        }
    }

    /// The ETS model `auto_ets` selected, if any.
    pub fn ets(&self) -> Option<&crate::ets::EtsFit> {
        self.ets.as_ref()
    }
}

impl Predict for Fitted {
    fn predict(&self, horizon: Horizon, levels: &Quantiles) -> Vec<f64> {
        if let Some(ets) = &self.ets {
            return ets.predict(horizon, levels);
        }
        if let Some(arima) = &self.arima {
            return arima.predict(horizon, levels);
        }
        let n = self.y.len();
        let k = levels.len();
        let median = levels.median_index();
        let mut out = Vec::with_capacity(horizon.weeks() * k);
        let mut errors = Vec::with_capacity(ERROR_ORIGINS);
        for h in 1..=horizon.weeks() {
            let point = self.point(n, h).max(0.0);
            // Errors of the forecasts made `h` weeks before each of the last weeks.
            errors.clear();
            let last_origin = (n + 1).saturating_sub(h); // origin + h - 1 <= n - 1
            let first_origin = last_origin.saturating_sub(ERROR_ORIGINS).max(1);
            for origin in first_origin..last_origin {
                errors.push(self.y[origin + h - 1] - self.point(origin, h));
            }
            if errors.len() >= MIN_ERRORS {
                errors.sort_by(f64::total_cmp);
                let centre = empirical_quantile(&errors, 0.5);
                for (i, &q) in levels.levels().iter().enumerate() {
                    let value = if i == median {
                        point
                    } else {
                        point + empirical_quantile(&errors, q) - centre
                    };
                    out.push(value.max(0.0));
                }
            } else {
                for (i, &q) in levels.levels().iter().enumerate() {
                    out.push(if i == median {
                        point
                    } else {
                        poisson_quantile(point, q)
                    });
                }
            }
            // Clipping can only merge levels, never cross them; the Poisson levels around a
            // continuous median can, so sort the week.
            let week = &mut out[(h - 1) * k..];
            week.sort_by(f64::total_cmp);
        }
        out
    }
}

fn moving_average_path(y: &[f64], window: usize) -> Vec<f64> {
    let mut flat = vec![0.0; y.len() + 1];
    let mut sum = 0.0;
    for t in 1..=y.len() {
        sum += y[t - 1];
        if t > window {
            sum -= y[t - 1 - window];
        }
        flat[t] = sum / t.min(window) as f64;
    }
    flat
}

/// Croston: sizes and intervals smoothed at non-zero weeks, initialised with the first demand.
fn croston_path(y: &[f64], alpha: f64) -> Vec<f64> {
    let mut flat = vec![0.0; y.len() + 1];
    let mut size: Option<f64> = None;
    let mut interval = 1.0;
    let mut since = 0usize;
    for t in 1..=y.len() {
        since += 1;
        let v = y[t - 1];
        if v > 0.0 {
            match size {
                None => {
                    size = Some(v);
                    interval = since as f64;
                }
                Some(s) => {
                    size = Some(s + alpha * (v - s));
                    interval += alpha * (since as f64 - interval);
                }
            }
            since = 0;
        }
        flat[t] = size.map_or(0.0, |s| s / interval.max(1.0));
    }
    flat
}

/// TSB: the demand probability is updated every week, the size only in weeks with demand.
fn tsb_path(y: &[f64], alpha_d: f64, alpha_p: f64) -> Vec<f64> {
    let mut flat = vec![0.0; y.len() + 1];
    let mut size: Option<f64> = None;
    let mut prob = 0.0;
    for t in 1..=y.len() {
        let v = y[t - 1];
        let hit = if v > 0.0 { 1.0 } else { 0.0 };
        match size {
            None if v > 0.0 => {
                size = Some(v);
                prob = 1.0;
            }
            None => {}
            Some(s) => {
                prob += alpha_p * (hit - prob);
                if v > 0.0 {
                    size = Some(s + alpha_d * (v - s));
                }
            }
        }
        flat[t] = size.map_or(0.0, |s| s * prob);
    }
    flat
}

/// Linear interpolation between order statistics (type 7) of sorted values.
pub(crate) fn empirical_quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let w = pos - lo as f64;
    sorted[lo] * (1.0 - w) + sorted[hi] * w
}

/// The smallest k with P(X <= k) >= q for X ~ Poisson(mean).
pub(crate) fn poisson_quantile(mean: f64, q: f64) -> f64 {
    if mean <= 0.0 {
        return 0.0;
    }
    if mean > 500.0 {
        // Normal approximation where the pmf underflows.
        let z = normal_quantile(q);
        return (mean + z * mean.sqrt()).max(0.0).round();
    }
    let mut pmf = (-mean).exp();
    let mut cdf = pmf;
    let mut k = 0.0;
    while cdf < q && k < 10.0 * mean + 100.0 {
        k += 1.0;
        pmf *= mean / k;
        cdf += pmf;
    }
    k
}

/// The standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9); shared
/// by the baselines and the planner's safety stock.
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fit(name: &str, y: &[f64]) -> Fitted {
        Baseline::parse(name)
            .and_then(|b| b.fit(y).map_err(|e| Error::History(e.to_string())))
            .expect("fit")
    }

    #[test]
    fn point_forecasts_by_hand() {
        let y = [1.0, 2.0, 3.0, 4.0, 10.0];
        assert_eq!(fit("naive", &y).points(2), vec![10.0, 10.0]);
        assert_eq!(
            fit("moving_average", &y).points(1),
            vec![(2.0 + 3.0 + 4.0 + 10.0) / 4.0]
        );
        // Shorter than a season: naive.
        assert_eq!(fit("seasonal_naive", &y).points(1), vec![10.0]);
        let season: Vec<f64> = (0..60).map(|t| (t % 52) as f64).collect();
        // 60 weeks: the next week (t = 60) repeats t = 8, the one after t = 9.
        assert_eq!(fit("seasonal_naive", &season).points(2), vec![8.0, 9.0]);
    }

    #[test]
    fn croston_and_tsb_by_hand() {
        // Demand 4 every second week.
        let y = [0.0, 4.0, 0.0, 4.0, 0.0, 4.0];
        let croston = fit("croston", &y).points(1)[0];
        // Sizes stay 4; first interval 2, later intervals 2: forecast 4 / 2.
        assert!((croston - 2.0).abs() < 1e-12, "{croston}");
        // TSB: size 4; probability starts at 1 (week 2) and is smoothed with 0.2 through
        // 0, 1, 0, 1: 0.8, 0.84, 0.672, 0.7376.
        let tsb = fit("tsb", &y).points(1)[0];
        assert!((tsb - 4.0 * 0.7376).abs() < 1e-12, "{tsb}");
        // A long run of zeros fades TSB out but not Croston.
        let mut dead = y.to_vec();
        dead.extend([0.0; 20]);
        assert!(fit("tsb", &dead).points(1)[0] < 0.1);
        assert!((fit("croston", &dead).points(1)[0] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn quantiles_bracket_the_median_and_cover() {
        // A noisy level: alternating 5 and 15 around 10.
        let y: Vec<f64> = (0..80)
            .map(|t| if t % 2 == 0 { 5.0 } else { 15.0 })
            .collect();
        let levels = Quantiles::default();
        let h = Horizon::new(3).expect("horizon");
        let q = fit("moving_average", &y).predict(h, &levels);
        assert_eq!(q.len(), 9);
        for week in q.chunks(3) {
            assert_eq!(week[1], 10.0);
            assert!(week[0] <= 5.0 + 1e-9 && week[2] >= 15.0 - 1e-9, "{week:?}");
        }
    }

    #[test]
    fn short_and_zero_histories() {
        let levels = Quantiles::default();
        let h = Horizon::new(2).expect("horizon");
        let q = fit("naive", &[3.0]).predict(h, &levels);
        // Poisson(3): q10 = 1, q90 = 5.
        assert_eq!(q, vec![1.0, 3.0, 5.0, 1.0, 3.0, 5.0]);
        let zero = fit("tsb", &[0.0; 30]).predict(h, &levels);
        assert!(zero.iter().all(|v| *v == 0.0));
        assert!(Baseline::parse("naive").expect("naive").fit(&[]).is_err());
        assert!(
            Baseline::parse("naive")
                .expect("naive")
                .fit(&[1.0, -1.0])
                .is_err()
        );
        assert!(Baseline::parse("arima").is_err());
        assert!(
            Baseline::new(BaselineKind::Tsb {
                alpha_d: 0.0,
                alpha_p: 0.2
            })
            .is_err()
        );
    }

    #[test]
    fn normal_quantile_matches_tables() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.1) + 1.281552).abs() < 1e-5);
        assert_eq!(poisson_quantile(0.0, 0.9), 0.0);
    }
}
