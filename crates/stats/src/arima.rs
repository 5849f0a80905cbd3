//! ARIMA(p, d, q) with automatic order selection, as R's `forecast::auto.arima` and
//! statsforecast's `AutoARIMA` choose it on weekly data (Hyndman & Khandakar, "Automatic time
//! series forecasting: the forecast package for R", JSS 2008), without seasonal terms: a
//! 52-week season needs years of history that few SKUs have, and `auto.arima` itself does not
//! fit seasonal differences on weekly data by default.
//!
//! - **d**: the KPSS test of level stationarity at 5 % (statistic η = Σ S_t² / (n² s²), S_t the
//!   partial sums of the demeaned series, s² the Newey–West long-run variance with
//!   ⌊4 (n/100)^¼⌋ lags; critical value 0.463): difference once when it rejects, at most once.
//! - **p, q** in 0..=2, every pair (nine models; `auto.arima`'s stepwise search visits about as
//!   many), with a mean when d = 0 and none (no drift) when d = 1, each fitted by conditional
//!   sum of squares (Nelder–Mead inside the stationary and invertible region), σ² = CSS / n_eff;
//!   the least AICc = −2 log L + 2k + 2k(k + 1)/(n_eff − k − 1), k counting σ², wins.
//! - Forecasts: the conditional means (future errors 0), integrated back when d = 1; variance
//!   σ² Σ_{j<h} ψ_j² with the ψ weights of the whole model, the differencing included; normal
//!   quantiles, clipped at 0.

use restock_core::{Horizon, Predict, Quantiles};

use crate::baselines::normal_quantile;
use crate::ets::nelder_mead;

/// KPSS critical value at 5 % for level stationarity.
pub const KPSS_CRITICAL_5: f64 = 0.463;

/// Fewest weeks for any ARIMA fit; shorter histories get no model.
pub const MIN_WEEKS: usize = 12;

/// An ARIMA order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArimaOrder {
    /// Autoregressive terms, 0..=2.
    pub p: usize,
    /// Differences, 0 or 1.
    pub d: usize,
    /// Moving-average terms, 0..=2.
    pub q: usize,
}

impl ArimaOrder {
    /// `ARIMA(p,d,q)`.
    pub fn name(&self) -> String {
        format!("ARIMA({},{},{})", self.p, self.d, self.q)
    }

    /// Estimated parameters: φ, θ, the mean when d = 0, and σ².
    fn parameters(&self) -> usize {
        self.p + self.q + usize::from(self.d == 0) + 1
    }
}

/// A fitted ARIMA model.
#[derive(Debug, Clone, PartialEq)]
pub struct ArimaFit {
    /// The order.
    pub order: ArimaOrder,
    /// AR coefficients φ_1..φ_p.
    pub phi: Vec<f64>,
    /// MA coefficients θ_1..θ_q.
    pub theta: Vec<f64>,
    /// The mean of the (differenced) series; 0 when d = 1.
    pub mean: f64,
    /// Innovation variance, CSS / n_eff.
    pub sigma2: f64,
    /// AICc.
    pub aicc: f64,
    /// The last values of the history and of the differenced series, and the last residuals.
    last_y: f64,
    w: Vec<f64>,
    resid: Vec<f64>,
}

/// Whether 1 − a_1 B − a_2 B² (for `a` of length ≤ 2) has its roots outside the unit circle,
/// with a small margin.
fn stationary(a: &[f64]) -> bool {
    const M: f64 = 1e-3;
    match a {
        [] => true,
        [a1] => a1.abs() < 1.0 - M,
        [a1, a2] => a2.abs() < 1.0 - M && a1 + a2 < 1.0 - M && a2 - a1 < 1.0 - M,
        _ => false,
    }
}

/// Residuals of `w` under the ARMA with `phi`, `theta` and `mean`, conditional on the first p
/// values and on zero errors before them: e_t for t = p..n.
fn residuals(w: &[f64], phi: &[f64], theta: &[f64], mean: f64) -> Vec<f64> {
    let p = phi.len();
    let mut e = vec![0.0; w.len()];
    for t in p..w.len() {
        let mut pred = mean;
        for (i, f) in phi.iter().enumerate() {
            pred += f * (w[t - 1 - i] - mean);
        }
        for (j, th) in theta.iter().enumerate() {
            if t > j {
                pred += th * e[t - 1 - j];
            }
        }
        e[t] = w[t] - pred;
    }
    e
}

/// The KPSS statistic of level stationarity of `y` (see the module docs).
pub fn kpss(y: &[f64]) -> f64 {
    let n = y.len();
    if n < 3 {
        return 0.0;
    }
    let mean = y.iter().sum::<f64>() / n as f64;
    let e: Vec<f64> = y.iter().map(|v| v - mean).collect();
    let mut s = 0.0;
    let mut eta = 0.0;
    for v in &e {
        s += v;
        eta += s * s;
    }
    let nf = n as f64;
    let lags = (4.0 * (nf / 100.0).powf(0.25)).floor() as usize;
    let mut lrv = e.iter().map(|v| v * v).sum::<f64>() / nf;
    for l in 1..=lags.min(n - 1) {
        let w = 1.0 - l as f64 / (lags as f64 + 1.0);
        let cov = (l..n).map(|t| e[t] * e[t - l]).sum::<f64>() / nf;
        lrv += 2.0 * w * cov;
    }
    if lrv <= 1e-12 {
        return 0.0;
    }
    eta / (nf * nf * lrv)
}

/// Fit ARIMA(`order`) to `y` by conditional sum of squares, or `None` when the history is too
/// short for it (fewer than its parameters + 3 usable weeks) or the fit is not finite.
pub fn fit(order: ArimaOrder, y: &[f64]) -> Option<ArimaFit> {
    if order.d > 1 || order.p > 2 || order.q > 2 || y.len() < MIN_WEEKS {
        return None;
    }
    let w: Vec<f64> = if order.d == 1 {
        y.windows(2).map(|v| v[1] - v[0]).collect()
    } else {
        y.to_vec()
    };
    let (p, q) = (order.p, order.q);
    let n_eff = w.len().saturating_sub(p);
    let k = order.parameters();
    if n_eff < k + 3 {
        return None;
    }
    let with_mean = order.d == 0;
    let w_mean = w.iter().sum::<f64>() / w.len() as f64;
    let unpack = |x: &[f64]| -> (Vec<f64>, Vec<f64>, f64) {
        let phi = x[..p].to_vec();
        let theta = x[p..p + q].to_vec();
        let mean = if with_mean { x[p + q] } else { 0.0 };
        (phi, theta, mean)
    };
    let css = |x: &[f64]| -> f64 {
        let (phi, theta, mean) = unpack(x);
        let neg: Vec<f64> = theta.iter().map(|t| -t).collect();
        if !stationary(&phi) || !stationary(&neg) {
            return f64::INFINITY;
        }
        residuals(&w, &phi, &theta, mean)[p..]
            .iter()
            .map(|e| e * e)
            .sum()
    };
    let mut x0 = vec![0.0; p + q];
    let mut steps = vec![0.1; p + q];
    if with_mean {
        let sd = (w.iter().map(|v| (v - w_mean).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
        x0.push(w_mean);
        steps.push(0.1 * sd.max(1e-3));
    }
    let best = if x0.is_empty() {
        x0
    } else {
        nelder_mead(&css, &x0, &steps, 1e-10, 400 * (p + q + 2))
    };
    let value = css(&best);
    if !value.is_finite() {
        return None;
    }
    let (phi, theta, mean) = unpack(&best);
    let sigma2 = (value / n_eff as f64).max(1e-12);
    let nf = n_eff as f64;
    let neg2_loglik = nf * ((2.0 * std::f64::consts::PI * sigma2).ln() + 1.0);
    let kf = k as f64;
    let aicc = neg2_loglik + 2.0 * kf + 2.0 * kf * (kf + 1.0) / (nf - kf - 1.0);
    let resid = residuals(&w, &phi, &theta, mean);
    Some(ArimaFit {
        order,
        phi,
        theta,
        mean,
        sigma2,
        aicc,
        last_y: y[y.len() - 1],
        w,
        resid,
    })
}

/// The model with the least AICc among ARIMA(p, d, q), p and q in 0..=2, d from the KPSS test;
/// `None` for histories shorter than [`MIN_WEEKS`].
pub fn auto(y: &[f64]) -> Option<ArimaFit> {
    if y.len() < MIN_WEEKS {
        return None;
    }
    let d = usize::from(kpss(y) > KPSS_CRITICAL_5);
    (0..=2)
        .flat_map(|p| (0..=2).map(move |q| ArimaOrder { p, d, q }))
        .filter_map(|order| fit(order, y))
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
}

impl ArimaFit {
    /// The mean forecasts of the next `weeks` weeks.
    pub fn means(&self, weeks: usize) -> Vec<f64> {
        let (p, q) = (self.phi.len(), self.theta.len());
        let n = self.w.len();
        let mut w = self.w.clone();
        let mut e = self.resid.clone();
        for _ in 0..weeks {
            let t = w.len();
            let mut next = self.mean;
            for i in 0..p {
                next += self.phi[i] * (w[t - 1 - i] - self.mean);
            }
            for j in 0..q {
                if t > j {
                    next += self.theta[j] * e[t - 1 - j];
                }
            }
            w.push(next);
            e.push(0.0);
        }
        let ahead = &w[n..];
        if self.order.d == 1 {
            let mut level = self.last_y;
            ahead
                .iter()
                .map(|dw| {
                    level += dw;
                    level
                })
                .collect()
        } else {
            ahead.to_vec()
        }
    }

    /// The forecast variance `h` (1-based) weeks ahead: σ² Σ_{j<h} ψ_j².
    pub fn variance(&self, h: usize) -> f64 {
        let (p, q) = (self.phi.len(), self.theta.len());
        let mut psi = vec![1.0];
        for j in 1..h {
            let mut v = if j <= q { self.theta[j - 1] } else { 0.0 };
            for i in 1..=p.min(j) {
                v += self.phi[i - 1] * psi[j - i];
            }
            psi.push(v);
        }
        if self.order.d == 1 {
            let mut acc = 0.0;
            for v in psi.iter_mut() {
                acc += *v;
                *v = acc;
            }
        }
        self.sigma2 * psi.iter().map(|v| v * v).sum::<f64>()
    }
}

impl Predict for ArimaFit {
    /// Normal quantiles around the mean, clipped at 0 (demand is never negative).
    fn predict(&self, horizon: Horizon, levels: &Quantiles) -> Vec<f64> {
        let means = self.means(horizon.weeks());
        let mut out = Vec::with_capacity(horizon.weeks() * levels.len());
        for (h, mu) in means.iter().enumerate() {
            let sd = self.variance(h + 1).sqrt();
            out.extend(
                levels
                    .levels()
                    .iter()
                    .map(|&l| (mu.max(0.0) + normal_quantile(l) * sd).max(0.0)),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Normal};

    const Y: [f64; 24] = [
        5.0, 7.0, 6.0, 8.0, 7.0, 9.0, 6.0, 5.0, 7.0, 8.0, 6.0, 7.0, 9.0, 8.0, 6.0, 5.0, 6.0, 8.0,
        9.0, 7.0, 6.0, 7.0, 8.0, 6.0,
    ];

    #[test]
    fn ar1_by_css_is_least_squares_and_forecasts_by_hand() {
        // CSS for AR(1) with a mean, conditional on the first week, is the least-squares
        // regression of y_t on (1, y_{t−1}): φ = cov / var, c = ȳ₁ − φ ȳ₀, μ = c / (1 − φ).
        let f = fit(ArimaOrder { p: 1, d: 0, q: 0 }, &Y).unwrap();
        let (x, z) = (&Y[..Y.len() - 1], &Y[1..]);
        let n = x.len() as f64;
        let (mx, mz) = (x.iter().sum::<f64>() / n, z.iter().sum::<f64>() / n);
        let cov: f64 = x.iter().zip(z).map(|(a, b)| (a - mx) * (b - mz)).sum();
        let var: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
        let phi = cov / var;
        let mu = (mz - phi * mx) / (1.0 - phi);
        assert!((f.phi[0] - phi).abs() < 1e-4, "{} vs {phi}", f.phi[0]);
        assert!((f.mean - mu).abs() < 1e-3, "{} vs {mu}", f.mean);
        let sse: f64 = x
            .iter()
            .zip(z)
            .map(|(a, b)| (b - mu - phi * (a - mu)).powi(2))
            .sum();
        assert!((f.sigma2 - sse / n).abs() < 1e-6 * (1.0 + sse));
        // Forecasts: μ + φ^h (y_n − μ); variance σ² (1 + φ² + … + φ^{2(h−1)}).
        let last = Y[Y.len() - 1];
        let m = f.means(3);
        for h in 1..=3 {
            let want = f.mean + f.phi[0].powi(h as i32) * (last - f.mean);
            assert!((m[h - 1] - want).abs() < 1e-9);
            let v: f64 = (0..h).map(|j| f.phi[0].powi(2 * j as i32)).sum();
            assert!((f.variance(h) - f.sigma2 * v).abs() < 1e-9);
        }
    }

    #[test]
    fn random_walk_and_ma1_by_hand() {
        // ARIMA(0,1,0): flat at the last value, variance h σ², σ² the mean squared difference.
        let f = fit(ArimaOrder { p: 0, d: 1, q: 0 }, &Y).unwrap();
        let diffs: Vec<f64> = Y.windows(2).map(|v| v[1] - v[0]).collect();
        let s2 = diffs.iter().map(|d| d * d).sum::<f64>() / diffs.len() as f64;
        assert!((f.sigma2 - s2).abs() < 1e-12);
        assert_eq!(f.means(4), vec![6.0; 4]);
        assert!((f.variance(4) - 4.0 * s2).abs() < 1e-9);
        // MA(1): ψ_1 = θ, so the 2-step variance is σ² (1 + θ²), flat after one step.
        let g = fit(ArimaOrder { p: 0, d: 0, q: 1 }, &Y).unwrap();
        let th = g.theta[0];
        assert!((g.variance(2) - g.sigma2 * (1.0 + th * th)).abs() < 1e-12);
        let m = g.means(3);
        assert!((m[1] - g.mean).abs() < 1e-12 && (m[2] - g.mean).abs() < 1e-12);
        assert!((m[0] - (g.mean + th * g.resid[g.resid.len() - 1])).abs() < 1e-12);
    }

    #[test]
    fn kpss_differences_a_random_walk_and_auto_finds_the_ar_order() {
        // A typical draw of 400 normal errors: the test's size is 5 % (about 6 % with this lag
        // rule, as measured over 300 seeds), so some seeds' white noise is rejected.
        let mut rng = StdRng::seed_from_u64(4);
        let noise = Normal::new(0.0, 1.0).unwrap();
        let e: Vec<f64> = (0..400).map(|_| noise.sample(&mut rng)).collect();
        // White noise: stationary, not differenced.
        assert!(kpss(&e) < KPSS_CRITICAL_5, "{}", kpss(&e));
        // A random walk: differenced.
        let walk: Vec<f64> = e
            .iter()
            .scan(100.0, |s, v| {
                *s += v;
                Some(*s)
            })
            .collect();
        assert!(kpss(&walk) > KPSS_CRITICAL_5);
        assert_eq!(auto(&walk).unwrap().order.d, 1);
        // AR(1), φ = 0.5 around 50: auto keeps d = 0, an AR term, φ near 0.5. (With φ near 1
        // the short-lag KPSS test, as in `auto.arima`, often differences a stationary series.)
        let mut y = vec![50.0];
        for v in &e[1..] {
            let last = y[y.len() - 1];
            y.push(50.0 + 0.5 * (last - 50.0) + v);
        }
        let f = auto(&y).unwrap();
        assert_eq!(f.order.d, 0, "{} kpss {}", f.order.name(), kpss(&y));
        assert!(f.order.p >= 1, "{}", f.order.name());
        assert!((f.mean - 50.0).abs() < 1.0);
        if f.order == (ArimaOrder { p: 1, d: 0, q: 0 }) {
            assert!((f.phi[0] - 0.5).abs() < 0.1, "{}", f.phi[0]);
        }
        // Too short: no model.
        assert!(auto(&Y[..MIN_WEEKS - 1]).is_none());
    }
}
