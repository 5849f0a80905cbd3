//! From a service target to each SKU's order-up-to level.
//!
//! The level for cycle service α is the α quantile of demand over the SKU's protection interval
//! (lead time + review period, `P` weeks), [`protection_level`]: from the forecaster's
//! [`ProtectionCalibration`] when there is one, else the normal rule with independent weeks.
//!
//! A catalogue is usually held to a *fill rate* (the share of demand served from stock), not to
//! one cycle service level for every SKU, and one level for all is a poor way to reach it: a
//! unit of safety stock of a cheap, steady SKU serves far more demand per unit of money than
//! one of a dear, erratic one. With `service.fill_rate`, [`allocate_fill_rate`] chooses each
//! SKU's level as in the textbook allocation of safety stock under an aggregate fill-rate
//! constraint (Silver, Pyke & Thomas, *Inventory and Production Management in Supply Chains*,
//! 4th ed., §7.9): minimise the stock value Σ c_i S_i subject to Σ ESC_i(S_i) ≤ (1 − β) Σ μ_i,
//! where ESC_i(S) = E[(D_P − S)⁺] − E[(D_L − S)⁺] is the expected shortage per replenishment
//! cycle (lead time L, P = L + R) and μ_i the expected demand per review period R. Its Lagrangian splits by SKU: each minimises
//! c_i S + ν ESC_i(S), i.e. stocks to P(D_P > S) = c_i / ν, and ν is bisected until the
//! expected fill rate 1 − Σ ESC_i / Σ μ_i reaches β. The distributions are the same quantiles
//! of protection-interval demand, on a grid of levels from 0.5 to 0.995.

use restock_stats::{ProtectionCalibration, normal_quantile, protection_moments};

use crate::config::PlanConfig;
use crate::inputs::SkuInput;
use crate::lost_sales::Shop;

/// The order-up-to level for cycle service level `alpha` over `protection` weeks (lead time +
/// review period) from weekly forecast quantiles `forecast[t][k]` at `levels`: the `alpha`
/// quantile of demand over those weeks. With a [`ProtectionCalibration`] of the forecaster, its
/// calibrated level μ_P + κ_P(α)·σ_P; without one, the normal rule with independent weeks,
/// μ_P + z(α)·σ_P ([`protection_moments`]: weeks past the forecast take its average).
pub fn protection_level(
    forecast: &[Vec<f64>],
    levels: &[f64],
    alpha: f64,
    protection: usize,
    calibration: Option<&ProtectionCalibration>,
) -> f64 {
    let (mean, sigma) = protection_moments(forecast, levels, protection);
    level_of(mean, sigma, alpha, protection, calibration)
}

/// [`protection_level`] from the interval's moments μ_P, σ_P.
fn level_of(
    mean: f64,
    sigma: f64,
    alpha: f64,
    protection: usize,
    calibration: Option<&ProtectionCalibration>,
) -> f64 {
    match calibration {
        Some(c) => c.level_of(mean, sigma, alpha, protection),
        None => (mean + normal_quantile(alpha) * sigma).max(0.0),
    }
}

/// Safety stock: the [`protection_level`] above expected demand over the protection interval,
/// at least 0 (the plan's inventory balance already carries the expected demand; a level below
/// it, as the median of an intermittent SKU's total can be, plans no negative stock).
pub fn safety_stock(
    forecast: &[Vec<f64>],
    levels: &[f64],
    alpha: f64,
    protection: usize,
    calibration: Option<&ProtectionCalibration>,
) -> f64 {
    let (mean, sigma) = protection_moments(forecast, levels, protection);
    (level_of(mean, sigma, alpha, protection, calibration) - mean).max(0.0)
}

/// [`safety_stock`] for a shop that loses the demand it cannot serve, its cycle service
/// measured on the weeks with demand (as the simulation and the weekly job measure it): the
/// protection level plus [`crate::lost_sales::adjustment`] for weekly demand with the
/// interval's mean and the spread its level implies (the calibration's, where there is one),
/// less the interval's expected demand, at least 0.
pub fn lost_sales_safety_stock(
    forecast: &[Vec<f64>],
    levels: &[f64],
    alpha: f64,
    shop: &Shop,
    calibration: Option<&ProtectionCalibration>,
) -> f64 {
    let weeks = shop.lead + shop.review.max(1);
    let (mean, sigma) = protection_moments(forecast, levels, weeks);
    let level = level_of(mean, sigma, alpha, weeks, calibration);
    let z = normal_quantile(alpha);
    let spread = if z > 0.25 && level > mean {
        (level - mean) / z
    } else {
        sigma
    };
    let weekly = weeks as f64;
    let adjusted =
        level + crate::lost_sales::adjustment(mean / weekly, spread * spread / weekly, alpha, shop);
    (adjusted - mean).max(0.0)
}

/// The cycle service levels [`allocate_fill_rate`] chooses among.
pub const FILL_RATE_GRID: [f64; 25] = [
    0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.825, 0.85, 0.875, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95,
    0.96, 0.965, 0.97, 0.975, 0.98, 0.985, 0.99, 0.9925, 0.995,
];

/// Per-SKU cycle service levels for an aggregate fill-rate target.
#[derive(Debug, Clone, PartialEq)]
pub struct FillRateAllocation {
    /// Each SKU's cycle service level, in input order.
    pub levels: Vec<f64>,
    /// The catalogue's expected fill rate at those levels.
    pub expected_fill_rate: f64,
}

/// E[(D − s)⁺] from the quantiles `q` of D at [`FILL_RATE_GRID`]: ∫ (Q(u) − s)⁺ du over (0, 1)
/// by the trapezoid rule on the grid, the last quantile held over (0.995, 1) (a lower bound of
/// the far tail); quantiles below the grid are below any level considered.
fn expected_excess(q: &[f64], s: f64) -> f64 {
    let g = &FILL_RATE_GRID;
    let mut e = 0.0;
    for j in 0..g.len() - 1 {
        e += (g[j + 1] - g[j]) * 0.5 * ((q[j] - s).max(0.0) + (q[j + 1] - s).max(0.0));
    }
    e + (1.0 - g[g.len() - 1]) * (q[q.len() - 1] - s).max(0.0)
}

/// One SKU's options: level, stock value, expected shortage per cycle at each grid level.
struct SkuCurve {
    cost: f64,
    demand: f64,
    stock: Vec<f64>,
    short: Vec<f64>,
    fixed: Option<usize>,
}

impl SkuCurve {
    fn new(
        s: &SkuInput,
        levels: &[f64],
        c: Option<&ProtectionCalibration>,
        cfg: &PlanConfig,
    ) -> Self {
        let t_len = cfg.horizon.weeks.min(s.forecast.len());
        let forecast = &s.forecast[..t_len];
        let review = cfg.horizon.review_period_weeks;
        let p = s.params.lead_time_weeks + review;
        let (mean_p, _) = protection_moments(forecast, levels, p);
        // Levels below the interval's expected demand are not planned (see `safety_stock`).
        let quantiles = |weeks: usize| -> Vec<f64> {
            let (mean, sigma) = protection_moments(forecast, levels, weeks);
            FILL_RATE_GRID
                .iter()
                .map(|&a| level_of(mean, sigma, a, weeks, c))
                .collect()
        };
        let q: Vec<f64> = quantiles(p).into_iter().map(|v| v.max(mean_p)).collect();
        // Units short per cycle, the textbook periodic-review approximation: E[(D_{L+R} − S)⁺]
        // − E[(D_L − S)⁺] (what the level leaves short by the end of the cycle, less what was
        // already short before the order could arrive).
        let lead = s.params.lead_time_weeks;
        let q_lead = (lead > 0).then(|| quantiles(lead));
        let short = q
            .iter()
            .map(|&s| {
                let over_lead = q_lead.as_ref().map_or(0.0, |ql| expected_excess(ql, s));
                (expected_excess(&q, s) - over_lead).max(0.0)
            })
            .collect();
        let fixed = s.params.service_level.map(|a| {
            FILL_RATE_GRID
                .iter()
                .position(|&g| g >= a - 1e-12)
                .unwrap_or(FILL_RATE_GRID.len() - 1)
        });
        SkuCurve {
            cost: s.params.unit_cost,
            demand: protection_moments(forecast, levels, review).0,
            stock: q,
            short,
            fixed,
        }
    }

    /// The grid level minimising c·S + ν·ESC(S).
    fn choose(&self, nu: f64) -> usize {
        if let Some(k) = self.fixed {
            return k;
        }
        (0..self.stock.len())
            .min_by(|&a, &b| {
                let f = |k: usize| self.cost * self.stock[k] + nu * self.short[k];
                f(a).total_cmp(&f(b))
            })
            .unwrap_or(0)
    }
}

/// Per-SKU cycle service levels reaching the aggregate fill rate `target` at the least stock
/// value (see the module docs), for `skus` with forecast quantiles at `levels`.
pub fn allocate_fill_rate(
    skus: &[SkuInput],
    levels: &[f64],
    calibration: Option<&ProtectionCalibration>,
    cfg: &PlanConfig,
    target: f64,
) -> FillRateAllocation {
    use rayon::prelude::*;
    let curves: Vec<SkuCurve> = skus
        .par_iter()
        .map(|s| SkuCurve::new(s, levels, calibration, cfg))
        .collect();
    let demand: f64 = curves.iter().map(|c| c.demand).sum();
    let fill = |nu: f64| -> (f64, Vec<usize>) {
        let picks: Vec<usize> = curves.par_iter().map(|c| c.choose(nu)).collect();
        let short: f64 = curves.iter().zip(&picks).map(|(c, &k)| c.short[k]).sum();
        let f = if demand > 0.0 {
            1.0 - short / demand
        } else {
            1.0
        };
        (f, picks)
    };
    // ν is a price of a unit short in money of stock: bisect it on a log scale.
    let (mut lo, mut hi) = (1e-6_f64, 1e9_f64);
    let (mut best, mut picks) = fill(hi);
    if best >= target {
        for _ in 0..60 {
            let mid = (lo * hi).sqrt();
            let (f, p) = fill(mid);
            if f >= target {
                hi = mid;
                best = f;
                picks = p;
            } else {
                lo = mid;
            }
        }
    }
    FillRateAllocation {
        levels: picks.into_iter().map(|k| FILL_RATE_GRID[k]).collect(),
        expected_fill_rate: best,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::SkuParams;

    fn sku(id: &str, mean: f64, sd: f64, cost: f64) -> SkuInput {
        let z = 1.2815515655446004;
        SkuInput {
            unique_id: id.into(),
            forecast: vec![vec![(mean - z * sd).max(0.0), mean, mean + z * sd]; 4],
            on_hand: 0.0,
            on_order: vec![],
            params: SkuParams::from_defaults(&PlanConfig::default(), cost),
        }
    }

    #[test]
    fn cheap_steady_stock_gets_the_service_and_the_target_is_met() {
        let mut cfg = PlanConfig::default();
        cfg.horizon.weeks = 4;
        // Same demand, one SKU 20× dearer: the cheap one gets the higher level.
        let skus = vec![
            sku("cheap", 100.0, 20.0, 1.0),
            sku("dear", 100.0, 20.0, 20.0),
        ];
        let levels = [0.1, 0.5, 0.9];
        let a = allocate_fill_rate(&skus, &levels, None, &cfg, 0.98);
        assert!(a.levels[0] > a.levels[1], "{:?}", a.levels);
        assert!(
            a.expected_fill_rate >= 0.98 && a.expected_fill_rate < 0.985,
            "{a:?}"
        );
        // The expected fill rate rises with the target; and a SKU's own level is kept.
        let b = allocate_fill_rate(&skus, &levels, None, &cfg, 0.995);
        assert!(b.expected_fill_rate >= 0.995, "{b:?}");
        assert!(b.levels.iter().zip(&a.levels).all(|(x, y)| x >= y));
        let mut fixed = skus.clone();
        fixed[1].params.service_level = Some(0.9);
        let c = allocate_fill_rate(&fixed, &levels, None, &cfg, 0.98);
        assert_eq!(c.levels[1], 0.9);
    }

    #[test]
    fn expected_shortage_matches_the_normal_loss_function() {
        // Normal demand over P = 1 + 1 weeks: N(200, (20·√2)²). At level 0.9 the expected
        // excess is σ·G(z) with the standard normal loss G(1.2816) = 0.04730; over the lead
        // week alone, N(100, 20²), the level S = 236.2 is 6.8 σ away: nothing to subtract.
        let mut cfg = PlanConfig::default();
        cfg.horizon.weeks = 4;
        let mut s = sku("a", 100.0, 20.0, 1.0);
        s.params.lead_time_weeks = 1;
        let curve = SkuCurve::new(&s, &[0.1, 0.5, 0.9], None, &cfg);
        let k = FILL_RATE_GRID.iter().position(|&g| g == 0.9).unwrap();
        let sigma = 20.0 * 2f64.sqrt();
        let exact = sigma * 0.04730;
        // The grid's trapezoids and held-over tail: within 10 % of the exact loss.
        assert!(
            (curve.short[k] - exact).abs() < 0.1 * exact,
            "{} vs {exact}",
            curve.short[k]
        );
        assert!((curve.demand - 100.0).abs() < 1e-9);
    }
}
