//! One SKU in the model: its costs (`crate::economics`), its demand and floor as the plan takes them from the
//! forecasts (`crate::service` for the levels), and its stock under a given order plan.

use restock_core::Quantiles;
use restock_stats::ProtectionCalibration;

use crate::config::PlanConfig;
use crate::economics::Economics;
use crate::inputs::SkuInput;
use crate::lost_sales::Shop;
use crate::service::{lost_sales_safety_stock, safety_stock};
use crate::{Error, Result};

/// Expected demand of a week from its forecast quantiles `q` at `levels`
/// ([`restock_stats::mean_from_quantiles`]: for q10/q50/q90, Swanson's rule). The inventory
/// balance needs the mean: the median of right-skewed (intermittent, promotional) demand is
/// below it, and planning on it under-orders.
pub fn expected_demand(q: &[f64], levels: &[f64]) -> f64 {
    restock_stats::mean_from_quantiles(q, levels)
}

/// Per-SKU numbers derived from inputs and config.
#[derive(Debug, Clone)]
pub(super) struct Prepared {
    pub(super) d: Vec<f64>,
    pub(super) arrivals: Vec<f64>,
    pub(super) on_hand: f64,
    pub(super) lead: usize,
    pub(super) pack: f64,
    pub(super) moq: f64,
    pub(super) cost: f64,
    pub(super) holding: f64,
    pub(super) shortage: f64,
    pub(super) safety_cost: f64,
    pub(super) safety_stock: f64,
    pub(super) floor: f64,
    pub(super) max_stock: Option<f64>,
    pub(super) volume: f64,
    /// The share of its expected demand over lead time + 1 week that demand may fall short
    /// by, for the warehouse's reserve (`capacity.warehouse_confidence`); 0 without one.
    pub(super) shortfall: f64,
    pub(super) supplier: String,
}

impl Prepared {
    /// The warehouse volume week `t`'s end-of-week stock may exceed its expected-demand path
    /// by: its [`Prepared::shortfall`] of the expected demand since the order that fills it
    /// was placed (weeks `t − lead ..= t`; since now for earlier weeks).
    pub(super) fn volume_reserve(&self, t: usize) -> f64 {
        if self.shortfall <= 0.0 || self.volume <= 0.0 {
            return 0.0;
        }
        let from = t.saturating_sub(self.lead);
        self.volume * self.shortfall * self.d[from..=t.min(self.d.len() - 1)].iter().sum::<f64>()
    }

    /// What a unit of lost demand costs the plan beyond its purchase: p − c, or 0 for an item
    /// whose shortage cost is below its unit cost (refusing demand while holding stock is not a
    /// decision the plan makes; with this floor it never pays to, and every SKU's stock follows
    /// from its orders by simulation, which `complete` and the Lagrangian's dynamic program rely on).
    pub(super) fn lost_margin(&self) -> f64 {
        (self.shortage - self.cost).max(0.0)
    }

    /// The model's bound on one order, in units: enough for all demand, the floor and an MOQ,
    /// in whole cases.
    pub(super) fn order_cap(&self) -> f64 {
        let need: f64 = self.d.iter().sum::<f64>() + self.floor + self.moq + self.pack;
        (need / self.pack).ceil() * self.pack
    }

    /// Week `t`'s controllable cost with `inv` units left at its end and `unmet` demand lost:
    /// holding (plus `stock_price` per unit, a shared limit's price), lost margin, and the
    /// shortfall below the floor once orders can arrive.
    pub(super) fn week_cost(&self, t: usize, inv: f64, unmet: f64, stock_price: f64) -> f64 {
        let mut c = (self.holding + stock_price) * inv + self.lost_margin() * unmet;
        if t >= self.lead && self.floor > 0.0 {
            c += self.safety_cost * (self.floor - inv).clamp(0.0, self.floor);
        }
        c
    }
}

pub(super) fn prepare(
    s: &SkuInput,
    quantiles: &Quantiles,
    calibration: Option<&ProtectionCalibration>,
    service_level: Option<f64>,
    cfg: &PlanConfig,
) -> Result<Prepared> {
    let levels = quantiles.levels();
    let t_len = cfg.horizon.weeks;
    let p = &s.params;
    p.check(&s.unique_id)?;
    if s.forecast.len() < t_len {
        return Err(Error::Sku {
            sku: s.unique_id.clone(),
            message: format!(
                "needs a forecast for the {t_len} planned weeks, got {} weeks",
                s.forecast.len()
            ),
        });
    }
    let mut d = Vec::with_capacity(t_len);
    for (t, q) in s.forecast.iter().take(t_len).enumerate() {
        if q.len() != levels.len() || q.iter().any(|v| !v.is_finite() || *v < 0.0) {
            return Err(Error::Sku {
                sku: s.unique_id.clone(),
                message: format!(
                    "forecast week {t} must hold {} non-negative quantiles, got {q:?}",
                    levels.len()
                ),
            });
        }
        d.push(expected_demand(q, levels));
    }
    let cost = p.unit_cost;
    let Economics {
        holding,
        shortage,
        service_level: alpha,
        ..
    } = Economics::of(p, cfg);
    let alpha = service_level.unwrap_or(alpha);
    let review = cfg.horizon.review_period_weeks;
    let forecast = &s.forecast[..t_len];
    // A cycle service target is kept in the lost-sales shop's weeks with demand, and the levels
    // a fill-rate target allocates are that shop's too. The economic fractile (p − c) / (p − c
    // + h) is already the lost-sales newsvendor's and is a quantile.
    let safety_stock = if cfg.service.lost_sales_levels() {
        lost_sales_safety_stock(forecast, levels, alpha, &Shop::of(p, review), calibration)
    } else {
        safety_stock(
            forecast,
            levels,
            alpha,
            p.lead_time_weeks + review,
            calibration,
        )
    };
    let floor = safety_stock.max(p.min_stock.unwrap_or(0.0));
    let confidence = cfg.capacity.warehouse_confidence;
    let shortfall = match calibration {
        Some(c) if cfg.capacity.warehouse_volume.is_some() && confidence > 0.0 => {
            c.shortfall(p.lead_time_weeks + 1, confidence)
        }
        _ => 0.0,
    };
    let mut arrivals = vec![0.0; t_len];
    for (week, qty) in &s.on_order {
        if *week < t_len {
            arrivals[*week] += qty;
        }
    }
    if !(s.on_hand.is_finite() && s.on_hand >= 0.0) {
        return Err(Error::Sku {
            sku: s.unique_id.clone(),
            message: format!("on_hand must be >= 0, got {}", s.on_hand),
        });
    }
    Ok(Prepared {
        d,
        arrivals,
        on_hand: s.on_hand,
        lead: p.lead_time_weeks,
        pack: p.case_pack as f64,
        moq: p.moq as f64,
        cost,
        holding,
        shortage,
        // Per unit-week below the floor: a share of the lost margin spread over the horizon, so
        // that over all weeks it stays below the margin (the plan never refuses demand to keep
        // safety stock) while above the holding cost (it does keep safety stock).
        safety_cost: cfg.defaults.safety_shortfall_factor * (shortage - cost).max(0.0)
            / t_len as f64,
        safety_stock,
        floor,
        max_stock: p.max_stock,
        volume: p.unit_volume,
        shortfall,
        supplier: p.supplier.clone(),
    })
}

/// End-of-week stock under lost sales for orders (units by order week): demand is served while
/// there is stock. Returns (stock, lost demand) per week.
pub(super) fn simulate(p: &Prepared, orders: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut inv, mut unmet) = (Vec::with_capacity(p.d.len()), Vec::with_capacity(p.d.len()));
    let mut prev = p.on_hand;
    for t in 0..p.d.len() {
        let arriving = p.arrivals[t] + if t >= p.lead { orders[t - p.lead] } else { 0.0 };
        unmet.push((p.d[t] - prev - arriving).max(0.0));
        prev = (prev + arriving - p.d[t]).max(0.0);
        inv.push(prev);
    }
    (inv, unmet)
}

/// The controllable cost of one SKU for whole-case orders (cases by order week): holding, lost
/// margin, shortfall below the floor and fixed order costs, stock simulated under lost sales.
pub(super) fn sku_cost(p: &Prepared, cases: &[f64], order_cost: f64) -> f64 {
    let units: Vec<f64> = cases.iter().map(|k| k * p.pack).collect();
    let (inv, unmet) = simulate(p, &units);
    stock_cost(p, cases, &inv, &unmet, order_cost)
}

/// [`sku_cost`] of a plan whose stock and lost demand are already simulated.
pub(super) fn stock_cost(
    p: &Prepared,
    cases: &[f64],
    inv: &[f64],
    unmet: &[f64],
    order_cost: f64,
) -> f64 {
    let fixed = order_cost * cases.iter().filter(|k| **k > 0.0).count() as f64;
    fixed
        + (0..p.d.len())
            .map(|t| p.week_cost(t, inv[t], unmet[t], 0.0))
            .sum::<f64>()
}

/// The penalty for `inv` units in stock above max stock (a model column, not part of `sku_cost`).
pub(super) fn over_cost(p: &Prepared, inv: f64, violation_cost: f64) -> f64 {
    p.max_stock
        .map_or(0.0, |max| violation_cost * (inv - max).max(0.0))
}
