//! Exponential smoothing state-space models (ETS) and their automatic selection by AICc, as in
//! Hyndman, Koehler, Ord & Snyder, *Forecasting with Exponential Smoothing* (2008), R's
//! `forecast::ets` and statsforecast's `AutoETS`.
//!
//! Components: error additive (A) or multiplicative (M); trend none (N), additive (A) or damped
//! (Ad); no seasonal component. Like `ets` and `AutoETS`, seasonal models are not fitted when
//! the season is longer than 24 periods, which is the case of weekly data (52), and
//! multiplicative trends are left out. Multiplicative errors need a strictly positive history.
//!
//! One departure from `ets`: a multiplicative-error model is admissible only when its relative
//! errors keep 1 + ε positive with high probability (σ ≤ 0.5, P(1 + ε < 0) ≈ 2 %). With large
//! relative errors the model contradicts its own positivity, and its forecast variance grows
//! like (1 + σ²c²)^h: on Online Retail one such fit (σ² = 34) put a q90 at 10⁵ times its mean.
//!
//! Each model's smoothing parameters and initial states maximise the likelihood (Nelder–Mead
//! inside the usual bounds: 1e-4 ≤ β ≤ α ≤ 1 − 1e-4, 0.8 ≤ φ ≤ 0.98); the model with the least
//! AICc is kept. Forecasts are the model's conditional means; prediction intervals are normal
//! around them, with the exact forecast variance of the additive-error models (class 1) and
//! the class-2 expression for the multiplicative-error ones (Hyndman et al. 2008, ch. 6):
//!
//! ```text
//! c_j = α + β (φ + φ² + … + φ^j)                      (β = 0 without trend, φ = 1 undamped)
//! additive error:        v_h = σ² (1 + Σ_{j<h} c_j²)
//! multiplicative error:  v_h = (1 + σ²) θ_h − μ_h²,   θ_h = μ_h² + σ² Σ_{j<h} c_j² θ_{h−j}
//! ```

use restock_core::{Horizon, Predict, Quantiles};

use crate::baselines::normal_quantile;

/// The error component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// y = μ + ε.
    Additive,
    /// y = μ (1 + ε).
    Multiplicative,
}

/// The trend component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrendType {
    /// A level only.
    None,
    /// Level and slope.
    Additive,
    /// Level and a slope that fades by φ each period.
    Damped,
}

/// An ETS model specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EtsSpec {
    /// The error.
    pub error: ErrorType,
    /// The trend.
    pub trend: TrendType,
}

impl EtsSpec {
    /// The specifications AutoETS considers for non-seasonal data.
    pub const ALL: [EtsSpec; 6] = [
        EtsSpec::new(ErrorType::Additive, TrendType::None),
        EtsSpec::new(ErrorType::Additive, TrendType::Additive),
        EtsSpec::new(ErrorType::Additive, TrendType::Damped),
        EtsSpec::new(ErrorType::Multiplicative, TrendType::None),
        EtsSpec::new(ErrorType::Multiplicative, TrendType::Additive),
        EtsSpec::new(ErrorType::Multiplicative, TrendType::Damped),
    ];

    /// A specification.
    pub const fn new(error: ErrorType, trend: TrendType) -> Self {
        EtsSpec { error, trend }
    }

    /// The usual short name: `ETS(A,N,N)`, `ETS(M,Ad,N)`, ...
    pub fn name(&self) -> String {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        format!("ETS({e},{t},N)")
    }

    /// Free parameters: smoothing (α, β, φ as present) and initial states (level, slope).
    fn parameters(&self) -> usize {
        match self.trend {
            TrendType::None => 2,
            TrendType::Additive => 4,
            TrendType::Damped => 5,
        }
    }
}

/// Smoothing parameters and initial states.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EtsParams {
    /// Level smoothing.
    pub alpha: f64,
    /// Slope smoothing (0 without trend).
    pub beta: f64,
    /// Damping (1 undamped).
    pub phi: f64,
    /// Initial level.
    pub level: f64,
    /// Initial slope (0 without trend).
    pub slope: f64,
}

/// A fitted ETS model.
#[derive(Debug, Clone, PartialEq)]
pub struct EtsFit {
    /// The model.
    pub spec: EtsSpec,
    /// Its parameters.
    pub params: EtsParams,
    /// Level and slope after the last observation.
    pub state: (f64, f64),
    /// Innovation variance: Σe² / (n − parameters), e the additive or relative errors.
    pub sigma2: f64,
    /// −2 log-likelihood, up to a constant shared by all models of one history.
    pub neg2_loglik: f64,
    /// Akaike's criterion, corrected for small samples.
    pub aicc: f64,
}

/// One pass of the model over `y`: the final state, Σe² and Σ log|μ_t| (for the multiplicative
/// likelihood), or `None` where a one-step mean is not positive under multiplicative error.
fn filter(spec: EtsSpec, p: &EtsParams, y: &[f64]) -> Option<((f64, f64), f64, f64)> {
    let (mut l, mut b) = (p.level, p.slope);
    let (mut sse, mut log_mu) = (0.0, 0.0);
    for &v in y {
        let trend = p.phi * b;
        let mu = l + trend;
        let (e, step) = match spec.error {
            ErrorType::Additive => {
                let e = v - mu;
                (e, e)
            }
            ErrorType::Multiplicative => {
                if mu.is_nan() || mu <= 0.0 {
                    return None;
                }
                log_mu += mu.ln();
                let e = (v - mu) / mu;
                (e, mu * e)
            }
        };
        sse += e * e;
        l = mu + p.alpha * step;
        b = trend + p.beta * step;
    }
    Some(((l, b), sse, log_mu))
}

/// −2 log-likelihood of `p` on `y` (concentrated over σ², constants dropped).
fn neg2_loglik(spec: EtsSpec, p: &EtsParams, y: &[f64]) -> f64 {
    let n = y.len() as f64;
    match filter(spec, p, y) {
        Some((_, sse, log_mu)) if sse.is_finite() => n * sse.max(1e-300).ln() + 2.0 * log_mu,
        _ => f64::INFINITY,
    }
}

const SMALL: f64 = 1e-4;

/// The largest relative error variance of an admissible multiplicative-error model (σ = 0.5).
pub const MAX_RELATIVE_VARIANCE: f64 = 0.25;

/// Parameters from the optimiser's free vector, or `None` outside the admissible region.
fn unpack(spec: EtsSpec, x: &[f64]) -> Option<EtsParams> {
    let alpha = x[0];
    let (beta, phi, level, slope) = match spec.trend {
        TrendType::None => (0.0, 1.0, x[1], 0.0),
        TrendType::Additive => (x[1], 1.0, x[2], x[3]),
        TrendType::Damped => (x[1], x[2], x[3], x[4]),
    };
    let ok = (SMALL..=1.0 - SMALL).contains(&alpha)
        && (spec.trend == TrendType::None || (SMALL..=alpha).contains(&beta))
        && (spec.trend != TrendType::Damped || (0.8..=0.98).contains(&phi))
        && level.is_finite()
        && slope.is_finite();
    ok.then_some(EtsParams {
        alpha,
        beta,
        phi,
        level,
        slope,
    })
}

/// Fit one model to `y`, or `None` when the history is too short for its parameters (fewer
/// than parameters + 3 weeks, σ² included, so that AICc is defined), or, under multiplicative
/// error, has a non-positive value or relative errors above [`MAX_RELATIVE_VARIANCE`].
pub fn fit(spec: EtsSpec, y: &[f64]) -> Option<EtsFit> {
    let n = y.len();
    let k = spec.parameters();
    if n < k + 3 || (spec.error == ErrorType::Multiplicative && y.iter().any(|v| *v <= 0.0)) {
        return None;
    }
    // Starting values as in `ets`: level and slope from the first weeks, small smoothing.
    let m = n.min(10);
    let start_level = y[..m].iter().sum::<f64>() / m as f64;
    let start_slope = if m > 1 {
        (y[m - 1] - y[0]) / (m - 1) as f64
    } else {
        0.0
    };
    let x0: Vec<f64> = match spec.trend {
        TrendType::None => vec![0.2, start_level],
        TrendType::Additive => vec![0.2, 0.02, start_level, start_slope],
        TrendType::Damped => vec![0.2, 0.02, 0.95, start_level, start_slope],
    };
    // Initial simplex steps: a tenth of α's range, small ones for β and φ, a fifth of the
    // history's mean absolute value for the level and a twentieth for the slope.
    let scale = (y.iter().map(|v| v.abs()).sum::<f64>() / n as f64).max(1e-3);
    let steps: Vec<f64> = match spec.trend {
        TrendType::None => vec![0.1, 0.2 * scale],
        TrendType::Additive => vec![0.1, 0.01, 0.2 * scale, 0.05 * scale],
        TrendType::Damped => vec![0.1, 0.01, 0.02, 0.2 * scale, 0.05 * scale],
    };
    let objective = |x: &[f64]| unpack(spec, x).map_or(f64::INFINITY, |p| neg2_loglik(spec, &p, y));
    let best = nelder_mead(&objective, &x0, &steps, 1e-8, 2000);
    let params = unpack(spec, &best)?;
    let (state, sse, _) = filter(spec, &params, y)?;
    let lik = neg2_loglik(spec, &params, y);
    if !lik.is_finite() {
        return None;
    }
    let sigma2 = sse / (n - k).max(1) as f64;
    if spec.error == ErrorType::Multiplicative && sigma2 > MAX_RELATIVE_VARIANCE {
        return None;
    }
    // σ² is a parameter too, as in `ets`.
    let np = (k + 1) as f64;
    let aic = lik + 2.0 * np;
    let aicc = aic + 2.0 * np * (np + 1.0) / (n as f64 - np - 1.0);
    Some(EtsFit {
        spec,
        params,
        state,
        sigma2,
        neg2_loglik: lik,
        aicc,
    })
}

/// The model with the least AICc among [`EtsSpec::ALL`] that fit `y`.
pub fn auto(y: &[f64]) -> Option<EtsFit> {
    EtsSpec::ALL
        .iter()
        .filter_map(|&spec| fit(spec, y))
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
}

impl EtsFit {
    /// The mean forecast `h` (1-based) periods ahead.
    pub fn mean(&self, h: usize) -> f64 {
        let (l, b) = self.state;
        l + damped_sum(self.params.phi, h) * b
    }

    /// The forecast variance `h` periods ahead (see the module's formulas).
    pub fn variance(&self, h: usize) -> f64 {
        let p = &self.params;
        let c = |j: usize| p.alpha + p.beta * damped_sum(p.phi, j);
        match self.spec.error {
            ErrorType::Additive => self.sigma2 * (1.0 + (1..h).map(|j| c(j).powi(2)).sum::<f64>()),
            ErrorType::Multiplicative => {
                let mut theta = Vec::with_capacity(h);
                for i in 1..=h {
                    let mu = self.mean(i);
                    let t = mu * mu
                        + self.sigma2
                            * (1..i).map(|j| c(j).powi(2) * theta[i - j - 1]).sum::<f64>();
                    theta.push(t);
                }
                let mu = self.mean(h);
                ((1.0 + self.sigma2) * theta[h - 1] - mu * mu).max(0.0)
            }
        }
    }
}

/// φ + φ² + … + φ^h (h when φ = 1).
fn damped_sum(phi: f64, h: usize) -> f64 {
    let mut sum = 0.0;
    let mut power = 1.0;
    for _ in 0..h {
        power *= phi;
        sum += power;
    }
    sum
}

impl Predict for EtsFit {
    /// Normal quantiles around the mean, clipped at 0 (demand is never negative).
    fn predict(&self, horizon: Horizon, levels: &Quantiles) -> Vec<f64> {
        let mut out = Vec::with_capacity(horizon.weeks() * levels.len());
        for h in 1..=horizon.weeks() {
            let (mu, sd) = (self.mean(h), self.variance(h).sqrt());
            out.extend(
                levels
                    .levels()
                    .iter()
                    .map(|&q| (mu + normal_quantile(q) * sd).max(0.0)),
            );
        }
        out
    }
}

/// Minimise `f` from `x0` with initial simplex steps `steps` (Nelder–Mead with the standard
/// coefficients), until the spread of the simplex's values is below `tol` (relative) or after
/// `max_evals` evaluations.
pub(crate) fn nelder_mead(
    f: &dyn Fn(&[f64]) -> f64,
    x0: &[f64],
    steps: &[f64],
    tol: f64,
    max_evals: usize,
) -> Vec<f64> {
    let d = x0.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(d + 1);
    simplex.push((x0.to_vec(), f(x0)));
    for i in 0..d {
        let mut x = x0.to_vec();
        x[i] += steps[i];
        let v = f(&x);
        simplex.push((x, v));
    }
    let mut evals = d + 1;
    while evals < max_evals {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (best, worst) = (simplex[0].1, simplex[d].1);
        if best.is_finite() && (worst - best).abs() <= tol * (best.abs() + tol) {
            break;
        }
        let centroid: Vec<f64> = (0..d)
            .map(|j| simplex[..d].iter().map(|(x, _)| x[j]).sum::<f64>() / d as f64)
            .collect();
        let towards = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&simplex[d].0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let reflected = towards(-1.0);
        let fr = f(&reflected);
        evals += 1;
        if fr < simplex[0].1 {
            let expanded = towards(-2.0);
            let fe = f(&expanded);
            evals += 1;
            simplex[d] = if fe < fr {
                (expanded, fe)
            } else {
                (reflected, fr)
            };
        } else if fr < simplex[d - 1].1 {
            simplex[d] = (reflected, fr);
        } else {
            let contracted = if fr < simplex[d].1 {
                towards(-0.5)
            } else {
                towards(0.5)
            };
            let fc = f(&contracted);
            evals += 1;
            if fc < fr.min(simplex[d].1) {
                simplex[d] = (contracted, fc);
            } else {
                // Shrink towards the best vertex.
                let first = simplex[0].0.clone();
                for (x, v) in simplex.iter_mut().skip(1) {
                    for (xi, bi) in x.iter_mut().zip(&first) {
                        *xi = bi + 0.5 * (*xi - bi);
                    }
                    *v = f(x);
                }
                evals += d;
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(alpha: f64, beta: f64, phi: f64, level: f64, slope: f64) -> EtsParams {
        EtsParams {
            alpha,
            beta,
            phi,
            level,
            slope,
        }
    }

    #[test]
    fn simple_exponential_smoothing_by_hand() {
        // ETS(A,N,N), α = 0.5, l0 = 10 on 12, 8, 10: levels 11, 9.5, 9.75; errors 2, −3, 0.5.
        let spec = EtsSpec::new(ErrorType::Additive, TrendType::None);
        let p = params(0.5, 0.0, 1.0, 10.0, 0.0);
        let ((l, b), sse, _) = filter(spec, &p, &[12.0, 8.0, 10.0]).unwrap();
        assert_eq!((l, b), (9.75, 0.0));
        assert_eq!(sse, 4.0 + 9.0 + 0.25);
        // Forecast variance σ²(1 + (h − 1)α²) (Hyndman et al. 2008, Table 6.1).
        let fit = EtsFit {
            spec,
            params: p,
            state: (l, b),
            sigma2: 2.0,
            neg2_loglik: 0.0,
            aicc: 0.0,
        };
        assert_eq!(fit.mean(3), 9.75);
        assert!((fit.variance(4) - 2.0 * (1.0 + 3.0 * 0.25)).abs() < 1e-12);
    }

    #[test]
    fn holt_and_damped_trend_by_hand() {
        // ETS(A,A,N), α = 0.5, β = 0.1, l0 = 10, b0 = 1 on 12: μ = 11, e = 1, l = 11.5, b = 1.1.
        let holt = EtsSpec::new(ErrorType::Additive, TrendType::Additive);
        let p = params(0.5, 0.1, 1.0, 10.0, 1.0);
        let ((l, b), sse, _) = filter(holt, &p, &[12.0]).unwrap();
        assert!((l - 11.5).abs() < 1e-12 && (b - 1.1).abs() < 1e-12 && sse == 1.0);
        let fit = EtsFit {
            spec: holt,
            params: p,
            state: (l, b),
            sigma2: 1.5,
            neg2_loglik: 0.0,
            aicc: 0.0,
        };
        assert!((fit.mean(3) - (11.5 + 3.0 * 1.1)).abs() < 1e-12);
        // σ²[1 + (h−1){α² + αβh + β²h(2h−1)/6}] (Hyndman et al. 2008, Table 6.1), h = 4.
        let h = 4.0;
        let expected =
            1.5 * (1.0 + (h - 1.0) * (0.25 + 0.05 * h + 0.01 * h * (2.0 * h - 1.0) / 6.0));
        assert!(
            (fit.variance(4) - expected).abs() < 1e-12,
            "{}",
            fit.variance(4)
        );
        // Damped: the slope's contribution is φ + φ² + φ³.
        let damped = EtsFit {
            spec: EtsSpec::new(ErrorType::Additive, TrendType::Damped),
            params: params(0.5, 0.1, 0.9, 10.0, 1.0),
            ..fit
        };
        assert!((damped.mean(3) - (11.5 + (0.9 + 0.81 + 0.729) * 1.1)).abs() < 1e-12);
    }

    #[test]
    fn multiplicative_error_variance_is_the_class_2_expression() {
        // ETS(M,N,N): μ_h = l for all h, c_j = α; θ_1 = l², θ_2 = l² + σ²α²l².
        let fit = EtsFit {
            spec: EtsSpec::new(ErrorType::Multiplicative, TrendType::None),
            params: params(0.3, 0.0, 1.0, 10.0, 0.0),
            state: (20.0, 0.0),
            sigma2: 0.04,
            neg2_loglik: 0.0,
            aicc: 0.0,
        };
        assert!((fit.variance(1) - 0.04 * 400.0).abs() < 1e-9);
        let theta2 = 400.0 * (1.0 + 0.04 * 0.09);
        assert!((fit.variance(2) - (1.04 * theta2 - 400.0)).abs() < 1e-9);
    }

    #[test]
    fn selection_finds_the_process_and_recovers_its_parameters() {
        // A noiseless line: a trend model fits it exactly and wins the AICc.
        let line: Vec<f64> = (0..40).map(|t| 5.0 + 0.5 * t as f64).collect();
        let best = auto(&line).unwrap();
        assert_ne!(best.spec.trend, TrendType::None, "{best:?}");
        assert!((best.mean(1) - 25.0).abs() < 0.05, "{}", best.mean(1));
        // A level with noise and no trend: a flat model, forecasting near the level.
        let mut state = 7u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) - 0.5
        };
        let flat: Vec<f64> = (0..80).map(|_| 50.0 + 4.0 * noise()).collect();
        let chosen = auto(&flat).unwrap();
        assert!((chosen.mean(4) - 50.0).abs() < 2.0, "{chosen:?}");
        assert!(chosen.params.alpha < 0.5, "{chosen:?}");
        // The fit is no worse than SES at a hand-picked α: the optimiser does its job.
        let ses = EtsSpec::new(ErrorType::Additive, TrendType::None);
        let own = fit_lik(ses, &flat);
        let hand = neg2_loglik(ses, &params(0.3, 0.0, 1.0, 50.0, 0.0), &flat);
        assert!(own <= hand + 1e-9, "{own} > {hand}");
        // Relative swings of 20× rule out multiplicative errors (σ > 0.5), not additive ones.
        let swings = [
            48.0, 2.0, 6.0, 10.0, 7.0, 42.0, 5.0, 25.0, 28.0, 56.0, 3.0, 40.0,
        ];
        assert!(
            fit(
                EtsSpec::new(ErrorType::Multiplicative, TrendType::None),
                &swings
            )
            .is_none()
        );
        assert_eq!(auto(&swings).unwrap().spec.error, ErrorType::Additive);
        let calm: Vec<f64> = flat.iter().map(|v| v + 10.0).collect();
        let m = fit(
            EtsSpec::new(ErrorType::Multiplicative, TrendType::None),
            &calm,
        )
        .unwrap();
        assert!(m.sigma2 < MAX_RELATIVE_VARIANCE, "{m:?}");
        // Zeros rule out multiplicative errors; too short a history fits nothing.
        let with_zero = [3.0, 0.0, 4.0, 5.0, 2.0, 6.0, 3.0, 4.0, 5.0];
        assert!(
            fit(
                EtsSpec::new(ErrorType::Multiplicative, TrendType::None),
                &with_zero
            )
            .is_none()
        );
        assert!(auto(&with_zero).is_some());
        assert!(auto(&[1.0, 2.0, 3.0]).is_none());
    }

    fn fit_lik(spec: EtsSpec, y: &[f64]) -> f64 {
        fit(spec, y).unwrap().neg2_loglik
    }

    #[test]
    fn intervals_widen_with_the_horizon_and_never_go_negative() {
        let y: Vec<f64> = (0..30)
            .map(|t| if t % 3 == 0 { 0.0 } else { 2.0 })
            .collect();
        let fit = auto(&y).unwrap();
        let levels = Quantiles::new(vec![0.1, 0.5, 0.9]).unwrap();
        let q = fit.predict(Horizon::new(4).unwrap(), &levels);
        for h in 0..4 {
            let w = &q[h * 3..h * 3 + 3];
            assert!(w[0] >= 0.0 && w[0] <= w[1] && w[1] <= w[2], "{q:?}");
        }
        assert!(q[11] - q[9] >= q[2] - q[0] - 1e-12, "{q:?}");
    }
}
