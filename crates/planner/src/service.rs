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
//! 4th ed., §7.9): minimise the stock value Σ_i V_i(α_i) subject to Σ_i U_i(α_i) ≤ (1 − β) Σ_i
//! μ_i, with μ_i the SKU's expected demand and U_i its expected units short at cycle service
//! level α_i. The Lagrangian splits by SKU: each minimises V_i(α) + ν U_i(α) over a grid of
//! levels, and the price ν of a unit short is bisected until the expected fill rate 1 − Σ U_i /
//! Σ μ_i reaches β. What V and U are depends on the shop:
//! - lost sales (`service.lost_sales`, the default): the shop that orders up to the lost-sales
//!   level for α ([`lost_sales_safety_stock`]) is simulated (`crate::lost_sales::service_point`):
//!   V is the value of its mean end-of-week stock, U the units a week it loses. The backorder
//!   formula below counts units short that a lost-sales shop does not lose (lost demand takes
//!   no stock), most of all on long-tailed intermittent SKUs, and chose levels that served far
//!   more than the target with far more stock;
//! - backorders: V = c_i S_i at the α quantile S_i of protection-interval demand, U_i the
//!   expected shortage per replenishment cycle E[(D_P − S)⁺] − E[(D_L − S)⁺] (lead time L, P =
//!   L + R) against μ_i per review period R, from the same quantiles on a grid from 0.5 to 0.995.

use restock_stats::{ProtectionCalibration, normal_quantile, protection_moments};

use crate::config::PlanConfig;
use crate::economics::Economics;
use crate::inputs::SkuInput;
use crate::lost_sales::{ServicePoint, Shop, at_mean, service_point};

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
/// interval's mean and the spread its 0.9 level implies (the calibration's, where there is
/// one; the same demand whatever `alpha`), less the interval's expected demand, at least 0.
pub fn lost_sales_safety_stock(
    forecast: &[Vec<f64>],
    levels: &[f64],
    alpha: f64,
    shop: &Shop,
    calibration: Option<&ProtectionCalibration>,
) -> f64 {
    let at = IntervalDemand::new(forecast, levels, shop, calibration).at(alpha, shop, calibration);
    (at.level - at.mean).max(0.0)
}

/// The service level whose calibrated level sets the spread of a SKU's simulated demand.
const SPREAD_LEVEL: f64 = 0.9;

/// A SKU's demand over its protection interval (lead time + review period), as its lost-sales
/// shop is simulated with it: the same demand whatever the target.
struct IntervalDemand {
    /// Weeks of the interval.
    weeks: usize,
    /// Expected demand over the interval, μ_P.
    mean: f64,
    /// The forecast's own spread over the interval, σ_P.
    sigma: f64,
    /// Weekly variance of the simulated demand: as spread as the calibrated 0.9 level says (z
    /// reads a skewed total's spread too narrow near its mean), else as the forecast says,
    /// spread evenly over the interval's weeks.
    variance: f64,
}

impl IntervalDemand {
    fn new(
        forecast: &[Vec<f64>],
        levels: &[f64],
        shop: &Shop,
        calibration: Option<&ProtectionCalibration>,
    ) -> Self {
        let weeks = shop.lead + shop.review.max(1);
        let (mean, sigma) = protection_moments(forecast, levels, weeks);
        let reference = level_of(mean, sigma, SPREAD_LEVEL, weeks, calibration);
        let spread = if reference > mean {
            (reference - mean) / normal_quantile(SPREAD_LEVEL)
        } else {
            sigma
        };
        IntervalDemand {
            weeks,
            mean,
            sigma,
            variance: spread * spread / weeks as f64,
        }
    }

    /// Expected demand a week.
    fn weekly_mean(&self) -> f64 {
        self.mean / self.weeks as f64
    }

    /// The lost-sales level for cycle service `alpha`, and what the shop serves and holds there.
    fn at(
        &self,
        alpha: f64,
        shop: &Shop,
        calibration: Option<&ProtectionCalibration>,
    ) -> LostSalesLevel {
        let level = level_of(self.mean, self.sigma, alpha, self.weeks, calibration);
        let point = service_point(self.weekly_mean(), self.variance, alpha, shop);
        LostSalesLevel {
            mean: self.mean,
            level: level + point.adjustment,
            point,
        }
    }
}

/// A lost-sales shop's level for cycle service α, and what it serves and holds.
struct LostSalesLevel {
    /// Expected demand over the protection interval.
    mean: f64,
    /// The order-up-to level: the calibrated α quantile plus the lost-sales adjustment.
    level: f64,
    /// The simulated shop at that level (`crate::lost_sales::service_point`).
    point: ServicePoint,
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

/// The cycle service levels the allocation chooses among in a lost-sales shop: lower ones too,
/// since a slow mover's weeks with demand are counted at any level and its units are few.
pub const LOST_SALES_FILL_GRID: [f64; 16] = [
    0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995,
];

/// One SKU's options: at each cycle service level it may get, the stock value it holds and the
/// demand it leaves unserved, both in the same units for every SKU.
struct SkuCurve {
    /// Expected demand in the period `short` is counted over.
    demand: f64,
    /// The cycle service level of each option.
    alphas: Vec<f64>,
    /// Its stock value.
    stock: Vec<f64>,
    /// Its expected units short.
    short: Vec<f64>,
}

impl SkuCurve {
    fn new(
        s: &SkuInput,
        levels: &[f64],
        c: Option<&ProtectionCalibration>,
        cfg: &PlanConfig,
    ) -> Self {
        // The planned weeks' forecast.
        let forecast = &s.forecast[..cfg.horizon.weeks.min(s.forecast.len())];
        if cfg.service.lost_sales {
            Self::lost_sales(s, forecast, levels, c, cfg)
        } else {
            Self::backorder(s, forecast, levels, c, cfg)
        }
    }

    /// The textbook curve: stock value c·S at the α quantile S of protection-interval demand,
    /// units short per review cycle by the backorder formula E[(D_{L+R} − S)⁺] − E[(D_L − S)⁺]
    /// (what the level leaves short by the end of the cycle, less what was already short
    /// before the order could arrive).
    fn backorder(
        s: &SkuInput,
        forecast: &[Vec<f64>],
        levels: &[f64],
        c: Option<&ProtectionCalibration>,
        cfg: &PlanConfig,
    ) -> Self {
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
        let lead = s.params.lead_time_weeks;
        let q_lead = (lead > 0).then(|| quantiles(lead));
        let short = q
            .iter()
            .map(|&s| {
                let over_lead = q_lead.as_ref().map_or(0.0, |ql| expected_excess(ql, s));
                (expected_excess(&q, s) - over_lead).max(0.0)
            })
            .collect();
        let curve = SkuCurve {
            demand: protection_moments(forecast, levels, review).0,
            alphas: FILL_RATE_GRID.to_vec(),
            stock: q.iter().map(|v| s.params.unit_cost * v).collect(),
            short,
        };
        match s.params.service_level {
            Some(a) => curve.fixed_at(a),
            None => curve,
        }
    }

    /// The lost-sales shop's curve ([`IntervalDemand::at`]): at each level of
    /// [`LOST_SALES_FILL_GRID`] (or the SKU's own), the stock value of its mean end-of-week
    /// stock and the units a week it loses, as the simulated shop holds and loses them, moved
    /// by the calibrated level's difference to the simulated one. The levels whose safety stock
    /// would be negative all plan none: one option stands for them, the shop ordering up to
    /// its expected demand ([`at_mean`]).
    fn lost_sales(
        s: &SkuInput,
        forecast: &[Vec<f64>],
        levels: &[f64],
        c: Option<&ProtectionCalibration>,
        cfg: &PlanConfig,
    ) -> Self {
        let p = &s.params;
        let shop = Shop::of(p, cfg.horizon.review_period_weeks);
        let grid = match p.service_level {
            Some(a) if !cfg.service.critical_ratio => vec![a],
            _ => LOST_SALES_FILL_GRID.to_vec(),
        };
        let demand = IntervalDemand::new(forecast, levels, &shop, c);
        // Demand and units short a week, averaged over the protection interval.
        let weekly = demand.weekly_mean();
        let mut curve = SkuCurve {
            demand: weekly,
            alphas: Vec::new(),
            stock: Vec::new(),
            short: Vec::new(),
        };
        let mut no_safety_stock = None;
        for &alpha in &grid {
            let at = demand.at(alpha, &shop, c);
            if at.level < at.mean && grid.len() > 1 {
                // Any such level plans no safety stock; the first stands for them all.
                no_safety_stock.get_or_insert(alpha);
                continue;
            }
            let on_hand = (at.point.on_hand + at.level.max(at.mean) - at.point.level).max(0.0);
            curve.push(alpha, p.unit_cost * on_hand, weekly, at.point.fill_rate);
        }
        if let Some(alpha) = no_safety_stock {
            // What the shop serves and holds ordering up to the interval's expected demand.
            let point = at_mean(weekly, demand.variance, &shop);
            curve.push(alpha, p.unit_cost * point.on_hand, weekly, point.fill_rate);
        }
        curve
    }

    /// An option: at cycle service level `alpha`, `stock` of value held and a share `1 −
    /// fill_rate` of `demand` lost.
    fn push(&mut self, alpha: f64, stock: f64, demand: f64, fill_rate: f64) {
        self.alphas.push(alpha);
        self.stock.push(stock);
        self.short.push(demand * (1.0 - fill_rate));
    }

    /// Only the grid level at or just above `alpha` (a SKU's own service level).
    fn fixed_at(self, alpha: f64) -> Self {
        let k = self
            .alphas
            .iter()
            .position(|&g| g >= alpha - 1e-12)
            .unwrap_or(self.alphas.len() - 1);
        SkuCurve {
            demand: self.demand,
            alphas: vec![self.alphas[k]],
            stock: vec![self.stock[k]],
            short: vec![self.short[k]],
        }
    }

    /// The option minimising stock value + ν · units short.
    fn choose(&self, nu: f64) -> usize {
        (0..self.stock.len())
            .min_by(|&a, &b| {
                let f = |k: usize| self.stock[k] + nu * self.short[k];
                f(a).total_cmp(&f(b))
            })
            .unwrap_or(0)
    }
}

/// Per-SKU cycle service levels at the least expected cost, for `service.critical_ratio` in a
/// lost-sales shop: each SKU's level on [`LOST_SALES_FILL_GRID`] minimising its holding cost
/// plus its lost margin a week, h·E[stock] + (p − c)·E[units lost], as its simulated shop holds
/// and loses them (the curve of [`allocate_fill_rate`]; h the holding cost per unit-week, p
/// the shortage cost, c the unit cost). The critical ratio (p − c) / (p − c + h) is the
/// optimum of a newsvendor that sells out once; as a quantile of protection-interval demand it
/// ignores that lost demand takes no stock and that a slow mover's weeks with demand come in
/// lots, and in its far tail (0.99 and above for any usual margin) the calibrated level holds
/// far more stock than the shortage it saves is worth (on the replays of M5, Online Retail and
/// the demo catalogue every service target from 0.95 cost less than it; docs/benchmarks.md,
/// session 17). Weighing both costs on the shop's own curve finds the level where they cross.
pub fn economic_levels(
    skus: &[SkuInput],
    levels: &[f64],
    calibration: Option<&ProtectionCalibration>,
    cfg: &PlanConfig,
) -> Vec<f64> {
    use rayon::prelude::*;
    skus.par_iter()
        .map(|s| {
            let forecast = &s.forecast[..cfg.horizon.weeks.min(s.forecast.len())];
            let curve = SkuCurve::lost_sales(s, forecast, levels, calibration, cfg);
            let e = Economics::of(&s.params, cfg);
            // Stock is valued at cost, so h·units = (h / c)·value: ν prices a unit lost in
            // stock value.
            let nu = if e.holding > 0.0 {
                e.lost_margin * s.params.unit_cost / e.holding
            } else {
                f64::INFINITY
            };
            let k = if nu.is_finite() {
                curve.choose(nu)
            } else {
                curve.alphas.len() - 1
            };
            curve.alphas[k]
        })
        .collect()
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
        levels: curves.iter().zip(picks).map(|(c, k)| c.alphas[k]).collect(),
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
        for lost_sales in [false, true] {
            let mut cfg = PlanConfig::default();
            cfg.horizon.weeks = 4;
            cfg.service.lost_sales = lost_sales;
            // Same demand, one SKU 20× dearer: the cheap one gets the higher level.
            let skus = vec![
                sku("cheap", 100.0, 20.0, 1.0),
                sku("dear", 100.0, 20.0, 20.0),
            ];
            let levels = [0.1, 0.5, 0.9];
            let a = allocate_fill_rate(&skus, &levels, None, &cfg, 0.98);
            assert!(a.levels[0] > a.levels[1], "{:?}", a.levels);
            // Two SKUs on a grid: the least expected fill rate at or above the target is close
            // to it (the lost-sales grid is coarser).
            let over = if lost_sales { 0.01 } else { 0.005 };
            assert!(
                a.expected_fill_rate >= 0.98 && a.expected_fill_rate < 0.98 + over,
                "lost sales {lost_sales}: {a:?}"
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
    }

    #[test]
    fn a_lost_sales_allocation_serves_what_it_expects_on_replayed_demand() {
        // A fast cheap SKU, a fast dear one and an intermittent one; demand negative binomial
        // with the moments of each SKU's forecast, replayed on sequences the allocation never
        // saw, each SKU ordering up to its planned level (mean over the interval + safety stock).
        let mut cfg = PlanConfig::default();
        cfg.horizon.weeks = 4;
        let levels = [0.1, 0.5, 0.9];
        let mut skus = vec![
            sku("fast-cheap", 40.0, 15.0, 1.0),
            sku("fast-dear", 40.0, 15.0, 20.0),
            sku("slow", 0.0, 0.0, 5.0),
        ];
        skus[2].forecast = vec![vec![0.0, 0.0, 2.0]; 4];
        for s in &mut skus {
            s.params.lead_time_weeks = 2;
        }
        let shop = Shop::weekly(2, 1);
        for target in [0.85, 0.95] {
            let a = allocate_fill_rate(&skus, &levels, None, &cfg, target);
            let (mut asked, mut served) = (0.0, 0.0);
            for (k, (s, &alpha)) in skus.iter().zip(&a.levels).enumerate() {
                let (mean, sigma) = protection_moments(&s.forecast, &levels, 1);
                let (week_mean, week_var) = (mean, sigma * sigma);
                let (p_mean, _) = protection_moments(&s.forecast, &levels, 3);
                let level =
                    p_mean + lost_sales_safety_stock(&s.forecast, &levels, alpha, &shop, None);
                let demand = crate::lost_sales::weekly_demand(
                    week_mean,
                    week_var.max(week_mean),
                    200_000,
                    7 + k as u64,
                );
                // A level between whole units serves what the units either side serve, in
                // proportion (on average over weeks or SKUs that round it either way).
                let at = |l: f64| crate::lost_sales::replay(&demand, l, &shop).fill_rate;
                let (floor, ceil) = (at(level.floor()), at(level.floor() + 1.0));
                asked += week_mean;
                served += week_mean * (floor + level.fract() * (ceil - floor));
            }
            let replayed = served / asked;
            assert!(
                (replayed - a.expected_fill_rate).abs() < 0.01,
                "target {target}: expected {a:?}, replayed {replayed}"
            );
            assert!(replayed > target - 0.01, "target {target}: {replayed}");
        }
        // The intermittent SKU's units are few: at 0.95 it holds no safety stock, the dear
        // fast one less than the cheap one.
        let a = allocate_fill_rate(&skus, &levels, None, &cfg, 0.95);
        assert!(a.levels[2] < 0.5 && a.levels[1] < a.levels[0], "{a:?}");
        let (mean, _) = protection_moments(&skus[2].forecast, &levels, 3);
        let slow =
            mean + lost_sales_safety_stock(&skus[2].forecast, &levels, a.levels[2], &shop, None);
        assert!(
            (slow - mean).abs() < 1e-9,
            "{a:?}: level {slow}, mean {mean}"
        );
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
        let curve = SkuCurve::backorder(&s, &s.forecast, &[0.1, 0.5, 0.9], None, &cfg);
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
