//! Demand over a protection interval: the distribution a buying decision needs.
//!
//! An order placed now must cover demand until the next order can arrive: the *protection
//! interval* of lead time + review period, `P` weeks. A forecaster gives quantiles of each week
//! on its own; their sum is not a quantile of the P-week total, and the usual normal rule with
//! independent weeks (μ_P = Σ mean_t, σ_P = sqrt(Σ σ_t²), level = μ_P + z(α)·σ_P) under-covers
//! on real demand (on M5, 0.84–0.89 of protection intervals at or below the 0.95 level, for
//! every forecaster): forecast errors of successive weeks share the level's error, and
//! intermittent totals have a long right tail.
//!
//! [`ProtectionCalibration`] replaces z(α) by the empirical quantiles of the standardised
//! P-week error `(D_P − μ_P) / σ_P` of the same forecaster, taken at earlier forecast origins
//! whose P weeks are known (conformal calibration, per interval length and per band of the
//! forecast's own coefficient of variation σ_P / μ_P, so that a smooth SKU and an intermittent
//! one get their own tails). The level at service α is then `μ_P + κ_P(α)·σ_P`: on the
//! calibration cases, a share α of P-week demand falls at or below it. The table is
//! forecaster-agnostic: the network, its ensembles and every statistical fallback are calibrated
//! the same way, from their own forecasts, so every SKU is planned the same way.

use serde::{Deserialize, Serialize};

use crate::baselines::normal_quantile;
use crate::metrics::mean_from_quantiles;

/// The service levels the table holds; a level in between is interpolated linearly, one
/// outside is clamped to the nearest end.
pub const PROTECTION_GRID: [f64; 14] = [
    0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.925, 0.95, 0.96, 0.97, 0.98, 0.99, 0.995,
];

/// Calibration cases needed per CV band; with fewer, one band for the interval length.
pub const MIN_CASES_PER_BAND: usize = 500;

/// CV bands per interval length when there are enough cases.
pub const BANDS: usize = 4;

/// Mean and spread of demand over the first `weeks` weeks of weekly quantiles `forecast[t]` at
/// `levels`: μ_P = Σ mean_t (each from its quantiles, [`mean_from_quantiles`]) and
/// σ_P = sqrt(Σ σ_t²), σ_t = (q_hi − q_lo) / (z(hi) − z(lo)) from the outermost levels. Weeks
/// past the forecast take its average mean and variance.
pub fn protection_moments(forecast: &[Vec<f64>], levels: &[f64], weeks: usize) -> (f64, f64) {
    let (lo, hi) = (0, levels.len().saturating_sub(1));
    let spread = if !levels.is_empty() && levels[lo] < 0.5 && levels[hi] > 0.5 {
        normal_quantile(levels[hi]) - normal_quantile(levels[lo])
    } else {
        0.0
    };
    let n = forecast.len().max(1) as f64;
    let moments: Vec<(f64, f64)> = forecast
        .iter()
        .map(|q| {
            let sigma = if spread > 0.0 {
                ((q[hi] - q[lo]) / spread).max(0.0)
            } else {
                0.0
            };
            (mean_from_quantiles(q, levels), sigma * sigma)
        })
        .collect();
    let avg = moments
        .iter()
        .fold((0.0, 0.0), |a, m| (a.0 + m.0 / n, a.1 + m.1 / n));
    let (mean, var) = (0..weeks)
        .map(|t| moments.get(t).copied().unwrap_or(avg))
        .fold((0.0, 0.0), |a, m| (a.0 + m.0, a.1 + m.1));
    (mean, var.sqrt())
}

/// One calibration case: a forecast's moments over `weeks` weeks and the demand that came.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProtectionCase {
    /// The forecast origin, any number the cases of one forecast of the catalogue share (the
    /// origin week's day number, a replay's week): the catalogue's totals per origin calibrate
    /// the limits its SKUs share ([`ProtectionCalibration::shortfall`]).
    pub origin: i64,
    /// Interval length, weeks (1-based).
    pub weeks: usize,
    /// μ_P of the forecast.
    pub mean: f64,
    /// σ_P of the forecast.
    pub sigma: f64,
    /// Demand over those weeks.
    pub demand: f64,
}

/// The standardised-error quantiles of one interval length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IntervalTable {
    /// Upper edges of the CV bands but the last (which is open); empty for one band.
    pub cv_edges: Vec<f64>,
    /// `kappa[band][j]`: the [`PROTECTION_GRID`]`[j]` empirical quantile of the band's
    /// standardised errors.
    pub kappa: Vec<Vec<f64>>,
    /// Cases per band.
    pub cases: Vec<usize>,
    /// `mean[band]`: the band's mean error in units of σ_P, Σ (D_P − μ_P) / Σ σ_P, which moves
    /// the forecast's own mean to the calibrated distribution's
    /// ([`ProtectionCalibration::expected_of`]); empty in tables fitted before it was kept
    /// (no move).
    #[serde(default)]
    pub mean: Vec<f64>,
}

/// Standardised protection-interval error quantiles per interval length (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtectionCalibration {
    /// The service levels of the tables ([`PROTECTION_GRID`]).
    pub levels: Vec<f64>,
    /// `by_weeks[P - 1]`; longer intervals use the last.
    pub by_weeks: Vec<IntervalTable>,
    /// `shortfall[P - 1]`: per forecast origin with at least [`MIN_SKUS_PER_ORIGIN`] cases of
    /// that length, how far the catalogue's demand over the P weeks fell short of its forecast,
    /// Σ (μ_P − D_P) / Σ μ_P (negative when demand came above it), ascending. Empty in
    /// calibrations fitted before it was kept.
    #[serde(default)]
    pub shortfall: Vec<Vec<f64>>,
}

/// Cases of one interval length an origin needs for its catalogue total to count in
/// [`ProtectionCalibration::shortfall`].
pub const MIN_SKUS_PER_ORIGIN: usize = 20;

/// Per interval length 1..=`max_weeks`, the sorted catalogue shortfalls Σ (μ − D) / Σ μ of the
/// origins with at least [`MIN_SKUS_PER_ORIGIN`] cases (see [`ProtectionCalibration::shortfall`]).
fn catalogue_shortfalls(max_weeks: usize, cases: &[ProtectionCase]) -> Vec<Vec<f64>> {
    // (origin, weeks) -> (Σ μ, Σ D, cases)
    let mut totals: std::collections::BTreeMap<(i64, usize), (f64, f64, usize)> =
        std::collections::BTreeMap::new();
    for c in cases {
        if c.weeks == 0 || c.weeks > max_weeks || !(c.mean.is_finite() && c.demand.is_finite()) {
            continue;
        }
        let t = totals.entry((c.origin, c.weeks)).or_default();
        t.0 += c.mean;
        t.1 += c.demand;
        t.2 += 1;
    }
    let mut out = vec![Vec::new(); max_weeks];
    for ((_, weeks), (mean, demand, n)) in totals {
        if n >= MIN_SKUS_PER_ORIGIN && mean > 0.0 {
            out[weeks - 1].push((mean - demand) / mean);
        }
    }
    for v in &mut out {
        v.sort_by(f64::total_cmp);
    }
    out
}

/// The `p` quantile of Student's t with `nu` degrees of freedom, from the normal one by the
/// Cornish–Fisher expansion (Abramowitz and Stegun 26.7.5; within 0.5 % of the exact value for
/// ν ≥ 3 at p ≤ 0.99).
pub fn student_t_quantile(p: f64, nu: f64) -> f64 {
    let z = normal_quantile(p);
    let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
    z + (z3 + z) / (4.0 * nu)
        + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * nu * nu)
        + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * nu.powi(3))
}

/// The smallest value with at least a share `tau` of `sorted` (ascending, not empty) at or
/// below it: the inverse of the empirical CDF, which conformal calibration needs (linear
/// interpolation between order statistics does not guarantee that share).
pub fn conformal_quantile(sorted: &[f64], tau: f64) -> f64 {
    let i = ((tau * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

impl ProtectionCalibration {
    /// Fit the tables for interval lengths 1..=`max_weeks` from `cases`. Cases with σ_P = 0
    /// carry no scale and are left out; an interval length without cases takes the normal
    /// quantiles z(α) (the independent-weeks rule). `None` when no case is usable.
    pub fn fit(max_weeks: usize, cases: &[ProtectionCase]) -> Option<Self> {
        // Per interval length: (CV, standardised error, σ_P) of each case.
        let mut per: Vec<Vec<(f64, f64, f64)>> = vec![Vec::new(); max_weeks];
        for c in cases {
            if c.weeks == 0 || c.weeks > max_weeks {
                continue;
            }
            if c.sigma > 1e-9 && c.mean.is_finite() && c.demand.is_finite() {
                let cv = c.sigma / c.mean.max(1e-9);
                per[c.weeks - 1].push((cv, (c.demand - c.mean) / c.sigma, c.sigma));
            }
        }
        if per.iter().all(Vec::is_empty) {
            return None;
        }
        let normal: Vec<f64> = PROTECTION_GRID
            .iter()
            .map(|&a| normal_quantile(a))
            .collect();
        let by_weeks = per
            .into_iter()
            .map(|mut v| {
                if v.is_empty() {
                    return IntervalTable {
                        cv_edges: Vec::new(),
                        kappa: vec![normal.clone()],
                        cases: vec![0],
                        mean: vec![0.0],
                    };
                }
                let bands = if v.len() >= BANDS * MIN_CASES_PER_BAND {
                    BANDS
                } else {
                    1
                };
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
                let n = v.len();
                let mut cv_edges = Vec::new();
                let mut kappa = Vec::new();
                let mut counts = Vec::new();
                let mut means = Vec::new();
                for b in 0..bands {
                    let (from, to) = (b * n / bands, (b + 1) * n / bands);
                    if b + 1 < bands {
                        cv_edges.push(v[to - 1].0);
                    }
                    let band = &v[from..to];
                    // Σ (D − μ) / Σ σ: the shift that leaves the band's total expected demand
                    // unbiased. The plain mean of the standardised errors weights every case
                    // alike, and its few cases with σ near 0 make it swing wildly.
                    let sigma: f64 = band.iter().map(|c| c.2).sum();
                    means.push(band.iter().map(|c| c.1 * c.2).sum::<f64>() / sigma);
                    let mut z: Vec<f64> = band.iter().map(|c| c.1).collect();
                    z.sort_by(f64::total_cmp);
                    kappa.push(
                        PROTECTION_GRID
                            .iter()
                            .map(|&a| conformal_quantile(&z, a))
                            .collect(),
                    );
                    counts.push(z.len());
                }
                IntervalTable {
                    cv_edges,
                    kappa,
                    cases: counts,
                    mean: means,
                }
            })
            .collect();
        Some(ProtectionCalibration {
            levels: PROTECTION_GRID.to_vec(),
            by_weeks,
            shortfall: catalogue_shortfalls(max_weeks, cases),
        })
    }

    /// How far the catalogue's demand over the next `weeks` weeks may fall short of its
    /// forecast mean, as a share of that mean: the `confidence` conformal quantile of the
    /// calibration origins' shortfalls ([`ProtectionCalibration::shortfall`]), at least 0. It
    /// is shared, not per SKU: the SKUs of a catalogue miss together (a season, the weather, a
    /// shared bias of the forecaster), so their own quantiles neither add up (far too wide) nor
    /// combine as independent (far too narrow). With `n` origins, the rank is ⌈(n + 1)·confidence⌉;
    /// when that is past `n` (13 origins hold no 0.95 conformal quantile: their largest is
    /// exceeded once in 14), the normal prediction bound for one more origin, mean + t(n − 1)·s·
    /// √(1 + 1/n), if it lies above the largest; 0 without origins. A forecaster whose catalogue mostly
    /// came in above its forecasts (a median shortfall below 0) is not credited with that bias,
    /// only its spread counts: a calibration year's shared bias did not carry to the weeks
    /// after it on M5 or Online Retail (docs/benchmarks.md, session 15), and a warehouse
    /// overfilled when it flips is not a risk to take on its strength.
    pub fn shortfall(&self, weeks: usize, confidence: f64) -> f64 {
        let Some(v) = self
            .shortfall
            .get(weeks.clamp(1, self.shortfall.len().max(1)) - 1)
            .filter(|v| !v.is_empty())
        else {
            return 0.0;
        };
        let n = v.len();
        let rank = (((n + 1) as f64) * confidence).ceil() as usize;
        let median = v[(n - 1) / 2];
        let level = if rank <= n {
            v[rank.max(1) - 1]
        } else if n >= 3 {
            let mean = v.iter().sum::<f64>() / n as f64;
            let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let bound = mean
                + student_t_quantile(confidence, (n - 1) as f64)
                    * (var * (1.0 + 1.0 / n as f64)).sqrt();
            bound.max(v[n - 1])
        } else {
            v[n - 1]
        };
        (level - median.min(0.0)).max(0.0)
    }

    /// Calibration cases behind the tables, all interval lengths.
    pub fn cases(&self) -> usize {
        self.by_weeks
            .iter()
            .map(|t| t.cases.iter().sum::<usize>())
            .sum()
    }

    /// κ for an interval of `weeks` weeks, a forecast with coefficient of variation `cv`, at
    /// service level `alpha`.
    pub fn kappa(&self, weeks: usize, cv: f64, alpha: f64) -> f64 {
        let Some((table, band)) = self.band(weeks, cv) else {
            return normal_quantile(alpha);
        };
        let row = &table.kappa[band.min(table.kappa.len() - 1)];
        let grid = &self.levels;
        if alpha <= grid[0] {
            return row[0];
        }
        for j in 1..grid.len() {
            if alpha <= grid[j] {
                let w = (alpha - grid[j - 1]) / (grid[j] - grid[j - 1]);
                return row[j - 1] + w * (row[j] - row[j - 1]);
            }
        }
        row[grid.len() - 1]
    }

    /// The table of an interval of `weeks` weeks and the band of a forecast with coefficient of
    /// variation `cv` in it.
    fn band(&self, weeks: usize, cv: f64) -> Option<(&IntervalTable, usize)> {
        let table = self
            .by_weeks
            .get(weeks.clamp(1, self.by_weeks.len().max(1)) - 1)?;
        Some((
            table,
            table.cv_edges.iter().take_while(|&&e| cv > e).count(),
        ))
    }

    /// Expected demand over an interval of `weeks` weeks whose forecast has moments μ_P, σ_P
    /// ([`protection_moments`]): the mean of the calibrated distribution, μ_P + m·σ_P with m
    /// = Σ (D_P − μ_P) / Σ σ_P over the band's cases, at least 0. The forecast's own mean comes
    /// from a few quantiles (Swanson's rule for q10/q50/q90), which misses the tail above the
    /// outermost one (intermittent and promotional demand) and any shared bias of the
    /// forecaster; the calibration cases see both. Without cases for the band, μ_P.
    pub fn expected_of(&self, mean: f64, sigma: f64, weeks: usize) -> f64 {
        if sigma <= 1e-9 {
            return mean.max(0.0);
        }
        let shift = self
            .band(weeks, sigma / mean.max(1e-9))
            .and_then(|(table, band)| table.mean.get(band.min(table.mean.len().max(1) - 1)))
            .copied()
            .unwrap_or(0.0);
        (mean + shift * sigma).max(0.0)
    }

    /// The level demand over the first `weeks` weeks stays at or below with probability
    /// `alpha`: μ_P + κ·σ_P, at least 0.
    pub fn level(&self, forecast: &[Vec<f64>], levels: &[f64], alpha: f64, weeks: usize) -> f64 {
        let (mean, sigma) = protection_moments(forecast, levels, weeks);
        self.level_of(mean, sigma, alpha, weeks)
    }

    /// [`ProtectionCalibration::level`] from the interval's moments μ_P, σ_P
    /// ([`protection_moments`]), for callers that take several levels of one interval.
    pub fn level_of(&self, mean: f64, sigma: f64, alpha: f64, weeks: usize) -> f64 {
        if sigma <= 1e-9 {
            return mean.max(0.0);
        }
        let cv = sigma / mean.max(1e-9);
        (mean + self.kappa(weeks, cv, alpha) * sigma).max(0.0)
    }

    /// The cases of one forecast `values` (`[weeks, levels]` flattened, at `levels`) made at
    /// `origin` against the demand `actual` that followed it: one per interval length
    /// 1..=min(weeks, actual).
    pub fn cases_of(
        values: &[f64],
        levels: &[f64],
        actual: &[f64],
        origin: i64,
    ) -> Vec<ProtectionCase> {
        let k = levels.len().max(1);
        let q: Vec<Vec<f64>> = values.chunks(k).map(<[f64]>::to_vec).collect();
        let mut demand = 0.0;
        (1..=q.len().min(actual.len()))
            .map(|p| {
                demand += actual[p - 1];
                let (mean, sigma) = protection_moments(&q[..p], levels, p);
                ProtectionCase {
                    origin,
                    weeks: p,
                    mean,
                    sigma,
                    demand,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Poisson};

    /// The exact α quantile of Poisson(mu).
    fn poisson_exact(mu: f64, alpha: f64) -> f64 {
        crate::baselines::poisson_quantile(mu, alpha)
    }

    #[test]
    fn iid_poisson_interval_quantiles_match_the_exact_ones() {
        // Weekly demand i.i.d. Poisson(3), forecast exactly (q10/q50/q90 of Poisson(3)); over
        // P weeks the total is Poisson(3P), whose quantiles the calibrated level must give.
        let lambda = 3.0;
        let levels = [0.1, 0.5, 0.9];
        let week: Vec<f64> = levels.iter().map(|&a| poisson_exact(lambda, a)).collect();
        let values: Vec<f64> = (0..4).flat_map(|_| week.clone()).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let poisson = Poisson::new(lambda).unwrap();
        let mut cases = Vec::new();
        for _ in 0..20_000 {
            let actual: Vec<f64> = (0..4).map(|_| poisson.sample(&mut rng)).collect();
            cases.extend(ProtectionCalibration::cases_of(
                &values, &levels, &actual, 0,
            ));
        }
        let c = ProtectionCalibration::fit(4, &cases).unwrap();
        let q: Vec<Vec<f64>> = values.chunks(3).map(<[f64]>::to_vec).collect();
        for p in 1..=4 {
            for &alpha in &[0.5, 0.8, 0.9, 0.95, 0.98] {
                let exact = poisson_exact(lambda * p as f64, alpha);
                let level = c.level(&q, &levels, alpha, p);
                // Sampling error of an empirical quantile at n = 20,000: well under a unit.
                assert!(
                    (level - exact).abs() < 1.0 + 1e-9,
                    "P = {p}, α = {alpha}: level {level}, exact {exact}"
                );
            }
        }
    }

    #[test]
    fn shared_level_error_widens_the_interval_beyond_independence() {
        // Each origin's demand level is off by a factor shared by all its weeks: the P-week
        // total varies more than sqrt(P)·σ_week, and the calibrated level sits above the
        // independent-weeks one, covering its share where the normal rule does not.
        let levels = [0.1, 0.5, 0.9];
        let week = [6.0, 10.0, 14.0];
        let values: Vec<f64> = (0..4).flat_map(|_| week).collect();
        let mut rng = StdRng::seed_from_u64(3);
        let mut cases = Vec::new();
        let mut held_out = Vec::new();
        for i in 0..8_000 {
            let shared: f64 = Poisson::new(10.0).unwrap().sample(&mut rng) / 10.0;
            let actual: Vec<f64> = (0..4)
                .map(|_| {
                    Poisson::new(10.0 * shared.max(0.05))
                        .unwrap()
                        .sample(&mut rng)
                })
                .collect();
            if i % 2 == 0 {
                cases.extend(ProtectionCalibration::cases_of(
                    &values, &levels, &actual, 0,
                ));
            } else {
                held_out.push(actual.iter().sum::<f64>());
            }
        }
        let c = ProtectionCalibration::fit(4, &cases).unwrap();
        let q: Vec<Vec<f64>> = values.chunks(3).map(<[f64]>::to_vec).collect();
        let (mean, sigma) = protection_moments(&q, &levels, 4);
        assert!((mean - 40.0).abs() < 1e-9);
        let normal = mean + normal_quantile(0.95) * sigma;
        let level = c.level(&q, &levels, 0.95, 4);
        assert!(level > normal + 1.0, "calibrated {level}, normal {normal}");
        let share =
            |l: f64| held_out.iter().filter(|&&d| d <= l).count() as f64 / held_out.len() as f64;
        assert!((share(level) - 0.95).abs() < 0.015, "{}", share(level));
        assert!(share(normal) < 0.92, "{}", share(normal));
    }

    #[test]
    fn bands_interpolation_and_fallbacks() {
        // No usable case: no table.
        let flat = ProtectionCase {
            origin: 0,
            weeks: 1,
            mean: 0.0,
            sigma: 0.0,
            demand: 3.0,
        };
        assert!(ProtectionCalibration::fit(2, &[flat]).is_none());
        // Standardised errors 1..=100 for P = 1, none for P = 2.
        let cases: Vec<ProtectionCase> = (1..=100)
            .map(|i| ProtectionCase {
                origin: 0,
                weeks: 1,
                mean: 10.0,
                sigma: 1.0,
                demand: 10.0 + i as f64,
            })
            .collect();
        let c = ProtectionCalibration::fit(2, &cases).unwrap();
        assert_eq!(c.by_weeks[0].cases, vec![100]);
        assert_eq!(c.kappa(1, 0.1, 0.5), 50.0);
        assert_eq!(c.kappa(1, 0.1, 0.9), 90.0);
        // Between grid levels 0.9 (90) and 0.925 (93): linear.
        assert!((c.kappa(1, 0.1, 0.9125) - 91.5).abs() < 1e-9);
        // Below the grid: its first level; P = 2 without cases: the normal quantile.
        assert_eq!(c.kappa(1, 0.1, 0.2), 50.0);
        assert!((c.kappa(2, 0.1, 0.95) - normal_quantile(0.95)).abs() < 1e-12);
        // Longer intervals than fitted use the longest table.
        assert!((c.kappa(5, 0.1, 0.95) - normal_quantile(0.95)).abs() < 1e-12);
        // Enough cases for bands: low- and high-CV cases get their own tails.
        let mut cases = Vec::new();
        for i in 0..4_000 {
            let u = (i % 1000) as f64 / 1000.0;
            let (sigma, z) = if i < 2_000 { (1.0, u) } else { (10.0, 5.0 * u) };
            cases.push(ProtectionCase {
                origin: 0,
                weeks: 1,
                mean: 10.0,
                sigma,
                demand: 10.0 + z * sigma,
            });
        }
        let c = ProtectionCalibration::fit(1, &cases).unwrap();
        assert_eq!(c.by_weeks[0].kappa.len(), BANDS);
        assert!(c.kappa(1, 0.1, 0.98) < 1.0 && c.kappa(1, 1.0, 0.98) > 4.0);
    }
    #[test]
    fn student_t_quantiles_match_the_tables() {
        // t tables: ν = 12 at 0.95 1.7823, 0.99 2.6810; ν = 3 at 0.95 2.3534; ν = 30 at 0.975 2.0423.
        for (p, nu, t) in [
            (0.95, 12.0, 1.7823),
            (0.99, 12.0, 2.6810),
            (0.95, 3.0, 2.3534),
            (0.975, 30.0, 2.0423),
        ] {
            let q = student_t_quantile(p, nu);
            assert!((q - t).abs() / t < 0.005, "t({nu}, {p}) = {q}, table {t}");
        }
    }

    #[test]
    fn the_shortfall_is_the_catalogue_totals_quantile_per_origin() {
        // 19 origins; at origin o every one of 30 SKUs sells (1 − o/100) of its forecast mean
        // of 10 a week: the catalogue falls short by o % over any interval. Origin 19 has too
        // few SKUs to count.
        let mut cases = Vec::new();
        for o in 0..19_i64 {
            for _sku in 0..30 {
                let weekly = 10.0 * (1.0 - o as f64 / 100.0);
                let actual = [weekly; 3];
                cases.extend(ProtectionCalibration::cases_of(
                    &[8.0, 10.0, 12.0, 8.0, 10.0, 12.0, 8.0, 10.0, 12.0],
                    &[0.1, 0.5, 0.9],
                    &actual,
                    o,
                ));
            }
        }
        for _sku in 0..(MIN_SKUS_PER_ORIGIN - 1) {
            cases.extend(ProtectionCalibration::cases_of(
                &[8.0, 10.0, 12.0],
                &[0.1, 0.5, 0.9],
                &[0.0],
                19,
            ));
        }
        let c = ProtectionCalibration::fit(3, &cases).unwrap();
        assert_eq!(c.shortfall.len(), 3);
        assert!(c.shortfall.iter().all(|v| v.len() == 19));
        // Shortfalls 0 .. 0.18 (rank ⌈20·0.9⌉ = 18: 0.17); the median 0.09 (rank 10 of 19).
        assert!((c.shortfall(2, 0.9) - 0.17).abs() < 1e-9);
        assert!((c.shortfall(3, 0.5) - 0.09).abs() < 1e-9);
        // Past the origins' reach (rank ⌈20·0.99⌉ = 20 of 19): the normal prediction bound,
        // mean 0.09 + t(18, 0.99) 2.552 · s 0.0563 · √(1 + 1/19) = 0.237; longer intervals
        // than fitted use the longest.
        let s = (19.0 * 20.0 / 12.0_f64).sqrt() / 100.0;
        let bound = 0.09 + 2.552 * s * (20.0_f64 / 19.0).sqrt();
        assert!(
            (c.shortfall(1, 0.99) - bound).abs() < 2e-3,
            "{}",
            c.shortfall(1, 0.99)
        );
        assert_eq!(c.shortfall(9, 0.99), c.shortfall(3, 0.99));
        // Demand above the forecast is no shortfall; no origins, none either.
        let above: Vec<ProtectionCase> = (0..MIN_SKUS_PER_ORIGIN)
            .flat_map(|_| {
                ProtectionCalibration::cases_of(&[8.0, 10.0, 12.0], &[0.1, 0.5, 0.9], &[15.0], 0)
            })
            .collect();
        let c = ProtectionCalibration::fit(1, &above).unwrap();
        assert_eq!(c.shortfall(1, 0.95), 0.0);
        // A catalogue that mostly sold above its forecasts: only the spread around the median.
        let mut mixed = c.clone();
        mixed.shortfall = vec![vec![
            -0.10, -0.08, -0.07, -0.06, -0.06, -0.05, -0.05, -0.05, -0.04, -0.04, -0.03, -0.02,
            -0.01, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05,
        ]];
        // Rank 19 of 19 at 0.95: 0.05, plus the median's 0.04.
        assert!((mixed.shortfall(1, 0.95) - 0.09).abs() < 1e-9);
        assert!((mixed.shortfall(1, 0.5) - 0.0).abs() < 1e-9);
        let mut old = c.clone();
        old.shortfall.clear();
        assert_eq!(old.shortfall(1, 0.95), 0.0);
    }

    #[test]
    fn the_calibrated_mean_leaves_the_cases_total_unbiased() {
        // Forecast mean 10, demand 10 + 2σ for σ = 0.001 (one case) and 10 − 1 for σ = 1 (99
        // cases): the plain mean of the standardised errors (about +1) would move every
        // forecast up by σ; weighted by σ the shift leaves Σ expected = Σ demand.
        let mut cases = vec![ProtectionCase {
            origin: 0,
            weeks: 1,
            mean: 10.0,
            sigma: 0.001,
            demand: 10.002,
        }];
        cases.extend((0..99).map(|_| ProtectionCase {
            origin: 0,
            weeks: 1,
            mean: 10.0,
            sigma: 1.0,
            demand: 9.0,
        }));
        let c = ProtectionCalibration::fit(1, &cases).unwrap();
        let total: f64 = cases.iter().map(|k| k.demand).sum();
        let expected: f64 = cases
            .iter()
            .map(|k| c.expected_of(k.mean, k.sigma, 1))
            .sum();
        assert!((expected - total).abs() < 1e-9, "{expected} vs {total}");
        // A forecast with no spread, or a table fitted before the mean was kept: its own mean.
        assert_eq!(c.expected_of(7.0, 0.0, 1), 7.0);
        let mut old = c.clone();
        old.by_weeks[0].mean.clear();
        assert_eq!(old.expected_of(7.0, 2.0, 1), 7.0);
        // Never below 0.
        assert_eq!(c.expected_of(0.5, 5.0, 1), 0.0);
        // An interval length without cases: no move.
        let c2 = ProtectionCalibration::fit(2, &cases).unwrap();
        assert_eq!(c2.expected_of(7.0, 2.0, 2), 7.0);
    }
}
