use serde::{Deserialize, Serialize};

use crate::{Error, Result, Week};

/// The number of weeks to forecast, 1..=[`Horizon::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Horizon(usize);

impl Horizon {
    /// The longest horizon accepted: two years of weeks.
    pub const MAX: usize = 104;

    /// A horizon of `weeks` weeks; an error outside 1..=104.
    pub fn new(weeks: usize) -> Result<Self> {
        if weeks == 0 || weeks > Self::MAX {
            return Err(Error::Horizon {
                got: weeks,
                max: Self::MAX,
            });
        }
        Ok(Horizon(weeks))
    }

    /// The number of weeks.
    pub fn weeks(self) -> usize {
        self.0
    }
}

/// Strictly increasing quantile levels inside (0, 1), e.g. `[0.1, 0.5, 0.9]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quantiles(Vec<f64>);

impl Quantiles {
    /// Checked levels.
    pub fn new(levels: Vec<f64>) -> Result<Self> {
        let ok = !levels.is_empty()
            && levels.iter().all(|q| q.is_finite() && *q > 0.0 && *q < 1.0)
            && levels.windows(2).all(|w| w[0] < w[1]);
        if ok {
            Ok(Quantiles(levels))
        } else {
            Err(Error::Quantiles(levels))
        }
    }

    /// The levels.
    pub fn levels(&self) -> &[f64] {
        &self.0
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `Quantiles` holds at least one level.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Index of the level closest to the median.
    pub fn median_index(&self) -> usize {
        let mut best = 0;
        for (i, q) in self.0.iter().enumerate() {
            if (q - 0.5).abs() < (self.0[best] - 0.5).abs() {
                best = i;
            }
        }
        best
    }
}

impl Default for Quantiles {
    fn default() -> Self {
        Quantiles(vec![0.1, 0.5, 0.9])
    }
}

/// Quantile forecasts of one SKU for consecutive weeks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The SKU.
    pub unique_id: String,
    /// The model that produced it (`lstm`, `seasonal_naive`, `oracle`, ...).
    pub model: String,
    /// The first forecast week.
    pub start: Week,
    /// The quantile levels.
    pub levels: Quantiles,
    /// Units per week: `values[h * levels.len() + k]` is level `k` of week `start + h`.
    pub values: Vec<f64>,
}

impl Forecast {
    /// A forecast checked for shape, finiteness, non-negativity and non-crossing quantiles.
    pub fn new(
        unique_id: impl Into<String>,
        model: impl Into<String>,
        start: Week,
        levels: Quantiles,
        values: Vec<f64>,
    ) -> Result<Self> {
        let unique_id = unique_id.into();
        let k = levels.len();
        let shape = |detail: String| Error::ForecastShape {
            sku: unique_id.clone(),
            detail,
        };
        if values.is_empty() || !values.len().is_multiple_of(k) {
            return Err(shape(format!(
                "{} values do not fill weeks of {k} quantiles",
                values.len()
            )));
        }
        for (h, week) in values.chunks(k).enumerate() {
            if week.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(shape(format!(
                    "week {h} has a negative or non-finite value: {week:?}"
                )));
            }
            if week.windows(2).any(|w| w[0] > w[1]) {
                return Err(shape(format!("week {h} has crossing quantiles: {week:?}")));
            }
        }
        Ok(Forecast {
            unique_id,
            model: model.into(),
            start,
            levels,
            values,
        })
    }

    /// Number of forecast weeks.
    pub fn weeks(&self) -> usize {
        self.values.len() / self.levels.len()
    }

    /// The quantile values of week `h` (0-based), one per level.
    pub fn week(&self, h: usize) -> &[f64] {
        let k = self.levels.len();
        &self.values[h * k..(h + 1) * k]
    }

    /// The median (or the level nearest to it) of week `h`.
    pub fn median(&self, h: usize) -> f64 {
        self.week(h)[self.levels.median_index()]
    }
}

/// An unfitted forecasting method (augurs' `Fit`): fits one series of weekly demand.
pub trait Forecaster {
    /// The fitted model.
    type Fitted: Predict;
    /// Short name used in the `model` column.
    fn name(&self) -> &str;
    /// Fit to a weekly history, oldest first; an error states the exact requirement it misses.
    fn fit(&self, y: &[f64]) -> Result<Self::Fitted>;
}

/// A fitted model that forecasts quantiles.
pub trait Predict {
    /// Quantiles for `horizon` weeks after the history: `[h * levels.len() + k]`.
    fn predict(&self, horizon: Horizon, levels: &Quantiles) -> Vec<f64>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn horizon_bounds() {
        assert!(Horizon::new(1).is_ok());
        assert!(Horizon::new(104).is_ok());
        assert_eq!(Horizon::new(0), Err(Error::Horizon { got: 0, max: 104 }));
        assert!(Horizon::new(105).is_err());
    }

    #[test]
    fn quantiles_are_checked() {
        assert!(Quantiles::new(vec![0.1, 0.5, 0.9]).is_ok());
        assert!(Quantiles::new(vec![0.5, 0.1]).is_err());
        assert!(Quantiles::new(vec![0.0, 0.5]).is_err());
        assert!(Quantiles::new(vec![]).is_err());
        assert_eq!(
            Quantiles::new(vec![0.05, 0.4, 0.95])
                .unwrap()
                .median_index(),
            1
        );
    }

    #[test]
    fn forecast_checks_shape_and_crossing() {
        let w = Week::containing_day(0);
        let q = Quantiles::default();
        let f = Forecast::new("a", "m", w, q.clone(), vec![1.0, 2.0, 3.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(f.weeks(), 2);
        assert_eq!(f.median(1), 0.0);
        assert!(Forecast::new("a", "m", w, q.clone(), vec![1.0, 2.0]).is_err());
        assert!(Forecast::new("a", "m", w, q.clone(), vec![3.0, 2.0, 4.0]).is_err());
        assert!(Forecast::new("a", "m", w, q, vec![-1.0, 2.0, 4.0]).is_err());
    }
}
