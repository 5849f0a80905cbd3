//! One replayed week as a policy lives it: its orders join the pipeline, what is due arrives,
//! demand is served from stock.

use std::collections::BTreeMap;

use restock_core::Week;
use restock_planner::{Economics, PlanConfig, SkuParams};

use super::results::{POLICIES, PolicyResult, ReachedWeeks, Shortage, SkuWeek, WeekRecord};

pub(super) struct SkuState {
    pub(super) stock: f64,
    pub(super) pipeline: BTreeMap<Week, f64>,
}

/// One replayed week, as every policy lives it.
pub(super) struct Serving<'a> {
    pub(super) week: Week,
    /// Its index from the first replayed week.
    pub(super) w: usize,
    pub(super) demand: &'a [Vec<f64>],
    pub(super) sku_params: &'a [SkuParams],
    pub(super) economics: &'a [Economics],
    pub(super) shortage: Shortage,
    /// Weeks replayed.
    pub(super) weeks: usize,
    /// The longest lead time of the replayed SKUs: from this week on, every SKU's stock follows
    /// the policy's own orders.
    pub(super) longest_lead: usize,
    pub(super) cfg: &'a PlanConfig,
}

impl Serving<'_> {
    /// Policy `pi`'s week: the orders it placed (`ordered`, by SKU) join its pipeline, what is due
    /// arrives, and demand is served from stock (lost or backordered when short). Updates its
    /// `states` and `result`, adds one trajectory row per SKU, and returns the week's record,
    /// the SKUs with demand and the units asked for.
    pub(super) fn serve(
        &self,
        pi: usize,
        states: &mut [SkuState],
        ordered: &[f64],
        result: &mut PolicyResult,
        reached: &mut ReachedWeeks,
        trajectories: &mut Vec<SkuWeek>,
    ) -> (WeekRecord, usize, f64) {
        let (week, w) = (self.week, self.w);
        let mut rec = WeekRecord {
            ds: week.to_string(),
            policy: POLICIES[pi].to_string(),
            demand: 0.0,
            served: 0.0,
            stock_units: 0.0,
            stock_value: 0.0,
            spend: 0.0,
            volume: 0.0,
            orders: 0,
        };
        let (mut with_demand, mut units) = (0usize, 0.0);
        for (i, st) in states.iter_mut().enumerate() {
            let p = &self.sku_params[i];
            let e = &self.economics[i];
            let q = ordered[i];
            if q > 0.0 {
                *st.pipeline
                    .entry(week.offset(p.lead_time_weeks as i64))
                    .or_default() += q;
                rec.orders += 1;
                rec.spend += q * p.unit_cost;
                result.units_ordered += q;
            }
            let arrived = st.pipeline.remove(&week).unwrap_or(0.0);
            st.stock += arrived;
            let d = self.demand[i][w];
            let available = st.stock.max(0.0);
            let backlog = (-st.stock).max(0.0);
            let served = match self.shortage {
                Shortage::LostSales => {
                    let served = available.min(d);
                    st.stock -= served;
                    served
                }
                Shortage::Backorders => {
                    // Earlier backorders are served first.
                    let served = (available - backlog).max(0.0).min(d);
                    st.stock -= d;
                    served
                }
            };
            let short = d - served;
            let stockout = d > 0.0 && short > 1e-9;
            if d > 0.0 {
                with_demand += 1;
                units += d;
                result.stockout_weeks += usize::from(stockout);
            }
            let end = st.stock.max(0.0);
            if w >= p.lead_time_weeks {
                // A week the policy's first orders can have reached.
                reached.demand += d;
                reached.short += short;
                reached.with_demand += usize::from(d > 0.0);
                reached.stockouts += usize::from(stockout);
                reached.cost += end * e.holding + short * self.shortage.unit_cost(e);
                reached.stock_value += end * p.unit_cost / (self.weeks - p.lead_time_weeks) as f64;
            }
            result.units_short += short;
            result.shortage_cost += short * self.shortage.unit_cost(e);
            result.holding_cost += end * e.holding;
            rec.demand += d;
            rec.served += served;
            rec.stock_units += end;
            rec.stock_value += end * p.unit_cost;
            rec.volume += end * p.unit_volume;
            trajectories.push(SkuWeek {
                sku: i,
                week: w,
                policy: pi,
                demand: d,
                served,
                arrived,
                ordered: q,
                stock: st.stock,
            });
        }
        result.orders += rec.orders;
        result.purchase_cost += rec.spend;
        result.avg_stock_value += rec.stock_value / self.weeks as f64;
        result.max_weekly_spend = result.max_weekly_spend.max(rec.spend);
        result.max_volume = result.max_volume.max(rec.volume);
        if self
            .cfg
            .budget
            .weekly
            .is_some_and(|b| rec.spend > b * (1.0 + 1e-9) + 1e-6)
        {
            result.weeks_over_budget += 1;
        }
        let over_capacity = self
            .cfg
            .capacity
            .warehouse_volume
            .is_some_and(|c| rec.volume > c * (1.0 + 1e-9) + 1e-6);
        result.weeks_over_capacity += usize::from(over_capacity);
        if w >= self.longest_lead {
            result.weeks_over_capacity_ordered += usize::from(over_capacity);
            result.max_volume_ordered = result.max_volume_ordered.max(rec.volume);
        }
        if w + 1 == self.weeks {
            result.end_stock_value = rec.stock_value;
        }
        (rec, with_demand, units)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warehouse_is_counted_from_the_longest_lead_time_on() {
        // Two SKUs of one unit of volume each, lead times 1 and 3, 10 units on hand each (20
        // against a warehouse of 5: over before any order arrives), demand 1 a week each, and a
        // policy that orders 2 units of each every week: over in all 6 weeks, 3 of them (weeks
        // 3, 4, 5) from the longest lead time on.
        let mut cfg = PlanConfig::default();
        cfg.capacity.warehouse_volume = Some(5.0);
        let sku_params: Vec<SkuParams> = [1, 3]
            .iter()
            .map(|&lead| {
                let mut p = SkuParams::from_defaults(&cfg, 1.0);
                p.lead_time_weeks = lead;
                p.unit_volume = 1.0;
                p
            })
            .collect();
        let economics: Vec<Economics> = sku_params.iter().map(|p| Economics::of(p, &cfg)).collect();
        let demand = vec![vec![1.0; 6]; 2];
        let mut states: Vec<SkuState> = (0..2)
            .map(|_| SkuState {
                stock: 10.0,
                pipeline: BTreeMap::new(),
            })
            .collect();
        let mut result = PolicyResult::named("p");
        let (mut reached, mut trajectories) = (ReachedWeeks::default(), Vec::new());
        let start = Week::containing_day(0);
        let mut volumes = Vec::new();
        for w in 0..6 {
            let serving = Serving {
                week: start.offset(w as i64),
                w,
                demand: &demand,
                sku_params: &sku_params,
                economics: &economics,
                shortage: Shortage::LostSales,
                weeks: 6,
                longest_lead: 3,
                cfg: &cfg,
            };
            let (rec, _, _) = serving.serve(
                1,
                &mut states,
                &[2.0, 2.0],
                &mut result,
                &mut reached,
                &mut trajectories,
            );
            volumes.push(rec.volume);
        }
        assert_eq!(result.weeks_over_capacity, 6, "{volumes:?}");
        assert_eq!(result.weeks_over_capacity_ordered, 3, "{volumes:?}");
        assert_eq!(
            result.max_volume_ordered,
            volumes[3..].iter().copied().fold(0.0, f64::max)
        );
        assert_eq!(
            result.max_volume,
            volumes.iter().copied().fold(0.0, f64::max)
        );
    }
}
