use serde::{Deserialize, Serialize};

use crate::Week;

/// Why an order line was placed or shaped the way it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderReason {
    /// Projected stock would fall below the safety stock.
    BelowSafetyStock,
    /// Forecast demand over the lead time is not covered.
    ForecastDemand,
    /// The quantity was raised to the minimum order quantity.
    MoqRounding,
    /// The quantity was rounded up to whole case packs.
    CasePackRounding,
    /// Less than wanted was ordered because a budget or capacity constraint binds.
    CappedByConstraint,
    /// Ordered to lift stock to the configured minimum.
    MinStock,
}

impl OrderReason {
    /// The snake_case label written in output tables.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderReason::BelowSafetyStock => "below_safety_stock",
            OrderReason::ForecastDemand => "forecast_demand",
            OrderReason::MoqRounding => "moq_rounding",
            OrderReason::CasePackRounding => "case_pack_rounding",
            OrderReason::CappedByConstraint => "capped_by_constraint",
            OrderReason::MinStock => "min_stock",
        }
    }
}

/// One replenishment order of one SKU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The SKU.
    pub unique_id: String,
    /// The week the order is placed.
    pub order_week: Week,
    /// The week it arrives (order week + lead time).
    pub arrival_week: Week,
    /// Units ordered.
    pub quantity: f64,
    /// Case packs ordered (`quantity / case_pack`).
    pub cases: f64,
    /// Purchase cost, currency.
    pub cost: f64,
    /// Why it was ordered (and shaped) this way.
    pub reason: OrderReason,
}
