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

/// Cut orders in proportion (down to whole cases, dropping those below their MOQ) so that each
/// supplier's and the global weekly budget hold.
pub(crate) fn fit_budget(mut q: Vec<f64>, params: &[SkuParams], cfg: &PlanConfig) -> Vec<f64> {
    let cut = |q: &mut Vec<f64>, members: &dyn Fn(usize) -> bool, budget: f64| {
        let spend: f64 = (0..q.len())
            .filter(|&i| members(i))
            .map(|i| q[i] * params[i].unit_cost)
            .sum();
        if spend <= budget {
            return;
        }
        let f = budget / spend;
        for i in (0..q.len()).filter(|&i| members(i)) {
            let p = &params[i];
            let pack = f64::from(p.case_pack.max(1));
            let v = (q[i] * f / pack).floor() * pack;
            q[i] = if v < f64::from(p.moq) { 0.0 } else { v };
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
        // Spend 20 + 20 + 10 = 50 -> factor 0.6: 6 units, 12 -> 10 (cases of 5), 6 < MOQ 8 -> 0.
        let q = fit_budget(vec![10.0, 20.0, 10.0], &p, &cfg);
        assert_eq!(q, vec![6.0, 10.0, 0.0]);
        let spend: f64 = q.iter().zip(&p).map(|(q, p)| q * p.unit_cost).sum();
        assert!(spend <= 30.0);
        // Within budget: untouched.
        assert_eq!(
            fit_budget(vec![1.0, 5.0, 8.0], &p, &cfg),
            vec![1.0, 5.0, 8.0]
        );
    }
}
