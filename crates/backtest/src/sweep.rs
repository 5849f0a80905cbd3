//! The service/stock trade-off, honestly compared: every policy of [`crate::simulate()`] replayed
//! at several service targets on the same demand, and restock set against the better classical
//! buyer at equal fill rate.
//!
//! One service level is not a comparison: a policy can buy fill rate with stock. Each target
//! (a cycle service level, or `economic`: the newsvendor critical ratio of each SKU's costs) is
//! one simulation with the plan config's service target replaced; every policy gets it. The
//! summary states, for each restock point, the average stock value the better baseline needs
//! for the same fill rate (linear interpolation on that baseline's own curve, only inside the
//! range of fill rates its points reach) and restock's reduction against it, and at the economic
//! setting restock's total cost against the cheaper baseline's.

use restock_planner::PlanConfig;
use serde::{Deserialize, Serialize};

use crate::simulate::{
    POLICIES, PolicyResult, ReplayInputs, ReplayMemo, SimulationOptions, simulate_with,
};
use crate::{Error, Result};

/// A service target of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTarget {
    /// A cycle service level in (0, 1), for every SKU.
    Level(f64),
    /// Each SKU's critical ratio (p − c) / (p − c + h).
    Economic,
    /// An aggregate fill rate in (0, 1): restock allocates per-SKU levels to reach it at the
    /// least stock value (`restock_planner::service`); the order-up-to buyers, who have no
    /// such rule, hold every SKU to it as a cycle service level.
    FillRate(f64),
}

impl ServiceTarget {
    /// Parse `0.95`, `economic` or `fill:0.95`.
    pub fn parse(text: &str) -> Result<Self> {
        let t = text.trim();
        if t == "economic" {
            return Ok(ServiceTarget::Economic);
        }
        let (fill, number) = match t.strip_prefix("fill:") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        match number.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v < 1.0 && fill => Ok(ServiceTarget::FillRate(v)),
            Ok(v) if v > 0.0 && v < 1.0 => Ok(ServiceTarget::Level(v)),
            _ => Err(Error::Option(format!(
                "service target {t:?}: expected a level in (0, 1), e.g. 0.95, `economic`, or a \
                 fill rate, e.g. fill:0.95"
            ))),
        }
    }

    /// The plan config with this target.
    fn apply(&self, cfg: &PlanConfig) -> PlanConfig {
        let mut cfg = cfg.clone();
        match *self {
            ServiceTarget::Level(v) => {
                cfg.service.level = v;
                cfg.service.critical_ratio = false;
                cfg.service.fill_rate = None;
            }
            ServiceTarget::Economic => {
                cfg.service.critical_ratio = true;
                cfg.service.fill_rate = None;
            }
            ServiceTarget::FillRate(v) => {
                cfg.service.level = v;
                cfg.service.critical_ratio = false;
                cfg.service.fill_rate = Some(v);
            }
        }
        cfg
    }

    /// `0.95`, `economic` or `fill:0.95`.
    pub fn label(&self) -> String {
        match self {
            ServiceTarget::Level(v) => format!("{v}"),
            ServiceTarget::Economic => "economic".into(),
            ServiceTarget::FillRate(v) => format!("fill:{v}"),
        }
    }
}

/// One policy at one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPoint {
    /// The target.
    pub target: String,
    /// Its results.
    #[serde(flatten)]
    pub result: PolicyResult,
    /// Share of SKU-weeks with demand served without a stock-out (the realised cycle service).
    pub cycle_service: f64,
    /// On restock's row: how its plans at this target ended, the worst of them (`step_limit`
    /// or `time_limit` when a price search stopped short of its gap). Absent on the
    /// baselines' rows and in sweeps written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_status: Option<restock_planner::PlanStatus>,
    /// On restock's row: the weeks its plans at this target put over a limit themselves
    /// ([`crate::SimulationSummary::planned_over_limits`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planned_over_limits: Option<usize>,
}

/// restock at one target against the baselines at its fill rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EqualFill {
    /// The target.
    pub target: String,
    /// restock's fill rate there.
    pub fill_rate: f64,
    /// restock's average stock value.
    pub stock_value: f64,
    /// The better baseline at that fill rate, and the stock value it needs for it (interpolated);
    /// `None` when no baseline's curve reaches that fill rate.
    pub baseline: Option<(String, f64)>,
    /// 1 − restock's stock / the baseline's, when there is one.
    pub stock_reduction: Option<f64>,
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Every policy at every target, targets in the order given.
    pub points: Vec<SweepPoint>,
    /// restock at each target against the better baseline at equal fill rate.
    pub equal_fill: Vec<EqualFill>,
    /// At the economic target: restock's total cost / the cheaper baseline's, and that baseline.
    pub economic_cost_ratio: Option<(String, f64)>,
    /// [`Sweep::equal_fill`] on the SKU-weeks the policies' orders can reach
    /// ([`PolicyResult::fill_rate_ordered`], [`PolicyResult::avg_stock_value_ordered`]): the
    /// weeks before are the same starting stock for every policy, and narrow any difference
    /// (empty in sweeps written before it).
    #[serde(default)]
    pub equal_fill_ordered: Vec<EqualFill>,
    /// [`Sweep::economic_cost_ratio`] on those SKU-weeks
    /// ([`PolicyResult::total_cost_ordered`]; absent in sweeps written before it).
    #[serde(default)]
    pub economic_cost_ratio_ordered: Option<(String, f64)>,
    /// Weeks in which any policy's purchases exceeded a budget or its stock the warehouse.
    pub limits_exceeded: usize,
    /// The same, counting the warehouse only from the longest lead time on
    /// ([`PolicyResult::weeks_over_capacity_ordered`]; 0 in sweeps written before it).
    #[serde(default)]
    pub limits_exceeded_ordered: usize,
}

/// Simulate every target in `targets` (see the module doc) with `options`, the other settings
/// from `cfg`, each week's forecasts made once for all of them (`memo`, which a simulation of
/// the same weeks may have filled already). `progress(target, targets)` is called before each.
pub fn sweep(
    inputs: ReplayInputs<'_>,
    options: &SimulationOptions,
    targets: &[ServiceTarget],
    memo: &mut ReplayMemo,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Sweep> {
    if targets.is_empty() {
        return Err(Error::Option(
            "a sweep needs at least one service target".into(),
        ));
    }
    let mut points = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        progress(i, targets.len());
        let cfg = target.apply(inputs.cfg);
        let sim = simulate_with(
            ReplayInputs {
                cfg: &cfg,
                ..inputs
            },
            options,
            memo,
            &mut |_, _| {},
        )?;
        let (status, over) = (sim.summary.plan_status, sim.summary.planned_over_limits);
        for r in sim.summary.policies {
            let restock = r.policy == POLICIES[0];
            points.push(SweepPoint {
                target: target.label(),
                cycle_service: 1.0 - r.stockout_share,
                plan_status: restock.then_some(status),
                planned_over_limits: restock.then_some(over),
                result: r,
            });
        }
    }
    Ok(compare(points))
}

/// The baselines' curves, restock's points on them, and the economic comparison: over every
/// replayed week, and over the SKU-weeks the policies' orders can reach.
pub fn compare(points: Vec<SweepPoint>) -> Sweep {
    let all = View {
        fill: |r| r.fill_rate,
        stock: |r| r.avg_stock_value,
        cost: |r| r.total_cost,
    };
    let ordered = View {
        fill: |r| r.fill_rate_ordered,
        stock: |r| r.avg_stock_value_ordered,
        cost: |r| r.total_cost_ordered,
    };
    let limits_exceeded = points
        .iter()
        .map(|p| p.result.weeks_over_budget + p.result.weeks_over_capacity)
        .sum();
    let limits_exceeded_ordered = points
        .iter()
        .map(|p| p.result.weeks_over_budget + p.result.weeks_over_capacity_ordered)
        .sum();
    Sweep {
        equal_fill: all.equal_fill(&points),
        economic_cost_ratio: all.economic_cost_ratio(&points),
        equal_fill_ordered: ordered.equal_fill(&points),
        economic_cost_ratio_ordered: ordered.economic_cost_ratio(&points),
        points,
        limits_exceeded,
        limits_exceeded_ordered,
    }
}

/// Which fill rate, stock value and cost of a policy's result a comparison reads.
struct View {
    fill: fn(&PolicyResult) -> f64,
    stock: fn(&PolicyResult) -> f64,
    cost: fn(&PolicyResult) -> f64,
}

impl View {
    /// restock at each target against the better baseline's curve at its fill rate.
    fn equal_fill(&self, points: &[SweepPoint]) -> Vec<EqualFill> {
        let of = |policy: &str| -> Vec<&SweepPoint> {
            points
                .iter()
                .filter(|p| p.result.policy == policy)
                .collect()
        };
        let baselines: Vec<(&str, Vec<(f64, f64)>)> = POLICIES[1..]
            .iter()
            .map(|&b| {
                let mut curve: Vec<(f64, f64)> = of(b)
                    .iter()
                    .map(|p| ((self.fill)(&p.result), (self.stock)(&p.result)))
                    .collect();
                curve.sort_by(|a, b| a.0.total_cmp(&b.0));
                (b, curve)
            })
            .collect();
        of(POLICIES[0])
            .iter()
            .map(|p| {
                let (fill, stock) = ((self.fill)(&p.result), (self.stock)(&p.result));
                let baseline = baselines
                    .iter()
                    .filter_map(|(name, curve)| {
                        interpolate(curve, fill).map(|s| (name.to_string(), s))
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1));
                EqualFill {
                    target: p.target.clone(),
                    fill_rate: fill,
                    stock_value: stock,
                    stock_reduction: baseline
                        .as_ref()
                        .filter(|(_, s)| *s > 0.0)
                        .map(|(_, s)| 1.0 - stock / s),
                    baseline,
                }
            })
            .collect()
    }

    /// At the economic target: restock's cost / the cheapest baseline's, and that baseline.
    fn economic_cost_ratio(&self, points: &[SweepPoint]) -> Option<(String, f64)> {
        let economic = |policy: &str| {
            points
                .iter()
                .find(|p| p.target == "economic" && p.result.policy == policy)
        };
        let restock = (self.cost)(&economic(POLICIES[0])?.result);
        POLICIES[1..]
            .iter()
            .filter_map(|b| economic(b))
            .map(|b| (b.result.policy.clone(), (self.cost)(&b.result)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .filter(|(_, cost)| *cost > 0.0)
            .map(|(b, cost)| (b, restock / cost))
    }
}

/// The stock value on a (fill rate, stock value) curve sorted by fill rate at `fill`, linear
/// between its points; `None` outside their range.
fn interpolate(curve: &[(f64, f64)], fill: f64) -> Option<f64> {
    let first = curve.first()?;
    let last = curve.last()?;
    if fill < first.0 || fill > last.0 {
        return None;
    }
    curve
        .windows(2)
        .find_map(|w| {
            let ((f0, s0), (f1, s1)) = (w[0], w[1]);
            (fill >= f0 && fill <= f1).then(|| {
                if f1 > f0 {
                    s0 + (s1 - s0) * (fill - f0) / (f1 - f0)
                } else {
                    s0.min(s1)
                }
            })
        })
        .or((curve.len() == 1).then_some(first.1))
}

impl Sweep {
    /// Write `sweep.json` into `dir` (atomically).
    pub fn write(&self, dir: &std::path::Path) -> Result<()> {
        let path = dir.join("sweep.json");
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::Option(format!("{}: {e}", path.display())))?;
        restock_data::table::write_text(&path, &text)?;
        Ok(())
    }

    /// The comparison in sentences: restock at each target against the better baseline at equal
    /// fill rate, the cost at the economic setting, the weeks over a limit.
    pub fn findings(&self) -> Vec<String> {
        let equal = |list: &[EqualFill], on: &str| -> Vec<String> {
            list.iter()
                .map(|e| match (&e.baseline, e.stock_reduction) {
                    (Some((b, stock)), Some(r)) => format!(
                        "At {}{on}: restock fills {:.3} holding {:.0}; {b} needs {:.0} for that \
                         fill rate ({:+.1} % stock for restock).",
                        e.target,
                        e.fill_rate,
                        e.stock_value,
                        stock,
                        -100.0 * r
                    ),
                    _ => format!(
                        "At {}{on}: restock fills {:.3}, outside the fill rates the baselines \
                         reach.",
                        e.target, e.fill_rate
                    ),
                })
                .collect()
        };
        let mut out = equal(&self.equal_fill, "");
        if let Some((b, ratio)) = &self.economic_cost_ratio {
            out.push(format!(
                "At the economic setting restock's total cost is {ratio:.3} × {b}'s."
            ));
        }
        // The same on the SKU-weeks the orders can reach, where the policies differ.
        const ORDERED: &str = " from each SKU's lead time on";
        out.extend(equal(&self.equal_fill_ordered, ORDERED));
        if let Some((b, ratio)) = &self.economic_cost_ratio_ordered {
            out.push(format!(
                "At the economic setting{ORDERED}, restock's cost is {ratio:.3} × {b}'s."
            ));
        }
        // Whether each cycle service target was kept (issue 13 asks within 0.02): on every
        // replayed week, and on the weeks the policy's orders can reach.
        let kept = |read: &dyn Fn(&SweepPoint) -> f64| -> Vec<String> {
            self.points
                .iter()
                .filter(|p| p.result.policy == POLICIES[0])
                .filter_map(|p| {
                    let target: f64 = p.target.parse().ok()?;
                    let off = read(p) - target;
                    let verdict = if off.abs() <= 0.02 { "kept" } else { "missed" };
                    Some(format!(
                        "{} → {:.3} ({off:+.3}, {verdict})",
                        p.target,
                        read(p)
                    ))
                })
                .collect()
        };
        let all = kept(&|p| p.cycle_service);
        if !all.is_empty() {
            out.push(format!(
                "restock's realised cycle service at each target: {}.",
                all.join(", ")
            ));
            out.push(format!(
                "The same from each SKU's lead time on (before, every policy serves from the \
                 same starting stock): {}.",
                kept(&|p| p.result.cycle_service_ordered).join(", ")
            ));
        }
        out.push(format!(
            "Weeks over a budget or the warehouse, all policies and targets: {} ({} counting the \
             warehouse from the longest lead time on, when the stock is the policies' own).",
            self.limits_exceeded, self.limits_exceeded_ordered
        ));
        let planned: usize = self
            .points
            .iter()
            .filter_map(|p| p.planned_over_limits)
            .sum();
        out.push(format!(
            "Weeks restock's plans themselves put over a limit (beyond what the stock on hand \
             and on order takes whatever is ordered), all targets: {planned}."
        ));
        out
    }

    /// A plain-text table of the points and the comparison.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<10} {:<16} {:>9} {:>13} {:>15} {:>12} {:>14}\n",
            "target",
            "policy",
            "fill rate",
            "cycle service",
            "avg stock value",
            "total cost",
            "max spend/week"
        );
        for p in &self.points {
            let r = &p.result;
            out.push_str(&format!(
                "{:<10} {:<16} {:>9.3} {:>13.3} {:>15.0} {:>12.0} {:>14.0}\n",
                p.target,
                r.policy,
                r.fill_rate,
                p.cycle_service,
                r.avg_stock_value,
                r.total_cost,
                r.max_weekly_spend
            ));
        }
        for line in self.findings() {
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(target: &str, policy: &str, fill: f64, stock: f64, cost: f64) -> SweepPoint {
        SweepPoint {
            target: target.into(),
            cycle_service: fill,
            plan_status: None,
            planned_over_limits: None,
            result: PolicyResult {
                policy: policy.into(),
                fill_rate: fill,
                stockout_share: 1.0 - fill,
                avg_stock_value: stock,
                end_stock_value: stock,
                total_cost: cost,
                // From the lead time on: the same fill, the stock less what the starting
                // stock holds for all, the cost less what every policy loses at first.
                fill_rate_ordered: fill,
                avg_stock_value_ordered: stock - 20.0,
                total_cost_ordered: cost - 40.0,
                orders: 1,
                units_ordered: 1.0,
                ..PolicyResult::default()
            },
        }
    }

    #[test]
    fn targets_parse_and_apply() {
        assert_eq!(
            ServiceTarget::parse(" 0.9").unwrap(),
            ServiceTarget::Level(0.9)
        );
        assert_eq!(
            ServiceTarget::parse("economic").unwrap(),
            ServiceTarget::Economic
        );
        assert_eq!(
            ServiceTarget::parse("fill:0.95").unwrap(),
            ServiceTarget::FillRate(0.95)
        );
        for bad in ["1", "0", "x", "-0.5", "fill:1", "fill:"] {
            assert!(ServiceTarget::parse(bad).is_err(), "{bad}");
        }
        let cfg = PlanConfig::default();
        let l = ServiceTarget::Level(0.8).apply(&cfg);
        assert_eq!((l.service.level, l.service.critical_ratio), (0.8, false));
        assert!(ServiceTarget::Economic.apply(&cfg).service.critical_ratio);
        let f = ServiceTarget::FillRate(0.9).apply(&cfg);
        assert_eq!((f.service.level, f.service.fill_rate), (0.9, Some(0.9)));
        assert_eq!(ServiceTarget::FillRate(0.9).label(), "fill:0.9");
    }

    #[test]
    fn restock_is_read_on_the_better_baselines_curve() {
        let points = vec![
            point("0.8", "restock", 0.85, 60.0, 100.0),
            point("0.8", "order_up_to", 0.80, 100.0, 120.0),
            point("0.8", "order_up_to_tsb", 0.82, 80.0, 110.0),
            point("0.9", "restock", 0.99, 90.0, 90.0),
            point("0.9", "order_up_to", 0.90, 140.0, 130.0),
            point("0.9", "order_up_to_tsb", 0.92, 120.0, 105.0),
            point("economic", "restock", 0.88, 70.0, 80.0),
            point("economic", "order_up_to", 0.86, 110.0, 125.0),
            point("economic", "order_up_to_tsb", 0.87, 100.0, 100.0),
        ];
        let s = compare(points);
        // restock at 0.85: moving average between (0.80, 100) and (0.86, 110) → 108.33; TSB
        // between (0.82, 80) and (0.87, 100) → 92: the better baseline is TSB.
        let e = &s.equal_fill[0];
        let (b, stock) = e.baseline.clone().unwrap();
        assert_eq!(b, "order_up_to_tsb");
        assert!((stock - 92.0).abs() < 1e-9, "{stock}");
        assert!((e.stock_reduction.unwrap() - (1.0 - 60.0 / 92.0)).abs() < 1e-12);
        // 0.99 is beyond every baseline's curve: no comparison is made up.
        assert_eq!(s.equal_fill[1].baseline, None);
        // Economic: 80 against the cheaper baseline's 100.
        assert_eq!(
            s.economic_cost_ratio,
            Some(("order_up_to_tsb".to_string(), 0.8))
        );
        assert!(s.table().contains("order_up_to_tsb needs 92"));
        // From the lead time on, the same curves 20 lower: restock's 40 against 72, and the
        // economic costs 40 against 60.
        let e = &s.equal_fill_ordered[0];
        assert_eq!(e.baseline, Some(("order_up_to_tsb".to_string(), 72.0)));
        assert!((e.stock_reduction.unwrap() - (1.0 - 40.0 / 72.0)).abs() < 1e-12);
        let (b, ratio) = s.economic_cost_ratio_ordered.clone().unwrap();
        assert_eq!(b, "order_up_to_tsb");
        assert!((ratio - 40.0 / 60.0).abs() < 1e-12, "{ratio}");
        assert!(
            s.table()
                .contains("At the economic setting from each SKU's lead time on, restock's cost is 0.667 × order_up_to_tsb's."),
            "{}",
            s.table()
        );
        // 0.85 at a 0.8 target is 0.05 over: missed; 0.99 at 0.9 too.
        assert!(
            s.table().contains(
                "at each target: 0.8 → 0.850 (+0.050, missed), 0.9 → 0.990 (+0.090, missed)."
            ),
            "{}",
            s.table()
        );
        assert_eq!(interpolate(&[(0.5, 10.0)], 0.5), Some(10.0));
        assert_eq!(interpolate(&[], 0.5), None);
    }
}
