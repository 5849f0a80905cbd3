//! The classical buyer of the simulation: the textbook periodic-review order-up-to rule, fed by
//! a statistical forecaster, with the planner's expected-demand and safety-stock rules at the
//! same service level, orders rounded to case packs and MOQ and cut in proportion to fit the
//! budgets.

use rayon::prelude::*;
use restock_core::{Forecaster, Horizon, Predict, Quantiles};
use restock_data::WeeklyDataset;
use restock_planner::{Economics, PlanConfig, SkuParams, expected_demand, safety_stock};
use restock_stats::Baseline;

use crate::{Error, Result};

/// The forecasts of the order-up-to rule fed by `rule` for every SKU of `view` (the catalogue
/// cut at the week before the review), over each SKU's protection interval (lead time +
/// `review`): quantiles at `levels`, flattened by week. They depend neither on the stock nor on
/// the service target, so a sweep computes them once per week.
pub(crate) fn rule_forecasts(
    rule: &Baseline,
    view: &WeeklyDataset,
    sku_params: &[SkuParams],
    levels: &Quantiles,
    review: usize,
) -> Result<Vec<Vec<f64>>> {
    view.series
        .par_iter()
        .zip(sku_params.par_iter())
        .map(|(s, p)| {
            let h = Horizon::new(p.lead_time_weeks + review)
                .map_err(|e| Error::Option(e.to_string()))?;
            let fitted = rule.fit(&s.y).map_err(|e| Error::Sku {
                sku: s.unique_id.clone(),
                message: e.to_string(),
            })?;
            Ok(fitted.predict(h, levels))
        })
        .collect()
}

/// What the order-up-to rule orders for every SKU from its [`rule_forecasts`] `values`: up to
/// S = expected demand over lead time + review period + z(α)·σ_P, from the forecaster's
/// quantiles exactly as the planner takes them from restock's (the normal rule: the classical
/// buyer has no calibration), less the inventory position, rounded up to case packs and MOQ.
pub(crate) fn order_up_to(
    values: &[Vec<f64>],
    positions: &[f64],
    sku_params: &[SkuParams],
    economics: &[Economics],
    levels: &Quantiles,
    review: usize,
) -> Vec<f64> {
    let k = levels.len();
    let mut wanted = vec![0.0; positions.len()];
    for (i, v) in values.iter().enumerate().take(positions.len()) {
        let p = &sku_params[i];
        let protection = p.lead_time_weeks + review;
        let q: Vec<Vec<f64>> = v.chunks(k).map(<[f64]>::to_vec).collect();
        let level = q
            .iter()
            .map(|w| expected_demand(w, levels.levels()))
            .sum::<f64>()
            + safety_stock(
                &q,
                levels.levels(),
                economics[i].service_level,
                protection,
                None,
            );
        let need = level - positions[i];
        if need > 1e-9 {
            wanted[i] = pack_up(need, p);
        }
    }
    wanted
}

/// Round a wanted quantity up to whole case packs and at least the MOQ.
fn pack_up(need: f64, p: &SkuParams) -> f64 {
    let pack = f64::from(p.case_pack.max(1));
    let q = (need / pack - 1e-9).ceil().max(0.0) * pack;
    if q <= 0.0 {
        return 0.0;
    }
    let moq = f64::from(p.moq);
    if q < moq {
        (moq / pack).ceil() * pack
    } else {
        q
    }
}

/// Cut orders in proportion so that each supplier's and the global weekly budget hold: each
/// order to its fair share (the budget's fraction of it), down to whole cases (none below its
/// MOQ), then the budget those roundings left handed back a case at a time (at its MOQ for an
/// order cut to nothing) to the orders furthest below their fair share in value, while it
/// lasts and no order exceeds what was wanted: the largest-remainder method. Rounding alone
/// would leave much of a budget unspent where case packs are large (a fair share of 1.5 cases
/// is 1), and starve the buyer below what its budget allows.
pub(crate) fn fit_budget(mut q: Vec<f64>, params: &[SkuParams], cfg: &PlanConfig) -> Vec<f64> {
    let cut = |q: &mut Vec<f64>, members: &dyn Fn(usize) -> bool, budget: f64| {
        let ids: Vec<usize> = (0..q.len()).filter(|&i| members(i)).collect();
        let spend: f64 = ids.iter().map(|&i| q[i] * params[i].unit_cost).sum();
        if spend <= budget {
            return;
        }
        let f = budget / spend;
        let wanted: Vec<f64> = ids.iter().map(|&i| q[i]).collect();
        for &i in &ids {
            let p = &params[i];
            let pack = f64::from(p.case_pack.max(1));
            let v = (q[i] * f / pack).floor() * pack;
            q[i] = if v < f64::from(p.moq) { 0.0 } else { v };
        }
        let mut left = budget - ids.iter().map(|&i| q[i] * params[i].unit_cost).sum::<f64>();
        // Value short of the fair share, largest first (ties by position: deterministic).
        let mut short: Vec<(f64, usize, f64)> = ids
            .iter()
            .zip(&wanted)
            .map(|(&i, &w)| ((w * f - q[i]) * params[i].unit_cost, i, w))
            .filter(|(v, _, _)| *v > 0.0)
            .collect();
        short.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, i, w) in short {
            let p = &params[i];
            let pack = f64::from(p.case_pack.max(1));
            let add = if q[i] > 0.0 {
                pack
            } else {
                (f64::from(p.moq) / pack).ceil().max(1.0) * pack
            };
            let cost = add * p.unit_cost;
            if q[i] + add <= w + 1e-9 && cost <= left + 1e-9 {
                q[i] += add;
                left -= cost;
            }
        }
    };
    for (supplier, &budget) in &cfg.budget.per_supplier {
        cut(&mut q, &|i| params[i].supplier == *supplier, budget);
    }
    if let Some(b) = cfg.budget.weekly {
        cut(&mut q, &|_| true, b);
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pack: u32, moq: u32, cost: f64) -> SkuParams {
        SkuParams {
            unit_cost: cost,
            unit_price: None,
            lead_time_weeks: 1,
            case_pack: pack,
            moq,
            supplier: String::new(),
            unit_volume: 0.0,
            min_stock: None,
            max_stock: None,
            holding_rate: None,
            shortage_cost: None,
            service_level: None,
            demand_weeks_share: None,
        }
    }

    #[test]
    fn rounding_to_cases_and_moq() {
        assert_eq!(pack_up(13.0, &params(6, 0, 1.0)), 18.0);
        assert_eq!(pack_up(12.0, &params(6, 0, 1.0)), 12.0);
        assert_eq!(pack_up(2.0, &params(6, 20, 1.0)), 24.0);
        assert_eq!(pack_up(0.0, &params(6, 20, 1.0)), 0.0);
    }

    #[test]
    fn budget_cuts_in_proportion() {
        let p = vec![params(1, 0, 2.0), params(5, 0, 1.0), params(1, 8, 1.0)];
        let mut cfg = PlanConfig::default();
        cfg.budget.weekly = Some(30.0);
        // Spend 20 + 20 + 10 = 50 -> fair shares 0.6: 6 units, 12 -> 10 (cases of 5), 6 < MOQ
        // 8 -> 0. The 8 left go to the order furthest below its share in value (the third, 6
        // short), at its MOQ; the second (2 short) would need 5 more.
        let q = fit_budget(vec![10.0, 20.0, 10.0], &p, &cfg);
        assert_eq!(q, vec![6.0, 10.0, 8.0]);
        let spend: f64 = q.iter().zip(&p).map(|(q, p)| q * p.unit_cost).sum();
        assert!(spend <= 30.0);
        // Within budget: untouched.
        assert_eq!(
            fit_budget(vec![1.0, 5.0, 8.0], &p, &cfg),
            vec![1.0, 5.0, 8.0]
        );
    }

    #[test]
    fn a_budget_cut_spends_what_the_case_roundings_leave() {
        // Ten orders of 2 cases of 24 at 1 each (480) against a budget of 360: fair shares of
        // 1.5 cases round down to 1 (240 spent); the 120 left buy a second case for five of
        // them, the first five (equal shortfalls), and the budget is spent to the unit.
        let p = vec![params(24, 0, 1.0); 10];
        let mut cfg = PlanConfig::default();
        cfg.budget.weekly = Some(360.0);
        let q = fit_budget(vec![48.0; 10], &p, &cfg);
        assert_eq!(q.iter().sum::<f64>(), 360.0);
        assert_eq!(&q[..5], &[48.0; 5]);
        assert_eq!(&q[5..], &[24.0; 5]);
        // Per supplier first, then the whole: supplier "a" has 100 for its two orders of 96.
        let mut p = vec![params(24, 0, 1.0); 3];
        p[0].supplier = "a".into();
        p[1].supplier = "a".into();
        cfg.budget.per_supplier.insert("a".into(), 100.0);
        cfg.budget.weekly = Some(1000.0);
        let q = fit_budget(vec![96.0, 96.0, 96.0], &p, &cfg);
        assert_eq!(q, vec![48.0, 48.0, 96.0]);
    }
}
