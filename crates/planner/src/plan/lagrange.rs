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

use super::{GroupModel, Prepared, simulate};

/// Stock above this counts as carried into the next week (else the week ran out).
const EPS: f64 = 1e-9;

/// The subgradient loop stops once the step has been halved this far without a better bound:
/// the bound has settled (on the benchmark's 10,000 SKUs, within 0.001 % of its final value).
const MIN_STEP: f64 = 1.0 / 64.0;

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
    /// Whether it stopped at the time limit (else the gap closed or the step size vanished).
    pub timed_out: bool,
}

/// Whole-case orders by order week for one SKU minimising its controllable cost (holding, lost
/// margin, safety-stock shortfall, excess over max stock, fixed order costs) plus
/// `order_price[s]` per case ordered in week `s` and `stock_price[t]` per unit in stock at the end
/// of week `t`. Returns the cases and that minimum.
///
/// Exact dynamic program over the weeks. Stock is simulated under lost sales (what the LP's
/// columns take once orders are fixed, see `complete`), so the state entering week `u` is the
/// last week `j` that ran out of stock (or none) and the cases `k` that arrived since: stock =
/// (on hand if none) + arrivals − demand since `j` + pack · k. Cases since the last stock-out are
/// capped by the model's own bound on one order (enough for all demand, the floor and an MOQ). The
/// choice of `n` cases arriving in week `u` only matters through `k + n`, so the best
/// `n ≥ the minimum order` for every `k` comes from one suffix minimum: O(weeks² · cases).
pub(super) fn best_orders(
    p: &Prepared,
    order_price: &[f64],
    stock_price: &[f64],
    order_cost: f64,
    violation_cost: f64,
) -> (Vec<f64>, f64) {
    let t_len = p.d.len();
    let order_weeks = t_len.saturating_sub(p.lead);
    let k_max = (p.order_cap() / p.pack).round() as usize;
    let min_cases = ((p.moq / p.pack).ceil() as usize).max(1);
    // With y units available before week t's demand.
    let week_cost = |t: usize, y: f64| -> f64 {
        let inv = (y - p.d[t]).max(0.0);
        p.week_cost(t, inv, (p.d[t] - y).max(0.0), stock_price[t])
            + over_cost(p, inv, violation_cost)
    };
    // prefix[u] = Σ_{t<u} (arrivals − demand)
    let mut prefix = vec![0.0; t_len + 1];
    for t in 0..t_len {
        prefix[t + 1] = prefix[t] + p.arrivals[t] - p.d[t];
    }
    // Stock entering week u in state (j + 1 = ji, k = 0).
    let base = |u: usize, ji: usize| {
        if ji == 0 {
            p.on_hand + prefix[u]
        } else {
            prefix[u] - prefix[ji]
        }
    };
    let width = k_max + 1;
    // After a stock-out in week ji − 1, cases beyond what the rest of the horizon can use are
    // never worth ordering: the same bound as k_max, on the remaining demand.
    let caps: Vec<usize> = (0..=t_len)
        .map(|ji| {
            if ji == 0 {
                return k_max;
            }
            let rest: f64 = p.d[ji.min(t_len)..].iter().sum::<f64>() + p.floor + p.moq + p.pack;
            ((rest / p.pack).ceil() as usize).min(k_max)
        })
        .collect();
    // Decisions per week u: (u + 1) × width cases arriving, row ji, column k.
    let mut choice: Vec<Vec<u32>> = Vec::with_capacity(t_len);
    let mut next = vec![0.0; (t_len + 1) * width]; // V_{u+1}, rows ji = 0..=u+1
    let mut value = vec![0.0; (t_len + 1) * width];
    let mut g = vec![0.0; width];
    let mut suffix = vec![(f64::INFINITY, 0usize); width + 1];
    for u in (0..t_len).rev() {
        let mut pick = vec![0u32; (u + 1) * width];
        let ordering = u >= p.lead && u - p.lead < order_weeks;
        let a = if ordering {
            order_price[u - p.lead]
        } else {
            0.0
        };
        let last = u + 1 == t_len;
        let stock_out_value = if last { 0.0 } else { next[(u + 1) * width] };
        for ji in 0..=u {
            let x0 = base(u, ji);
            let top = caps[ji];
            // G(k') = week cost + what follows + a k', for stock x0 + pack k' before demand.
            for (kk, gk) in g.iter_mut().enumerate().take(top + 1) {
                let y = x0 + p.arrivals[u] + p.pack * kk as f64;
                let follow = if last {
                    0.0
                } else if y - p.d[u] > EPS {
                    next[ji * width + kk]
                } else {
                    stock_out_value
                };
                *gk = week_cost(u, y) + follow + a * kk as f64;
            }
            suffix[top + 1] = (f64::INFINITY, top + 1);
            for kk in (0..=top).rev() {
                suffix[kk] = if g[kk] <= suffix[kk + 1].0 {
                    (g[kk], kk)
                } else {
                    suffix[kk + 1]
                };
            }
            for k in 0..width {
                let v = &mut value[ji * width + k];
                if k > top || x0 + p.pack * (k as f64) < -1e-6 {
                    *v = f64::INFINITY; // not a reachable or useful state
                    continue;
                }
                let mut best = (g[k], k);
                if ordering && k + min_cases <= top {
                    let (gs, ks) = suffix[k + min_cases];
                    if gs + order_cost < best.0 {
                        best = (gs + order_cost, ks);
                    }
                }
                *v = best.0 - a * k as f64;
                pick[ji * width + k] = (best.1 - k) as u32;
            }
        }
        choice.push(pick);
        std::mem::swap(&mut next, &mut value);
    }
    choice.reverse();
    let total = next[0];
    let mut cases = vec![0.0; order_weeks];
    let (mut ji, mut k) = (0usize, 0usize);
    for (u, pick) in choice.iter().enumerate() {
        let n = pick[ji * width + k] as usize;
        if n > 0 {
            cases[u - p.lead] = n as f64;
        }
        let y = base(u, ji) + p.arrivals[u] + p.pack * (k + n) as f64;
        if y - p.d[u] > EPS {
            k += n;
        } else {
            ji = u + 1;
            k = 0;
        }
    }
    (cases, total)
}

/// Where a unit of a week's stock comes from, in [`lp_orders`]' decomposition of the week.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    /// Carried from the week before.
    Carried,
    /// Ordered (arriving this week).
    Ordered,
    /// Demand left unmet (the LP's lost-sales column adds it back to the balance).
    Unmet,
}

/// A linear piece of a convex piecewise-linear function: `len` units at `slope` each.
#[derive(Debug, Clone, Copy)]
struct Piece {
    len: f64,
    slope: f64,
    from: Source,
}

/// Insert `piece` into pieces sorted by slope (the infimal convolution of two convex functions
/// takes their pieces in order of slope).
fn insert(pieces: &mut Vec<Piece>, piece: Piece) {
    if piece.len > 0.0 {
        let at = pieces.partition_point(|q| q.slope <= piece.slope);
        pieces.insert(at, piece);
    }
}

/// One SKU's LP relaxation solved exactly: the continuous plan.
#[derive(Debug, Clone)]
pub(super) struct LpOrders {
    /// Units ordered by order week.
    pub units: Vec<f64>,
    /// End-of-week stock.
    pub inv: Vec<f64>,
    /// Lost demand by week.
    pub unmet: Vec<f64>,
    /// The minimum: the SKU's LP cost plus its orders and stock at the given prices.
    pub priced: f64,
}

/// The LP relaxation of one SKU's problem (its columns and rows in the joint model, no shared
/// rows), with `order_price[s]` per case ordered in week `s` and `stock_price[t]` per unit in
/// stock at the end of week `t`, solved exactly without an LP solver.
///
/// Relaxed, an order is any quantity up to the model's cap; the MOQ drops out and the fixed cost
/// becomes `order_cost / cap` per unit (the on/off column at its least, `q / cap`). What is left
/// is a convex-cost flow along the weeks: the least cost of weeks `0..=t` as a function of the
/// stock at the end of week `t`, `F_t`, is convex and piecewise linear, and
///
/// ```text
/// F_t(I) = f_t(I) + min { F_{t−1}(I') + a q + m u : I = I' + q + u + arrivals_t − d_t, I ≥ 0 }
/// ```
///
/// with `f_t` the week's holding, safety-shortfall and over-max cost (convex in `I`), `q` the
/// order arriving (at its price `a`, up to the cap) and `u ≤ d_t` unmet demand (at the lost
/// margin `m`; the LP may leave demand unmet while holding stock). The minimum over `I'`, `q`,
/// `u` is an infimal convolution: the pieces of `F_{t−1}`, the order and the unmet demand merged
/// by slope. Each week adds at most four pieces, so one SKU takes O(weeks²) steps, and the
/// merged pieces tell, for the optimal stock, how much of it was carried, ordered or left
/// unmet.
pub(super) fn lp_orders(
    p: &Prepared,
    order_price: &[f64],
    stock_price: &[f64],
    order_cost: f64,
    violation_cost: f64,
) -> LpOrders {
    let t_len = p.d.len();
    let order_weeks = t_len.saturating_sub(p.lead);
    let cap = p.order_cap();
    let margin = p.lost_margin();
    // F_{t−1}: defined from `lo` (value `at_lo`) over `pieces`, by increasing slope.
    let (mut lo, mut at_lo) = (p.on_hand, 0.0);
    let mut pieces: Vec<Piece> = Vec::new();
    // Per week: where F_{t−1} started, and the merged pieces (before the stock ≥ 0 cut).
    let mut merged: Vec<(f64, Vec<Piece>)> = Vec::with_capacity(t_len);
    for t in 0..t_len {
        let mut g: Vec<Piece> = pieces
            .iter()
            .map(|q| Piece {
                from: Source::Carried,
                ..*q
            })
            .collect();
        if t >= p.lead && t - p.lead < order_weeks {
            let slope = order_cost / cap + order_price[t - p.lead] / p.pack;
            insert(
                &mut g,
                Piece {
                    len: cap,
                    slope,
                    from: Source::Ordered,
                },
            );
        }
        insert(
            &mut g,
            Piece {
                len: p.d[t],
                slope: margin,
                from: Source::Unmet,
            },
        );
        let prev_lo = lo;
        lo += p.arrivals[t] - p.d[t];
        // Stock cannot be negative: the first −lo units of the merged pieces are forced.
        let mut forced = (-lo).max(0.0);
        lo = lo.max(0.0);
        let mut kept = Vec::with_capacity(g.len() + 2);
        for q in &g {
            let take = forced.min(q.len);
            at_lo += q.slope * take;
            forced -= take;
            if q.len - take > 0.0 {
                kept.push(Piece {
                    len: q.len - take,
                    ..*q
                });
            }
        }
        // Add f_t: slope w, minus the safety cost below the floor, plus the violation cost above
        // max stock; split the pieces at those kinks.
        let w = p.holding + stock_price[t];
        let floor = if t >= p.lead && p.floor > 0.0 {
            p.floor
        } else {
            0.0
        };
        let max = p.max_stock.unwrap_or(f64::INFINITY);
        let slope_at = |x: f64| {
            w - if x < floor { p.safety_cost } else { 0.0 }
                + if x > max { violation_cost } else { 0.0 }
        };
        at_lo +=
            w * lo + p.safety_cost * (floor - lo).max(0.0) + violation_cost * (lo - max).max(0.0);
        pieces.clear();
        let mut x = lo;
        for q in kept {
            let end = x + q.len;
            let mut from = x;
            for kink in [floor.min(max), floor.max(max)] {
                if kink > from && kink < end {
                    pieces.push(Piece {
                        len: kink - from,
                        slope: q.slope + slope_at(0.5 * (from + kink)),
                        from: q.from,
                    });
                    from = kink;
                }
            }
            pieces.push(Piece {
                len: end - from,
                slope: q.slope + slope_at(0.5 * (from + end)),
                from: q.from,
            });
            x = end;
        }
        merged.push((prev_lo, g));
    }
    // The best end stock: every piece of negative slope.
    let mut priced = at_lo;
    let mut stock = lo;
    for q in pieces.iter().take_while(|q| q.slope < 0.0) {
        priced += q.slope * q.len;
        stock += q.len;
    }
    // Back through the weeks: the end stock of week t, less arrivals − demand, is split over
    // the merged pieces in order of slope.
    let mut units = vec![0.0; order_weeks];
    let mut inv = vec![0.0; t_len];
    let mut unmet = vec![0.0; t_len];
    for t in (0..t_len).rev() {
        inv[t] = stock.max(0.0);
        let (prev_lo, g) = &merged[t];
        let mut rest = (stock - (p.arrivals[t] - p.d[t]) - prev_lo).max(0.0);
        let mut carried = 0.0;
        for q in g {
            let take = rest.min(q.len);
            rest -= take;
            match q.from {
                Source::Carried => carried += take,
                Source::Ordered => units[t - p.lead] = take,
                Source::Unmet => unmet[t] = take,
            }
        }
        stock = prev_lo + carried;
    }
    LpOrders {
        units,
        inv,
        unmet,
        priced,
    }
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

/// The penalty for `inv` units in stock above max stock (a model column, not part of `sku_cost`).
fn over_cost(p: &Prepared, inv: f64, violation_cost: f64) -> f64 {
    p.max_stock
        .map_or(0.0, |max| violation_cost * (inv - max).max(0.0))
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
    /// Whether it stopped at the time limit (else the gap closed or the step size vanished).
    pub timed_out: bool,
}

/// Plans are collected at prices whose bound is within this share of the best one.
const NEAR_BEST: f64 = 1e-3;

/// Maximise L(λ) by projected subgradient steps, keeping the best plan seen. Stops at `gap`
/// (relative, plan against bound), after `seconds`, or when the step size has shrunk to nothing.
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
    gap: f64,
    seconds: f64,
    collect: usize,
) -> PriceSearch {
    let started = Instant::now();
    let terms = terms(model);
    let limits: Vec<f64> = model.shared.iter().map(|sr| sr.limit).collect();
    let rows = limits.len();
    // Steps are taken in units of each limit (λ_k · limit_k, violation / limit_k), so that a
    // budget in currency and a capacity in cubic metres move at comparable rates.
    let scale: Vec<f64> = limits.iter().map(|b| b.abs().max(1.0)).collect();
    // A row over its limit whatever is ordered (stock already on hand or arriving takes more of
    // a warehouse than it has) has a positive subgradient at every λ, so its best price is the
    // slack's, the cap: start it there rather than climb to it.
    let mut least = vec![0.0; rows];
    for (p, ts) in items.iter().zip(&terms) {
        if ts.iter().any(|t| matches!(t.what, Use::Stock(_))) {
            let (inv, _) = simulate(p, &vec![0.0; p.d.len()]);
            for t in ts {
                if let Use::Stock(w) = t.what {
                    least[t.row] += t.coef * inv[w];
                }
            }
        }
    }
    let mut lambda: Vec<f64> = least
        .iter()
        .zip(&limits)
        .map(|(l, b)| {
            if *l > b + 1e-9 * b.abs().max(1.0) {
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
    let timed_out = loop {
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
            .is_some_and(|f| f.0 - best_bound <= gap * f.0.abs().max(1e-9));
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
        let out_of_time = started.elapsed().as_secs_f64() > seconds;
        if closed || norm <= 1e-18 || theta < MIN_STEP || out_of_time {
            break out_of_time;
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
        timed_out,
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
    gap: f64,
    seconds: f64,
) -> Relaxation {
    let search = search_prices(
        model,
        items,
        Orders::WholeCases,
        order_cost,
        violation_cost,
        gap,
        seconds,
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
        timed_out: search.timed_out,
    }
}

#[cfg(test)]
mod tests {
    use super::super::stock_cost;
    use super::*;

    fn sku(d: Vec<f64>, lead: usize, pack: f64, moq: f64, on_hand: f64) -> Prepared {
        let t = d.len();
        Prepared {
            arrivals: vec![0.0; t],
            d,
            on_hand,
            lead,
            pack,
            moq,
            cost: 10.0,
            holding: 0.2,
            shortage: 25.0,
            safety_cost: 1.0,
            safety_stock: 3.0,
            floor: 3.0,
            max_stock: Some(60.0),
            volume: 0.1,
            supplier: "s".into(),
        }
    }

    /// A plan's own cost (stock simulated) plus its orders and stock at the given prices.
    fn priced_cost(p: &Prepared, cases: &[f64], order: &[f64], stock: &[f64], k: f64) -> f64 {
        let units: Vec<f64> = cases.iter().map(|n| n * p.pack).collect();
        let (inv, unmet) = simulate(p, &units);
        stock_cost(p, cases, &inv, &unmet, k)
            + inv.iter().map(|&v| over_cost(p, v, 1e4)).sum::<f64>()
            + cases.iter().zip(order).map(|(n, a)| n * a).sum::<f64>()
            + inv.iter().zip(stock).map(|(v, b)| v * b).sum::<f64>()
    }

    /// Every plan of up to `top` cases per order week, simulated: the exhaustive minimum.
    fn brute(p: &Prepared, order_price: &[f64], stock_price: &[f64], k: f64, top: usize) -> f64 {
        let weeks = p.d.len() - p.lead;
        let mut best = f64::INFINITY;
        let mut plan = vec![0usize; weeks];
        loop {
            let cases: Vec<f64> = plan.iter().map(|&n| n as f64).collect();
            let valid = cases.iter().all(|&n| n == 0.0 || n * p.pack >= p.moq);
            if valid {
                best = best.min(priced_cost(p, &cases, order_price, stock_price, k));
            }
            let mut i = 0;
            while i < weeks && plan[i] == top {
                plan[i] = 0;
                i += 1;
            }
            if i == weeks {
                return best;
            }
            plan[i] += 1;
        }
    }

    #[test]
    fn continuous_dynamic_program_matches_the_lp() {
        use crate::config::{PlanConfig, SolverKind};
        let v = 1e4;
        // (demand, lead, pack, moq, on hand, fixed cost, arrivals in week 1, floor, max stock)
        let cases = [
            (
                vec![4.0, 6.5, 3.0, 8.0, 5.0],
                1,
                4.0,
                0.0,
                2.0,
                0.0,
                0.0,
                3.0,
                Some(60.0),
            ),
            (
                vec![4.0, 6.5, 3.0, 8.0, 5.0],
                2,
                6.0,
                12.0,
                0.0,
                7.0,
                5.0,
                3.0,
                Some(9.0),
            ),
            (
                vec![0.5, 0.0, 2.5, 1.0, 0.3],
                0,
                12.0,
                0.0,
                1.0,
                3.0,
                0.0,
                0.0,
                None,
            ),
            (
                vec![10.0, 12.0, 9.0, 11.0, 14.0],
                1,
                5.0,
                20.0,
                30.0,
                5.0,
                0.0,
                12.0,
                Some(20.0),
            ),
            // max stock below the floor, and a stock that starts above max
            (
                vec![3.0, 3.0, 3.0, 3.0, 3.0, 3.0],
                0,
                1.0,
                0.0,
                15.0,
                0.0,
                4.0,
                8.0,
                Some(6.0),
            ),
            (vec![0.0; 4], 1, 2.0, 0.0, 0.0, 1.0, 0.0, 2.0, Some(5.0)),
        ];
        let prices = [
            (vec![0.0; 6], vec![0.0; 6]),
            (
                vec![3.0, 0.5, 8.0, 0.0, 1.0, 2.0],
                vec![0.0, 0.4, 0.0, 2.0, 0.1, 0.0],
            ),
            (
                vec![0.0, 90.0, 0.0, 0.0, 0.0, 0.0],
                vec![0.0, 0.0, 0.0, 0.0, 0.0, 40.0],
            ),
        ];
        for (d, lead, pack, moq, on_hand, fixed, arriving, floor, max_stock) in cases {
            let mut p = sku(d, lead, pack, moq, on_hand);
            p.arrivals[1] = arriving;
            p.floor = floor;
            p.max_stock = max_stock;
            for margin_above_cost in [true, false] {
                p.shortage = if margin_above_cost { 25.0 } else { 8.0 };
                for (order_price, stock_price) in &prices {
                    let weeks = p.d.len();
                    let mut cfg = PlanConfig::default();
                    cfg.horizon.weeks = weeks;
                    cfg.defaults.order_cost = fixed;
                    cfg.solver.integer = false;
                    let mut model = super::super::build_group(&[&p], &cfg, v);
                    let c = &model.cols[0];
                    for (s, &n) in c.cases.iter().enumerate() {
                        model.lp.cols[n].cost += order_price[s];
                    }
                    for (t, &i) in c.inv.iter().enumerate() {
                        model.lp.cols[i].cost += stock_price[t];
                    }
                    let lp = model.lp.solve(SolverKind::Highs, 60.0, 0.0, false).unwrap();
                    let dp = lp_orders(&p, order_price, stock_price, fixed, v);
                    let tol = 1e-7 * lp.objective.abs().max(1.0);
                    assert!(
                        (dp.priced - lp.objective).abs() < tol,
                        "dp {} vs LP {} for {p:?} at {order_price:?} {stock_price:?}",
                        dp.priced,
                        lp.objective
                    );
                    // Its columns are a plan of the LP that costs what it says.
                    let cap = p.order_cap();
                    let mut prev = p.on_hand;
                    let mut cost = 0.0;
                    for t in 0..weeks {
                        let q = if t >= p.lead {
                            dp.units[t - p.lead]
                        } else {
                            0.0
                        };
                        assert!((0.0..=cap + 1e-9).contains(&q));
                        assert!(dp.inv[t] >= 0.0 && dp.unmet[t] <= p.d[t] + 1e-9);
                        let balance = prev + p.arrivals[t] + q - p.d[t] + dp.unmet[t];
                        assert!((balance - dp.inv[t]).abs() < 1e-9, "week {t}: {dp:?}");
                        prev = dp.inv[t];
                        cost += p.week_cost(t, dp.inv[t], dp.unmet[t], stock_price[t])
                            + over_cost(&p, dp.inv[t], v)
                            + q * (fixed / cap
                                + order_price
                                    .get(t.wrapping_sub(p.lead))
                                    .map_or(0.0, |a| a / p.pack));
                    }
                    assert!((cost - dp.priced).abs() < tol, "{cost} vs {}", dp.priced);
                }
            }
        }
    }

    #[test]
    fn dynamic_program_matches_enumeration() {
        let cases = [
            (vec![4.0, 6.5, 3.0, 8.0, 5.0], 1, 4.0, 0.0, 2.0, 0.0),
            (vec![4.0, 6.5, 3.0, 8.0, 5.0], 2, 6.0, 12.0, 0.0, 0.0),
            (vec![0.5, 0.0, 2.5, 1.0, 0.3], 0, 12.0, 0.0, 1.0, 3.0),
            (vec![10.0, 12.0, 9.0, 11.0, 14.0], 1, 5.0, 20.0, 30.0, 5.0),
        ];
        let prices = [
            (vec![0.0; 5], vec![0.0; 5]),
            (vec![3.0, 0.5, 8.0, 0.0, 1.0], vec![0.0, 0.4, 0.0, 2.0, 0.1]),
        ];
        for (d, lead, pack, moq, on_hand, fixed) in cases {
            let mut p = sku(d, lead, pack, moq, on_hand);
            for (order_price, stock_price) in &prices {
                for max_stock in [Some(12.0), None] {
                    p.max_stock = max_stock;
                    let (plan, dp) = best_orders(&p, order_price, stock_price, fixed, 1e4);
                    let exhaustive = brute(&p, order_price, stock_price, fixed, 8);
                    assert!(
                        (dp - exhaustive).abs() < 1e-6,
                        "{dp} vs {exhaustive} for {p:?}"
                    );
                    // The plan it returns costs what it says.
                    let c = priced_cost(&p, &plan, order_price, stock_price, fixed);
                    assert!((c - dp).abs() < 1e-6, "plan {plan:?} costs {c}, dp {dp}");
                }
            }
        }
    }
}
