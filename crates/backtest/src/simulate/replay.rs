//! The replayed catalogue: which SKUs take part, their parameters and economics, the demand that
//! actually came in each replayed week, and the stock every policy starts from.

use std::collections::{BTreeMap, HashMap};

use restock_core::Week;
use restock_data::WeeklyDataset;
use restock_planner::{Economics, PlanConfig, SkuParams};

use super::serving::SkuState;
use crate::backtest::RunWeeks;
use crate::{Error, Result};

/// The SKUs with history before the first replayed week, and what the replay needs of them.
pub(super) struct Replay {
    /// The first replayed week.
    pub(super) start: Week,
    /// The data before it.
    pub(super) history: WeeklyDataset,
    /// The replayed SKUs, in the order of `history`.
    pub(super) ids: Vec<String>,
    /// Each id's position in `ids`.
    pub(super) pos: HashMap<String, usize>,
    pub(super) sku_params: Vec<SkuParams>,
    pub(super) economics: Vec<Economics>,
    /// Actual demand per SKU and replayed week.
    pub(super) demand: Vec<Vec<f64>>,
}

impl Replay {
    /// The last `weeks` weeks of `ds`, checked against the run's training weeks (no replay of
    /// weeks the network learned from unless `allow_in_sample`) and the SKU table `params`.
    pub(super) fn new(
        run_weeks: RunWeeks,
        ds: &WeeklyDataset,
        params: &HashMap<String, SkuParams>,
        cfg: &PlanConfig,
        weeks: usize,
        allow_in_sample: bool,
    ) -> Result<Self> {
        let total_weeks = ds.first_week.weeks_until(ds.last_week) + 1;
        if weeks == 0 || weeks as i64 >= total_weeks {
            return Err(Error::Option(format!(
                "--weeks {weeks}: must be between 1 and {} (the data has {total_weeks} weeks)",
                total_weeks - 1
            )));
        }
        let start = ds.last_week.offset(1 - weeks as i64);
        if let Some(t) = run_weeks.train_end
            && start.offset(-1) < t
            && !allow_in_sample
        {
            return Err(Error::InSample {
                cutoff: start.offset(-1).to_string(),
                train_end: t.to_string(),
            });
        }
        let history = ds
            .truncate(start.offset(-1))
            .ok_or_else(|| Error::Option("no history before the simulated weeks".into()))?;
        let ids: Vec<String> = history.series.iter().map(|s| s.unique_id.clone()).collect();
        if ids.is_empty() {
            return Err(Error::Option(format!(
                "no SKU has history before the first simulated week {start}"
            )));
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !params.contains_key(*id)).collect();
        if let Some(first) = missing.first() {
            return Err(Error::Option(format!(
                "{} of the {} SKUs replayed have neither a price in the data nor a row in \
                 --sku-params (e.g. {first}): give --default-price (the price of a SKU without \
                 one; its unit cost is 1 − --margin of it) or --sku-params",
                missing.len(),
                ids.len()
            )));
        }
        let mut sku_params = Vec::with_capacity(ids.len());
        for id in &ids {
            let p = params[id].clone();
            p.check(id)?;
            sku_params.push(p);
        }
        let full: HashMap<&str, usize> = ds
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| (s.unique_id.as_str(), i))
            .collect();
        let demand = ids
            .iter()
            .map(|id| {
                let s = &ds.series[full[id.as_str()]];
                (0..weeks)
                    .map(|w| s.y[s.start.weeks_until(start.offset(w as i64)) as usize])
                    .collect()
            })
            .collect();
        let economics = sku_params.iter().map(|p| Economics::of(p, cfg)).collect();
        let pos = ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i))
            .collect();
        Ok(Replay {
            start,
            history,
            ids,
            pos,
            sku_params,
            economics,
            demand,
        })
    }

    /// Every policy's starting stock: one protection interval (lead time + `review`) of demand
    /// at the rate of the 8 weeks before the replay, nothing on order.
    pub(super) fn starting_states(&self, review: usize) -> Vec<SkuState> {
        self.history
            .series
            .iter()
            .zip(&self.sku_params)
            .map(|(s, p)| {
                let recent = &s.y[s.y.len().saturating_sub(8)..];
                let rate = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
                SkuState {
                    stock: (rate * (p.lead_time_weeks + review) as f64).round(),
                    pipeline: BTreeMap::new(),
                }
            })
            .collect()
    }

    /// What a buyer sees at review week `week`: the replayed SKUs' history up to the week
    /// before (SKUs that started later are left out).
    pub(super) fn view_at(&self, ds: &WeeklyDataset, week: Week) -> Result<WeeklyDataset> {
        let mut view = ds
            .truncate(week.offset(-1))
            .ok_or_else(|| Error::Option("no history before a review week".into()))?;
        view.series
            .retain(|s| self.pos.contains_key(s.unique_id.as_str()));
        Ok(view)
    }
}
