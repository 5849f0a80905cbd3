//! The per-SKU subproblems of the Lagrangian and of column generation, solved exactly by dynamic
//! programs: whole-case orders with on/off MOQs under lost sales ([`best_orders`]) and the SKU's
//! LP relaxation ([`lp_orders`]), each at given prices of the shared limits. They need only the
//! SKU ([`Prepared`]); the oracle tests check them against enumeration and the LP.

use super::sku::{Prepared, over_cost};

/// Stock above this counts as carried into the next week (else the week ran out).
const EPS: f64 = 1e-9;

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

#[cfg(test)]
mod tests {
    use super::super::sku::{simulate, stock_cost};
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
            shortfall: 0.0,
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
                    let mut model = super::super::model::build_group(&[&p], &cfg, v);
                    let c = &model.cols[0];
                    for (s, &n) in c.cases.iter().enumerate() {
                        model.lp.cols[n].cost += order_price[s];
                    }
                    for (t, &i) in c.inv.iter().enumerate() {
                        model.lp.cols[i].cost += stock_price[t];
                    }
                    let lp = model.lp.solve(SolverKind::Highs, 60.0, 0.0).unwrap();
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
                    // `t` indexes the week in six arrays at once.
                    #[allow(clippy::needless_range_loop)]
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
