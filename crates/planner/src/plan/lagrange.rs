//! Lagrangian relaxation of a joint model's shared rows.
//!
//! A weekly budget or warehouse capacity couples every SKU, but only through a handful of rows
//! (one per week and limit). Pricing those rows with multipliers λ ≥ 0 splits the MILP into one
//! small problem per SKU: whole-case orders by week minimising the SKU's controllable cost plus
//! what it uses of each limit at its price. [`best_orders`] solves that problem exactly by dynamic
//! programming, so for every λ
//!
//! ```text
//! L(λ) = Σ_i min_i(λ) − Σ_k λ_k · limit_k  ≤  the MILP optimum
//! ```
//!
//! is a lower bound at least as strong as the LP relaxation's (the SKU problems keep their whole
//! cases and MOQs). λ follows projected subgradient steps (Polyak's step size towards the best
//! plan found); each step's SKU plans, taken together, are a plan for the joint model whose cost
//! (violations at the slack penalty) is an upper bound. With thousands of SKUs and a few dozen
//! shared rows, the duality gap is small (it is bounded by the non-convexity of a few SKUs, the
//! Shapley–Folkman argument), which is why this beats both the joint LP (its simplex time grows
//! with the catalogue) and branch and bound (the LP bound leaves the integrality gap open).

use std::time::Instant;

use rayon::prelude::*;

use crate::status::PlanStatus;

use super::dp::{best_orders, lp_orders};
use super::model::GroupModel;
use super::sku::{Prepared, over_cost, simulate};

/// The subgradient loop stops once the step has been halved this far without a better bound:
/// the bound has settled (on the benchmark's 10,000 SKUs, within 0.001 % of its final value).
const MIN_STEP: f64 = 1.0 / 64.0;

/// When a search stops short of the optimum: a model's share of `solver`'s limits.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Relative gap, plan against bound.
    pub gap: f64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// Most price steps (`solver.max_price_steps`).
    pub steps: Option<usize>,
}

impl Limits {
    /// The limit a search that has taken `steps` steps since `started` has reached, if any.
    /// The step limit is checked first: where both are reached, the outcome is still the one
    /// every machine gives.
    pub(super) fn reached(&self, started: Instant, steps: usize) -> Option<PlanStatus> {
        if self.steps.is_some_and(|n| steps >= n) {
            Some(PlanStatus::StepLimit)
        } else if started.elapsed().as_secs_f64() > self.seconds {
            Some(PlanStatus::TimeLimit)
        } else {
            None
        }
    }
}

/// Multiples of the best prices whose SKU plans are offered to the final greedy.
pub(super) const PRICE_FACTORS: [f64; 5] = [0.98, 0.995, 1.005, 1.02, 1.05];

/// Where a shared row's column belongs: a SKU's order (cases) or its end-of-week stock.
#[derive(Debug, Clone, Copy)]
enum Use {
    /// Order week `s`, per case.
    Order(usize),
    /// Week `t`, per unit in stock at the end of it.
    Stock(usize),
}

/// One SKU's share of one shared row.
#[derive(Debug, Clone, Copy)]
pub(super) struct Term {
    row: usize,
    coef: f64,
    what: Use,
}

/// The outcome.
pub(super) struct Relaxation {
    /// Starting plans, as cases by order week per SKU: the SKUs' plans at the best prices (over
    /// a limit where SKUs whose plans tie there all take the larger one), then the cheapest plan
    /// of the subgradient loop that kept within every limit, if any.
    pub plans: Vec<Vec<Vec<f64>>>,
    /// The SKUs' own plans at the best prices and at a few multiples of them.
    pub family: Vec<Vec<Vec<f64>>>,
    /// The best lower bound L(λ).
    pub bound: f64,
    /// The multipliers that gave it, per shared row: the shadow prices of the limits.
    pub prices: Vec<f64>,
    /// Subgradient iterations run.
    pub iterations: usize,
    /// The limit that ended it with the gap open ([`PlanStatus::StepLimit`] or
    /// [`PlanStatus::TimeLimit`]); none when the gap closed or the step size vanished.
    pub stopped: Option<PlanStatus>,
}

/// The SKUs' shares of the shared rows, by SKU.
fn terms(model: &GroupModel) -> Vec<Vec<Term>> {
    let n_cols = model.lp.cols.len();
    let mut owner: Vec<Option<(usize, Use)>> = vec![None; n_cols];
    for (i, c) in model.cols.iter().enumerate() {
        for (s, &col) in c.cases.iter().enumerate() {
            owner[col] = Some((i, Use::Order(s)));
        }
        for (t, &col) in c.inv.iter().enumerate() {
            owner[col] = Some((i, Use::Stock(t)));
        }
    }
    let mut out = vec![Vec::new(); model.cols.len()];
    for (k, sr) in model.shared.iter().enumerate() {
        for &(col, coef) in &model.lp.rows[sr.row].coefs {
            if let Some((i, what)) = owner[col] {
                out[i].push(Term { row: k, coef, what });
            }
        }
    }
    out
}

/// Which problem each SKU solves at given prices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Orders {
    /// Whole cases with on/off MOQs, stock simulated under lost sales ([`best_orders`]).
    WholeCases,
    /// The SKU's LP relaxation ([`lp_orders`]).
    Relaxed,
}

/// One SKU's plan at prices `lambda`.
#[derive(Debug, Clone)]
pub(super) struct SkuAt {
    /// Cases by order week (fractional for [`Orders::Relaxed`]).
    pub cases: Vec<f64>,
    /// End-of-week stock.
    pub inv: Vec<f64>,
    /// Lost demand by week.
    pub unmet: Vec<f64>,
    /// Its cost including the priced use of the shared rows (the SKU's term of L(λ)).
    pub priced: f64,
    /// Its own cost: the model's objective for this SKU.
    pub own: f64,
    /// What it uses of each of its shared rows: (row, amount).
    pub uses: Vec<(usize, f64)>,
}

impl SkuAt {
    /// The same plan (same orders and stock).
    pub(super) fn same_as(&self, other: &SkuAt) -> bool {
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-9);
        close(&self.cases, &other.cases)
            && close(&self.inv, &other.inv)
            && close(&self.unmet, &other.unmet)
    }
}

fn sku_at(
    p: &Prepared,
    terms: &[Term],
    lambda: &[f64],
    orders: Orders,
    order_cost: f64,
    violation_cost: f64,
) -> SkuAt {
    let t_len = p.d.len();
    let mut order_price = vec![0.0; t_len];
    let mut stock_price = vec![0.0; t_len];
    for term in terms {
        match term.what {
            Use::Order(s) => order_price[s] += lambda[term.row] * term.coef,
            Use::Stock(t) => stock_price[t] += lambda[term.row] * term.coef,
        }
    }
    let (cases, inv, unmet, priced, fixed) = match orders {
        Orders::WholeCases => {
            let (cases, priced) =
                best_orders(p, &order_price, &stock_price, order_cost, violation_cost);
            let units: Vec<f64> = cases.iter().map(|k| k * p.pack).collect();
            let (inv, unmet) = simulate(p, &units);
            let fixed = order_cost * cases.iter().filter(|k| **k > 0.0).count() as f64;
            (cases, inv, unmet, priced, fixed)
        }
        Orders::Relaxed => {
            let lp = lp_orders(p, &order_price, &stock_price, order_cost, violation_cost);
            let fixed = order_cost / p.order_cap() * lp.units.iter().sum::<f64>();
            let cases = lp.units.iter().map(|q| q / p.pack).collect();
            (cases, lp.inv, lp.unmet, lp.priced, fixed)
        }
    };
    let own = fixed
        + (0..t_len)
            .map(|t| p.week_cost(t, inv[t], unmet[t], 0.0) + over_cost(p, inv[t], violation_cost))
            .sum::<f64>();
    let uses = terms
        .iter()
        .map(|term| {
            let amount = match term.what {
                Use::Order(s) => cases[s],
                Use::Stock(t) => inv[t],
            };
            (term.row, term.coef * amount)
        })
        .collect();
    SkuAt {
        cases,
        inv,
        unmet,
        priced,
        own,
        uses,
    }
}

/// SKU plans at prices `lambda`, what they use of each of the `rows` shared rows, and L(λ).
pub(super) fn plans_at(
    items: &[&Prepared],
    terms: &[Vec<Term>],
    lambda: &[f64],
    limits: &[f64],
    orders: Orders,
    order_cost: f64,
    violation_cost: f64,
) -> (Vec<SkuAt>, Vec<f64>, f64) {
    let solved: Vec<SkuAt> = items
        .par_iter()
        .zip(terms)
        .map(|(p, ts)| sku_at(p, ts, lambda, orders, order_cost, violation_cost))
        .collect();
    let mut used = vec![0.0; limits.len()];
    for (row, amount) in solved.iter().flat_map(|s| &s.uses) {
        used[*row] += amount;
    }
    let bound = solved.iter().map(|s| s.priced).sum::<f64>()
        - lambda.iter().zip(limits).map(|(l, b)| l * b).sum::<f64>();
    (solved, used, bound)
}

/// Where the price search ended.
pub(super) struct PriceSearch {
    /// The shares of the shared rows, by SKU.
    pub terms: Vec<Vec<Term>>,
    /// The limits, by shared row.
    pub limits: Vec<f64>,
    /// The best lower bound L(λ).
    pub bound: f64,
    /// The multipliers that gave it, per shared row: the shadow prices of the limits.
    pub prices: Vec<f64>,
    /// The SKUs' plans at those prices.
    pub at_best: Vec<SkuAt>,
    /// The cheapest set of SKU plans of the search that kept within every limit: (cost, plans).
    pub feasible: Option<(f64, Vec<SkuAt>)>,
    /// Per SKU, its distinct plans at the prices whose bound came within [`NEAR_BEST`] of the
    /// best (at most the `collect` asked for; none without).
    pub near_best: Vec<Vec<SkuAt>>,
    /// Subgradient iterations run.
    pub iterations: usize,
    /// The limit that ended it with the gap open ([`PlanStatus::StepLimit`] or
    /// [`PlanStatus::TimeLimit`]); none when the gap closed or the step size vanished.
    pub stopped: Option<PlanStatus>,
}

/// Plans are collected at prices whose bound is within this share of the best one.
const NEAR_BEST: f64 = 1e-3;

/// Maximise L(λ) by projected subgradient steps, keeping the best plan seen. Stops at the gap of
/// `limits`, at its step or time limit, or when the step size has shrunk to nothing.
/// `collect` keeps up to that many of each SKU's plans from near the best prices: the steps
/// around the optimum move each row's price on its own, so these plans span the choices a
/// master problem needs to keep every limit (see `master`).
#[allow(clippy::too_many_arguments)]
pub(super) fn search_prices(
    model: &GroupModel,
    items: &[&Prepared],
    orders: Orders,
    order_cost: f64,
    violation_cost: f64,
    stop: Limits,
    collect: usize,
) -> PriceSearch {
    let started = Instant::now();
    let terms = terms(model);
    let limits: Vec<f64> = model.shared.iter().map(|sr| sr.limit).collect();
    // Steps are taken in units of each limit (λ_k · limit_k, violation / limit_k), so that a
    // budget in currency and a capacity in cubic metres move at comparable rates.
    let scale: Vec<f64> = limits.iter().map(|b| b.abs().max(1.0)).collect();
    // A row over its limit whatever is ordered (stock already on hand or arriving takes more of
    // a warehouse than it has: its floor) has a positive subgradient at every λ, so its best
    // price is the slack's, the cap: start it there rather than climb to it.
    let mut lambda: Vec<f64> = model
        .shared
        .iter()
        .map(|sr| {
            if sr.floor > sr.limit + 1e-9 * sr.limit.abs().max(1.0) {
                violation_cost
            } else {
                0.0
            }
        })
        .collect();
    let mut best_bound = f64::NEG_INFINITY;
    let mut best_prices = lambda.clone();
    let mut feasible: Option<(f64, Vec<SkuAt>)> = None;
    let mut at_best: Vec<SkuAt> = Vec::new();
    let mut near_best: Vec<Vec<SkuAt>> =
        vec![Vec::new(); if collect > 0 { items.len() } else { 0 }];
    let mut theta = 1.0;
    let mut stalled = 0;
    let mut iterations = 0;
    let stopped = loop {
        // Every search takes one step: it gives the bound and the plans at the first prices.
        if iterations > 0
            && let Some(limit) = stop.reached(started, iterations)
        {
            break Some(limit);
        }
        iterations += 1;
        let (solved, used, bound) = plans_at(
            items,
            &terms,
            &lambda,
            &limits,
            orders,
            order_cost,
            violation_cost,
        );
        let own: f64 = solved.iter().map(|s| s.own).sum();
        // [rows], relative to each limit
        let subgradient: Vec<f64> = used
            .iter()
            .zip(&limits)
            .zip(&scale)
            .map(|((u, b), s)| (u - b) / s)
            .collect();
        let within = subgradient.iter().all(|g| *g <= 1e-9);
        if within && feasible.as_ref().is_none_or(|f| own < f.0) {
            feasible = Some((own, solved.clone()));
        }
        if collect > 0 && bound >= best_bound.max(bound) - NEAR_BEST * bound.abs() {
            near_best
                .par_iter_mut()
                .zip(&solved)
                .for_each(|(plans, plan)| {
                    if plans.len() < collect && !plans.iter().any(|c| c.same_as(plan)) {
                        plans.push(plan.clone());
                    }
                });
        }
        if bound > best_bound + 1e-9 * bound.abs().max(1.0) {
            best_bound = bound;
            best_prices = lambda.clone();
            at_best = solved;
            stalled = 0;
        } else {
            stalled += 1;
            if stalled >= 3 {
                // Back to the best prices with half the step.
                theta /= 2.0;
                stalled = 0;
                lambda = best_prices.clone();
                continue;
            }
        }
        // Polyak's step towards the best plan's cost, or a little above the bound before there is
        // one (the margin shrinks with the step).
        let target = feasible
            .as_ref()
            .map_or(best_bound + 0.05 * theta * best_bound.abs().max(1.0), |f| {
                f.0
            });
        let closed = feasible
            .as_ref()
            .is_some_and(|f| f.0 - best_bound <= stop.gap * f.0.abs().max(1e-9));
        // The projected subgradient: rows at price 0 and within their limit, or at the cap and
        // over it, stay put and take no share of the step.
        let pinned = |g: f64, l: f64| (l <= 0.0 && g <= 0.0) || (l >= violation_cost && g >= 0.0);
        let norm: f64 = subgradient
            .iter()
            .zip(&lambda)
            .map(|(g, l)| if pinned(*g, *l) { 0.0 } else { g * g })
            .sum();
        if std::env::var_os("RESTOCK_SOLVER_LOG").is_some() {
            let best = feasible.as_ref().map_or(f64::NAN, |f| f.0);
            eprintln!(
                "  λ step {iterations}: L {bound:.1} best L {best_bound:.1} plan {best:.1} θ {theta}"
            );
        }
        if closed || norm <= 1e-18 || theta < MIN_STEP {
            break None;
        }
        let step = theta * (target - bound).max(1e-6 * target.abs()) / norm;
        for ((l, g), s) in lambda.iter_mut().zip(&subgradient).zip(&scale) {
            *l = (*l + step * g / s).clamp(0.0, violation_cost);
        }
    };
    PriceSearch {
        terms,
        limits,
        bound: best_bound,
        prices: best_prices,
        at_best,
        feasible,
        near_best,
        iterations,
        stopped,
    }
}

/// Whole cases: search the prices, then offer the SKUs' own plans at prices around the best
/// (each SKU's alternatives along the family of plans that are optimal at some price) to the
/// greedy that fits them together.
pub(super) fn solve(
    model: &GroupModel,
    items: &[&Prepared],
    order_cost: f64,
    violation_cost: f64,
    limits: Limits,
) -> Relaxation {
    let search = search_prices(
        model,
        items,
        Orders::WholeCases,
        order_cost,
        violation_cost,
        limits,
        0,
    );
    let cases =
        |plans: Vec<SkuAt>| -> Vec<Vec<f64>> { plans.into_iter().map(|s| s.cases).collect() };
    let mut family = vec![cases(search.at_best)];
    let factors: &[f64] = if search.limits.is_empty() {
        &[]
    } else {
        &PRICE_FACTORS
    };
    for factor in factors {
        let prices: Vec<f64> = search.prices.iter().map(|l| l * factor).collect();
        let (solved, _, _) = plans_at(
            items,
            &search.terms,
            &prices,
            &search.limits,
            Orders::WholeCases,
            order_cost,
            violation_cost,
        );
        family.push(cases(solved));
    }
    // The greedy starts from the SKUs' plans at the best prices, repaired to the limits (on the
    // 10,000-SKU benchmark it ends 0.03 % above the bound).
    let mut plans = vec![family[0].clone()];
    plans.extend(search.feasible.map(|f| cases(f.1)));
    Relaxation {
        plans,
        family,
        bound: search.bound,
        prices: search.prices,
        iterations: search.iterations,
        stopped: search.stopped,
    }
}
