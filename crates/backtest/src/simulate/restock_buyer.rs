//! restock as a buyer in the replay: at each review week, the forecast job's forecasts of the
//! history so far (with the plan recorded for the weeks ahead), its protection calibration
//! refitted as the replay's own forecasts are sold, and the planner on the buyer's stock; the
//! orders the plan places for the week are executed.

use std::time::Instant;

use restock_core::{Horizon, Week};
use restock_data::WeeklyDataset;
use restock_data::future::KnownFuture;
use restock_infer::Network;
use restock_infer::protection::calibration_origins;
use restock_planner::{PlanConfig, PlanInputs, PlanStatus, SkuInput};
use restock_stats::{ProtectionCalibration, ProtectionCase};

use super::inputs::{ReplayInputs, SimulationOptions};
use super::memo::{ReplayMemo, RestockForecasts};
use super::replay::Replay;
use super::serving::SkuState;
use crate::{Error, Result};

/// restock's state over a replay.
pub(super) struct RestockBuyer<'a> {
    network: &'a Network,
    ds: &'a WeeklyDataset,
    cfg: &'a PlanConfig,
    horizon: Horizon,
    intermittent_adi: f64,
    batch_size: usize,
    calibrate: bool,
    /// Whether the memo already holds every review week's forecasts.
    cached: bool,
    /// Protection cases: from forecasts before the replay, then from the replay's own.
    cases: Vec<ProtectionCase>,
    /// The replay's forecasts by the week they were made, and how many of their weeks were
    /// added as cases.
    made: Vec<(usize, Vec<Vec<f64>>, usize)>,
    /// The cases behind the last calibration.
    pub(super) protection_cases: usize,
    /// How the last plan was solved.
    pub(super) solver: String,
    /// The worst plan status of the replay.
    pub(super) plan_status: PlanStatus,
    /// The largest gap bound of a plan.
    pub(super) max_plan_gap: Option<f64>,
    /// Over all plans, the weeks a plan itself put over a shared limit: beyond what the stock
    /// on hand and on order takes of the warehouse whatever is ordered.
    pub(super) planned_over_limits: usize,
}

impl<'a> RestockBuyer<'a> {
    /// The buyer for a replay of `weeks` weeks from `start`; with `calibrate`, its first
    /// protection cases come from forecasts at a year of origins before the replay (unless the
    /// memo holds every week already).
    pub(super) fn new(
        inputs: &ReplayInputs<'a>,
        replay: &Replay,
        options: &SimulationOptions,
        memo: &mut ReplayMemo,
    ) -> Result<Self> {
        let (network, ds, cfg) = (inputs.network, inputs.ds, inputs.cfg);
        let (weeks, calibrate) = (options.weeks, options.calibrate_protection);
        let (intermittent_adi, batch_size) = (options.intermittent_adi, options.batch_size);
        let plan_weeks = cfg.horizon.weeks;
        let review = cfg.horizon.review_period_weeks.max(1);
        if plan_weeks > network.horizon() {
            return Err(Error::Option(format!(
                "the plan config's horizon.weeks = {plan_weeks} is longer than the run's \
                 forecasts ({} weeks, its window.horizon)",
                network.horizon()
            )));
        }
        let horizon = Horizon::new(plan_weeks).map_err(|e| Error::Option(e.to_string()))?;
        memo.keep_for((replay.start, weeks, calibrate));
        let cached = (0..weeks)
            .step_by(review)
            .all(|w| memo.restock.contains_key(&w));
        let cases = if calibrate && !cached {
            network.protection_cases(
                ds,
                &calibration_origins(replay.start.offset(-1), plan_weeks),
                plan_weeks,
                network.min_context().max(8),
                intermittent_adi,
                batch_size,
            )?
        } else {
            Vec::new()
        };
        Ok(RestockBuyer {
            network,
            ds,
            cfg,
            horizon,
            intermittent_adi,
            batch_size,
            calibrate,
            cached,
            cases,
            made: Vec::new(),
            protection_cases: 0,
            solver: String::new(),
            plan_status: PlanStatus::Optimal,
            max_plan_gap: None,
            planned_over_limits: 0,
        })
    }

    /// The units ordered per SKU in review week `week` (the `w`-th replayed), from the
    /// forecasts of `view` and the buyer's `states`; returns them with the decision's seconds.
    pub(super) fn orders(
        &mut self,
        memo: &mut ReplayMemo,
        replay: &Replay,
        w: usize,
        week: Week,
        view: &WeeklyDataset,
        states: &[SkuState],
    ) -> Result<(Vec<f64>, f64)> {
        let t = Instant::now();
        if !self.cached {
            let f = self.forecasts(replay, w, week, view)?;
            memo.restock.insert(w, f);
        }
        let f = &memo.restock[&w];
        self.protection_cases = f.cases;
        let mut inputs = self.plan_inputs(replay, week, f, states);
        // How often each SKU sold in the weeks before this one, as `restock plan --history`
        // and the weekly job read it.
        restock_planner::io::fill_demand_weeks_shares(&mut inputs.skus, view, week);
        let plan = restock_planner::plan(&inputs, self.cfg, &|_| {})?;
        self.solver = plan.summary.how_solved();
        self.plan_status = self.plan_status.max(plan.summary.status);
        if let Some(g) = plan.summary.gap_bound {
            self.max_plan_gap = Some(self.max_plan_gap.map_or(g, |m| m.max(g)));
        }
        self.planned_over_limits += planned_over_limits(&plan.summary.constraints);
        let mut ordered = vec![0.0; replay.ids.len()];
        for line in plan.orders.iter().filter(|l| l.order_week == week) {
            ordered[replay.pos[line.unique_id.as_str()]] += line.quantity;
        }
        // A memoised forecast's seconds count in every replay that uses it.
        let memoised = if self.cached { f.seconds } else { 0.0 };
        Ok((ordered, memoised + t.elapsed().as_secs_f64()))
    }

    /// The forecasts at review week `week`, and the protection calibration refitted with the
    /// cases of earlier forecasts whose weeks have been sold since.
    fn forecasts(
        &mut self,
        replay: &Replay,
        w: usize,
        week: Week,
        view: &WeeklyDataset,
    ) -> Result<RestockForecasts> {
        let t = Instant::now();
        let plan_weeks = self.cfg.horizon.weeks;
        let network = self.network;
        // The plan recorded for the weeks ahead (unknown past the data's end).
        let recorded = KnownFuture::recorded(self.ds, week, plan_weeks, &network.plan_columns());
        let f = network.forecast_catalogue(
            view,
            self.horizon,
            network.min_context().max(8),
            self.intermittent_adi,
            self.batch_size,
            Some(&recorded),
        )?;
        let protection = if self.calibrate {
            let levels = network.levels().levels();
            for (made_at, values, added) in &mut self.made {
                let known = (w - *made_at).min(plan_weeks);
                if known <= *added {
                    continue;
                }
                for (i, v) in values.iter().enumerate() {
                    let actual = &replay.demand[i][*made_at..*made_at + known];
                    self.cases.extend(
                        ProtectionCalibration::cases_of(
                            v,
                            levels,
                            actual,
                            // The origin week's day number, as the cases from before the replay.
                            i64::from(replay.start.offset(*made_at as i64 - 1).day_number()),
                        )
                        .into_iter()
                        .filter(|c| c.weeks > *added),
                    );
                }
                *added = known;
            }
            self.made.push((w, f.values.clone(), 0));
            ProtectionCalibration::fit(plan_weeks, &self.cases)
        } else {
            None
        };
        let cases = protection.as_ref().map_or(0, ProtectionCalibration::cases);
        Ok(RestockForecasts {
            values: f.values,
            protection,
            cases,
            seconds: t.elapsed().as_secs_f64(),
        })
    }

    /// The planner's inputs: each SKU's forecasts (a backlog added to the first week's
    /// demand), stock on hand and on order.
    fn plan_inputs(
        &self,
        replay: &Replay,
        week: Week,
        f: &RestockForecasts,
        states: &[SkuState],
    ) -> PlanInputs {
        let levels = self.network.levels().clone();
        let k = levels.len();
        let skus = replay
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let st = &states[i];
                let backlog = (-st.stock).max(0.0);
                let forecast = (0..self.cfg.horizon.weeks)
                    .map(|h| {
                        f.values[i][h * k..(h + 1) * k]
                            .iter()
                            .map(|v| v + if h == 0 { backlog } else { 0.0 })
                            .collect()
                    })
                    .collect();
                SkuInput {
                    unique_id: id.clone(),
                    forecast,
                    on_hand: st.stock.max(0.0),
                    on_order: st
                        .pipeline
                        .iter()
                        .map(|(a, q)| (week.weeks_until(*a).max(0) as usize, *q))
                        .collect(),
                    params: replay.sku_params[i].clone(),
                }
            })
            .collect();
        PlanInputs {
            protection: f.protection.clone(),
            start: week,
            levels,
            skus,
        }
    }
}

/// The weeks of one plan over a shared limit by its own choice (see
/// [`RestockBuyer::planned_over_limits`]): beyond what the stock on hand and on order takes of
/// the warehouse whatever is ordered (its `floor`), which no plan can help.
fn planned_over_limits(constraints: &[restock_planner::plan::ConstraintReport]) -> usize {
    constraints
        .iter()
        .filter(|k| k.used - k.limit.max(k.floor) > 1e-6 * k.limit.abs().max(1.0))
        .count()
}
