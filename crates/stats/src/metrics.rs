//! The accuracy metrics of the weekly benchmark protocol (`shared/data/README.md`).
//!
//! - WAPE = Σ|y − ŷ| / Σy with ŷ the median forecast;
//! - MASE = mean over series of mean_h |y − ŷ| / mean_t |y_t − y_{t−1}| (scale on the history;
//!   series with a zero scale are left out and counted);
//! - RMSSE = mean over series of sqrt(mean_h (y − ŷ)² / mean_t (y_t − y_{t−1})²);
//! - Bias = Σ(ŷ − y) / Σy of the median, and of the mean ([`mean_from_quantiles`]): a median
//!   forecast of right-skewed demand is below the mean and reads as biased low even when it is
//!   right, so both are reported;
//! - scaled pinball loss per level: Σ ρ_q(y − ŷ_q) / Σy;
//! - coverage: the share of actuals inside [lowest level, highest level].

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The scores of one series over one horizon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesScore {
    /// Σ|y − ŷ| over the horizon.
    pub abs_error: f64,
    /// Σ(ŷ − y).
    pub error_sum: f64,
    /// Σ(mean − y), the mean from the quantiles ([`mean_from_quantiles`]).
    pub mean_error_sum: f64,
    /// Σy.
    pub actual_sum: f64,
    /// MASE; `None` when the history's scale is zero.
    pub mase: Option<f64>,
    /// RMSSE; `None` when the history's scale is zero.
    pub rmsse: Option<f64>,
    /// Σ ρ_q(y − ŷ_q) per level.
    pub pinball: Vec<f64>,
    /// Actuals inside [lowest, highest level].
    pub covered: usize,
    /// Weeks scored.
    pub weeks: usize,
}

impl SeriesScore {
    /// Score quantile forecasts `forecast[h * levels.len() + k]` against `actual[h]`, with the
    /// scales taken on `history` (oldest first).
    pub fn new(history: &[f64], actual: &[f64], forecast: &[f64], levels: &[f64]) -> Result<Self> {
        let k = levels.len();
        if k == 0 || forecast.len() != actual.len() * k {
            return Err(Error::Shape(format!(
                "{} forecast values for {} weeks of {k} levels",
                forecast.len(),
                actual.len()
            )));
        }
        if actual.is_empty() {
            return Err(Error::Shape("no actuals to score".into()));
        }
        let median = levels
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - 0.5).abs().total_cmp(&(b.1 - 0.5).abs()))
            .map_or(0, |(i, _)| i);
        let (mut abs_diff, mut sq_diff) = (0.0, 0.0);
        for w in history.windows(2) {
            abs_diff += (w[1] - w[0]).abs();
            sq_diff += (w[1] - w[0]).powi(2);
        }
        let diffs = history.len().saturating_sub(1) as f64;
        let mut score = SeriesScore {
            abs_error: 0.0,
            error_sum: 0.0,
            mean_error_sum: 0.0,
            actual_sum: 0.0,
            mase: None,
            rmsse: None,
            pinball: vec![0.0; k],
            covered: 0,
            weeks: actual.len(),
        };
        let mut sq_error = 0.0;
        for (h, &y) in actual.iter().enumerate() {
            let q = &forecast[h * k..(h + 1) * k];
            let e = q[median] - y;
            score.abs_error += e.abs();
            score.error_sum += e;
            score.mean_error_sum += mean_from_quantiles(q, levels) - y;
            score.actual_sum += y;
            sq_error += e * e;
            for (j, (&level, &value)) in levels.iter().zip(q).enumerate() {
                let d = y - value;
                score.pinball[j] += (level * d).max((level - 1.0) * d);
            }
            if y >= q[0] && y <= q[k - 1] {
                score.covered += 1;
            }
        }
        let n = actual.len() as f64;
        if diffs > 0.0 && abs_diff > 0.0 {
            score.mase = Some((score.abs_error / n) / (abs_diff / diffs));
            score.rmsse = Some(((sq_error / n) / (sq_diff / diffs)).sqrt());
        }
        Ok(score)
    }
}

/// The mean of a forecast given by quantiles `q` at `levels`: the integral of its quantile
/// function, linear between the given levels and flat beyond the outermost ones. For
/// q10/q50/q90 this is Swanson's rule, 0.3·q10 + 0.4·q50 + 0.3·q90.
pub fn mean_from_quantiles(q: &[f64], levels: &[f64]) -> f64 {
    let k = levels.len().min(q.len());
    if k == 0 {
        return 0.0;
    }
    let mut mean = levels[0] * q[0] + (1.0 - levels[k - 1]) * q[k - 1];
    for j in 1..k {
        mean += (levels[j] - levels[j - 1]) * (q[j] + q[j - 1]) / 2.0;
    }
    mean
}

fn nan() -> f64 {
    f64::NAN
}

/// JSON has no NaN: serde_json writes it as `null`; read `null` back as NaN.
fn null_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nulls_as_nan<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(d)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}

/// Aggregate metrics of many series (NaN where undefined; `null` in JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    /// Series scored.
    pub series: usize,
    /// Series left out of MASE/RMSSE because their history has a zero scale.
    pub zero_scale_series: usize,
    /// Weekly points scored.
    pub weeks: usize,
    /// Weighted absolute percentage error of the median.
    #[serde(deserialize_with = "null_as_nan")]
    pub wape: f64,
    /// Mean absolute scaled error.
    #[serde(deserialize_with = "null_as_nan")]
    pub mase: f64,
    /// Root mean squared scaled error.
    #[serde(deserialize_with = "null_as_nan")]
    pub rmsse: f64,
    /// Σ(ŷ − y) / Σy of the median; positive means over-forecasting.
    #[serde(deserialize_with = "null_as_nan")]
    pub bias: f64,
    /// Σ(mean − y) / Σy of the forecast's mean (NaN in files written before it existed).
    #[serde(default = "nan", deserialize_with = "null_as_nan")]
    pub mean_bias: f64,
    /// Quantile levels.
    pub levels: Vec<f64>,
    /// Scaled pinball loss per level.
    #[serde(deserialize_with = "nulls_as_nan")]
    pub pinball: Vec<f64>,
    /// Share of actuals inside [lowest, highest level].
    #[serde(deserialize_with = "null_as_nan")]
    pub coverage: f64,
}

/// A plain-text table of models' accuracy, one `(model, accuracy)` row each: WAPE, MASE,
/// RMSSE, bias of the median and of the mean, pinball at the lowest, middle and highest level,
/// coverage.
pub fn accuracy_table<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Accuracy)>) -> String {
    let mut out = format!(
        "{:<16} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>8} {:>8} {:>9}\n",
        "model",
        "WAPE",
        "MASE",
        "RMSSE",
        "bias",
        "bias(mean)",
        "pb(lo)",
        "pb(.5)",
        "pb(hi)",
        "coverage"
    );
    for (model, a) in rows {
        let pb = |i: usize| a.pinball.get(i).copied().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "{:<16} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>10.3} {:>8.4} {:>8.4} {:>8.4} {:>9.3}\n",
            model,
            a.wape,
            a.mase,
            a.rmsse,
            a.bias,
            a.mean_bias,
            pb(0),
            pb(a.levels.len() / 2),
            pb(a.levels.len().saturating_sub(1)),
            a.coverage
        ));
    }
    out
}

/// Sums series scores into [`Accuracy`].
#[derive(Debug, Clone, Default)]
pub struct AccuracyAccumulator {
    levels: Vec<f64>,
    series: usize,
    zero_scale: usize,
    weeks: usize,
    abs_error: f64,
    error_sum: f64,
    mean_error_sum: f64,
    actual_sum: f64,
    mase_sum: f64,
    rmsse_sum: f64,
    pinball: Vec<f64>,
    covered: usize,
}

impl AccuracyAccumulator {
    /// An empty accumulator for forecasts at `levels`.
    pub fn new(levels: &[f64]) -> Self {
        AccuracyAccumulator {
            levels: levels.to_vec(),
            pinball: vec![0.0; levels.len()],
            ..Default::default()
        }
    }

    /// Add one series.
    pub fn add(&mut self, score: &SeriesScore) {
        self.series += 1;
        self.weeks += score.weeks;
        self.abs_error += score.abs_error;
        self.error_sum += score.error_sum;
        self.mean_error_sum += score.mean_error_sum;
        self.actual_sum += score.actual_sum;
        match (score.mase, score.rmsse) {
            (Some(m), Some(r)) => {
                self.mase_sum += m;
                self.rmsse_sum += r;
            }
            _ => self.zero_scale += 1,
        }
        for (total, p) in self.pinball.iter_mut().zip(&score.pinball) {
            *total += p;
        }
        self.covered += score.covered;
    }

    /// The metrics so far (NaN where undefined: no actual demand, or no scaled series).
    pub fn finish(&self) -> Accuracy {
        let scaled = (self.series - self.zero_scale) as f64;
        Accuracy {
            series: self.series,
            zero_scale_series: self.zero_scale,
            weeks: self.weeks,
            wape: self.abs_error / self.actual_sum,
            mase: self.mase_sum / scaled,
            rmsse: self.rmsse_sum / scaled,
            bias: self.error_sum / self.actual_sum,
            mean_bias: self.mean_error_sum / self.actual_sum,
            levels: self.levels.clone(),
            pinball: self.pinball.iter().map(|p| p / self.actual_sum).collect(),
            coverage: self.covered as f64 / self.weeks as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_hand() {
        let levels = [0.1, 0.5, 0.9];
        // History with mean |diff| 2 and mean diff² 4.
        let history = [1.0, 3.0, 1.0];
        let actual = [4.0, 6.0];
        // Medians 5 and 5: errors +1, -1.
        let forecast = [3.0, 5.0, 7.0, 5.5, 5.0, 5.8];
        let s = SeriesScore::new(&history, &actual, &forecast, &levels).expect("score");
        assert_eq!(s.abs_error, 2.0);
        assert_eq!(s.error_sum, 0.0);
        // Means (Swanson): 0.3·3 + 0.4·5 + 0.3·7 = 5 and 0.3·5.5 + 0.4·5 + 0.3·5.8 = 5.39, so
        // Σ(mean − y) = 1 − 0.61.
        assert!((s.mean_error_sum - 0.39).abs() < 1e-12);
        assert_eq!(s.mase, Some(0.5));
        assert_eq!(s.rmsse, Some(0.5));
        // Week 1 covered (3 <= 4 <= 7); week 2 not (6 > 5.8).
        assert_eq!(s.covered, 1);
        // Pinball q0.9, week 2: 0.9 * (6 - 5.8) = 0.18; week 1: 0.1 * (7 - 4) = 0.3.
        assert!((s.pinball[2] - 0.48).abs() < 1e-12);
        let zero = SeriesScore::new(&[2.0, 2.0], &[1.0], &[0.0, 1.0, 2.0], &levels).expect("score");
        assert_eq!(zero.mase, None);
        let mut acc = AccuracyAccumulator::new(&levels);
        acc.add(&s);
        acc.add(&zero);
        let a = acc.finish();
        assert_eq!(a.series, 2);
        assert_eq!(a.zero_scale_series, 1);
        assert!((a.wape - 2.0 / 11.0).abs() < 1e-12);
        // The second series: mean 1 against 1.
        assert!((a.mean_bias - 0.39 / 11.0).abs() < 1e-12);
        assert_eq!(a.mase, 0.5);
        assert!((a.coverage - 2.0 / 3.0).abs() < 1e-12);
        assert!(SeriesScore::new(&history, &actual, &forecast[..4], &levels).is_err());
        // Undefined metrics survive a JSON round trip as NaN.
        let mut only_zero = AccuracyAccumulator::new(&levels);
        only_zero.add(&zero);
        let json = serde_json::to_string(&only_zero.finish()).expect("json");
        let back: Accuracy = serde_json::from_str(&json).expect("back");
        assert!(back.mase.is_nan() && back.series == 1);
        // Files written before the mean's bias existed read it as NaN.
        let old = json.replace(",\"mean_bias\":0.0", "");
        assert_ne!(old, json);
        let back: Accuracy = serde_json::from_str(&old).expect("old file");
        assert!(back.mean_bias.is_nan());
    }
}
