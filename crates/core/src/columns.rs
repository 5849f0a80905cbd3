//! Long-format column names (Nixtla's convention: `unique_id`, `ds`, `y`; every other column is a covariate).

/// Series identifier (one SKU, or one item × store).
pub const UNIQUE_ID: &str = "unique_id";
/// Period label: the Monday of a Monday..Sunday week (daily input: the day).
pub const DS: &str = "ds";
/// Demand in units.
pub const Y: &str = "y";
/// Shelf price, currency per unit.
pub const PRICE: &str = "price";
/// Share of the week's days on promotion, 0..1.
pub const PROMO: &str = "promo";
/// Product page views.
pub const VIEWS: &str = "views";
/// Add-to-cart clicks.
pub const CLICKS: &str = "clicks";
/// Conversion rate, orders per view, 0..1.
pub const CONVERSION: &str = "conversion";
/// Days of the week carrying a calendar event (holiday, sports, ...), 0..7.
pub const EVENT_DAYS: &str = "event_days";
/// Forecast origin in cross-validation / backtest output.
pub const CUTOFF: &str = "cutoff";
/// The model that produced a forecast row.
pub const MODEL: &str = "model";

/// The covariates restock understands, in their canonical order.
pub const COVARIATES: [&str; 5] = [PRICE, PROMO, VIEWS, CLICKS, CONVERSION];

/// Column name of a quantile level: `0.1 -> "q10"`, `0.5 -> "q50"`, `0.975 -> "q97.5"`.
pub fn quantile_column(level: f64) -> String {
    let pct = level * 100.0;
    if (pct - pct.round()).abs() < 1e-9 {
        format!("q{}", pct.round() as i64)
    } else {
        format!("q{}", (pct * 1000.0).round() / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_names() {
        assert_eq!(quantile_column(0.1), "q10");
        assert_eq!(quantile_column(0.5), "q50");
        assert_eq!(quantile_column(0.9), "q90");
        assert_eq!(quantile_column(0.975), "q97.5");
    }
}
