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
            if w >= p.lead_time_weeks {
                // A week the policy's first orders can have reached.
                reached.demand += d;
                reached.short += short;
                reached.with_demand += usize::from(d > 0.0);
                reached.stockouts += usize::from(stockout);
            }
            let end = st.stock.max(0.0);
            result.units_short += short;
            result.shortage_cost += short * e.shortage;
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
        if self
            .cfg
            .capacity
            .warehouse_volume
            .is_some_and(|c| rec.volume > c * (1.0 + 1e-9) + 1e-6)
        {
            result.weeks_over_capacity += 1;
        }
        if w + 1 == self.weeks {
            result.end_stock_value = rec.stock_value;
        }
        (rec, with_demand, units)
    }
}
