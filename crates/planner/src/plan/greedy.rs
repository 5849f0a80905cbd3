//! The greedy that repairs a whole-case plan into its limits and then fills it, move by move.

use std::collections::BinaryHeap;

use super::model::{GroupModel, SkuCols};
use super::sku::{Prepared, simulate, sku_cost};

/// Improve a whole-case plan `x` (every column set, see `complete`). First, while a shared limit
/// is exceeded, take cases off where that costs least per unit of relief. Then fill: moves of one
/// case up or down (an MOQ's worth from or to zero) or to one of the SKU's `alternatives` (its
/// plans at other prices), ranked by the SKU's own saving per unit of the limits they take up at
/// `prices`, best first, each kept only if every shared row it adds to stays within its limit
/// (stock simulated under lost sales), until no move helps. Returns the plan's case and switch
/// columns and stock; the rest follow from `complete`.
pub(super) fn improve_within_limits(
    model: &GroupModel,
    items: &[&Prepared],
    x: &[f64],
    prices: &[f64],
    order_cost: f64,
    alternatives: &[Vec<Vec<f64>>],
) -> Vec<f64> {
    let lp = &model.lp;
    let mut out = x.to_vec();
    // The shared rows each column is in, (row, coefficient), by column: compressed rows.
    let mut start = vec![0usize; lp.cols.len() + 1];
    for sr in &model.shared {
        for (i, _) in lp.rows[sr.row].coefs.iter().filter(|(i, _)| *i != sr.slack) {
            start[*i + 1] += 1;
        }
    }
    for i in 0..lp.cols.len() {
        start[i + 1] += start[i];
    }
    let mut entries = vec![(0usize, 0.0); start[lp.cols.len()]];
    let mut fill = start.clone();
    for (k, sr) in model.shared.iter().enumerate() {
        for (i, a) in lp.rows[sr.row].coefs.iter().filter(|(i, _)| *i != sr.slack) {
            entries[fill[*i]] = (k, *a);
            fill[*i] += 1;
        }
    }
    let rows_of = |i: usize| &entries[start[i]..start[i + 1]];
    let min_cases = |p: &Prepared| (p.moq / p.pack).ceil().max(1.0);
    // Column values of one SKU for a case plan: (column, value) pairs of cases, switches and stock.
    let columns_of = |p: &Prepared, c: &SkuCols, cases: &[f64]| -> Vec<(usize, f64)> {
        let units: Vec<f64> = cases.iter().map(|k| k * p.pack).collect();
        let mut v: Vec<(usize, f64)> = Vec::with_capacity(3 * cases.len() + p.d.len());
        for (s, &n) in c.cases.iter().enumerate() {
            v.push((n, cases[s]));
            if let Some(u) = c.used[s] {
                v.push((u, if cases[s] > 0.0 { 1.0 } else { 0.0 }));
            }
        }
        v.extend(
            simulate(p, &units)
                .0
                .into_iter()
                .enumerate()
                .map(|(t, inv)| (c.inv[t], inv)),
        );
        v
    };
    let mut orders: Vec<Vec<f64>> = model
        .cols
        .iter()
        .map(|c| c.cases.iter().map(|&n| x[n].round()).collect())
        .collect();
    let mut usage: Vec<f64> = model.shared.iter().map(|sr| sr.used(lp, &out)).collect();
    // Apply a replacement plan for SKU j if every row it adds to stays within its limit.
    let try_plan = |j: usize,
                    cases: Vec<f64>,
                    out: &mut Vec<f64>,
                    usage: &mut Vec<f64>,
                    orders: &mut Vec<Vec<f64>>| {
        let (p, c) = (items[j], &model.cols[j]);
        let cols = columns_of(p, c, &cases);
        let mut trial = usage.clone();
        let mut fits = true;
        for (i, v) in &cols {
            let dv = v - out[*i];
            for (k, a) in rows_of(*i) {
                trial[*k] += a * dv;
            }
        }
        for (k, sr) in model.shared.iter().enumerate() {
            if trial[k] > usage[k] + 1e-9 && trial[k] > sr.limit + 1e-9 {
                fits = false;
            }
        }
        if fits {
            *usage = trial;
            for (i, v) in cols {
                out[i] = v;
            }
            orders[j] = cases;
        }
        fits
    };
    // A move's worth: the SKU's own saving per unit of the limits it takes up, valued at
    // `prices` (the multipliers: the classic greedy for several shared knapsack rows); moves that
    // take up nothing priced come first.
    let worth = |j: usize, cases: &[f64], out: &[f64], cost_now: f64| -> f64 {
        let (p, c) = (items[j], &model.cols[j]);
        let saving = cost_now - sku_cost(p, cases, order_cost);
        if saving <= 1e-9 {
            return 0.0;
        }
        let mut taken = 0.0;
        for (i, v) in columns_of(p, c, cases) {
            let dv = v - out[i];
            if dv != 0.0 {
                taken += rows_of(i)
                    .iter()
                    .map(|(k, a)| prices[*k] * (a * dv).max(0.0))
                    .sum::<f64>();
            }
        }
        saving / taken.max(1e-9 * saving)
    };
    let mut cost: Vec<f64> = items
        .iter()
        .zip(&orders)
        .map(|(p, o)| sku_cost(p, o, order_cost))
        .collect();
    // Repair first: while a limit is exceeded, take one case off the orders that relieve the
    // exceeded rows at the least extra cost per unit of relief (relative to each limit).
    let excess = |usage: &[f64]| -> Vec<f64> {
        model
            .shared
            .iter()
            .zip(usage)
            .map(|(sr, u)| (u - sr.limit).max(0.0) / sr.limit.abs().max(1.0))
            .collect()
    };
    // One case off per move, the moves of every SKU once; after each round only the SKUs that
    // changed are priced again.
    let repairs_of = |j: usize, orders: &[Vec<f64>], out: &[f64], over: &[f64], cost_now: f64| {
        let (p, c) = (items[j], &model.cols[j]);
        let mut moves: Vec<(f64, usize, Vec<f64>)> = Vec::new();
        for s in 0..orders[j].len() {
            if orders[j][s] == 0.0 {
                continue;
            }
            let mut down = orders[j].clone();
            down[s] -= 1.0;
            if down[s] > 0.0 && down[s] * p.pack < p.moq {
                down[s] = 0.0;
            }
            let mut relief = 0.0;
            for (i, v) in columns_of(p, c, &down) {
                let dv = v - out[i];
                for (k, a) in rows_of(i) {
                    if over[*k] > 0.0 {
                        relief += (-a * dv).max(0.0) / model.shared[*k].limit.abs().max(1.0);
                    }
                }
            }
            if relief > 0.0 {
                let extra = sku_cost(p, &down, order_cost) - cost_now;
                moves.push((extra / relief, j, down));
            }
        }
        moves
    };
    // Moves wait in a heap, cheapest relief first; a SKU's moves are priced again when it
    // changes (older ones are skipped by its version).
    let mut version = vec![0u32; items.len()];
    let over = excess(&usage);
    if over.iter().any(|v| *v > 1e-12) {
        let mut heap: BinaryHeap<Move> = (0..items.len())
            .flat_map(|j| repairs_of(j, &orders, &out, &over, cost[j]))
            .map(|(ratio, j, plan)| Move::new(-ratio, j, 0, plan))
            .collect();
        while let Some(m) = heap.pop() {
            if excess(&usage).iter().all(|v| *v <= 1e-12) {
                break;
            }
            if m.version != version[m.sku] {
                continue;
            }
            let j = m.sku;
            let new_cost = sku_cost(items[j], &m.plan, order_cost);
            // Taking cases off never adds to a row, so it always applies.
            if try_plan(j, m.plan, &mut out, &mut usage, &mut orders) {
                cost[j] = new_cost;
                version[j] += 1;
                let over = excess(&usage);
                heap.extend(
                    repairs_of(j, &orders, &out, &over, cost[j])
                        .into_iter()
                        .map(|(ratio, j, plan)| Move::new(-ratio, j, version[j], plan)),
                );
            }
        }
    }
    // Fill: the moves of every SKU once; after each round only the SKUs that changed are
    // priced again (the others' moves keep their gains, and may fit later).
    let moves_of = |j: usize, orders: &[Vec<f64>], out: &[f64], cost_now: f64| {
        let p = items[j];
        let mut moves: Vec<(f64, usize, Vec<f64>)> = Vec::new();
        for s in 0..orders[j].len() {
            let mut up = orders[j].clone();
            up[s] += if up[s] == 0.0 { min_cases(p) } else { 1.0 };
            let mut options = vec![up];
            if orders[j][s] > 0.0 {
                let mut down = orders[j].clone();
                down[s] -= 1.0;
                if down[s] > 0.0 && down[s] * p.pack < p.moq {
                    down[s] = 0.0;
                }
                options.push(down);
            }
            if s == 0 {
                options.extend(
                    alternatives
                        .iter()
                        .map(|a| a[j].clone())
                        .filter(|a| *a != orders[j]),
                );
            }
            for plan in options {
                let gain = worth(j, &plan, out, cost_now);
                if gain > 1e-9 {
                    moves.push((gain, j, plan));
                }
            }
        }
        moves
    };
    let mut heap: BinaryHeap<Move> = (0..items.len())
        .flat_map(|j| moves_of(j, &orders, &out, cost[j]))
        .map(|(worth, j, plan)| Move::new(worth, j, version[j], plan))
        .collect();
    while let Some(m) = heap.pop() {
        if m.version != version[m.sku] {
            continue; // priced against the SKU's previous plan
        }
        let j = m.sku;
        let new_cost = sku_cost(items[j], &m.plan, order_cost);
        if try_plan(j, m.plan, &mut out, &mut usage, &mut orders) {
            cost[j] = new_cost;
            version[j] += 1;
            heap.extend(
                moves_of(j, &orders, &out, cost[j])
                    .into_iter()
                    .map(|(worth, j, plan)| Move::new(worth, j, version[j], plan)),
            );
        }
    }
    out
}

/// A candidate change to one SKU's plan, ordered by its key (largest first out of a heap).
pub(super) struct Move {
    key: f64,
    sku: usize,
    /// The SKU's plan version it was priced against.
    version: u32,
    plan: Vec<f64>,
}

impl Move {
    fn new(key: f64, sku: usize, version: u32, plan: Vec<f64>) -> Self {
        Move {
            key,
            sku,
            version,
            plan,
        }
    }
}

impl PartialEq for Move {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Move {}

impl PartialOrd for Move {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Move {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Ties broken by SKU and plan, so the order (and the plan) is deterministic.
        self.key
            .total_cmp(&other.key)
            .then_with(|| other.sku.cmp(&self.sku))
            .then_with(|| {
                other
                    .plan
                    .iter()
                    .zip(&self.plan)
                    .map(|(a, b)| a.total_cmp(b))
                    .find(|o| o.is_ne())
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
    }
}
