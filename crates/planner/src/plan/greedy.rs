//! The greedy that repairs a whole-case plan into its limits and then fills it, move by move.

use std::collections::BinaryHeap;

use super::model::{GroupModel, SkuCols};
use super::sku::{Prepared, simulate, sku_cost};

/// Improve a whole-case plan `x` (every column set, see `complete`). First, while a shared limit
/// is exceeded, take cases off where that costs least per unit of relief ([`Greedy::repair`]).
/// Then fill: moves of one case up or down (an MOQ's worth from or to zero) or to one of the
/// SKU's `alternatives` (its plans at other prices), ranked by the SKU's own saving per unit of
/// the limits they take up at `prices`, best first, each kept only if every shared row it adds
/// to stays within its limit (stock simulated under lost sales), until no move helps
/// ([`Greedy::fill`]). Returns the plan's case and switch columns and stock; the rest follow
/// from `complete`.
pub(super) fn improve_within_limits(
    model: &GroupModel,
    items: &[&Prepared],
    x: &[f64],
    prices: &[f64],
    order_cost: f64,
    alternatives: &[Vec<Vec<f64>>],
) -> Vec<f64> {
    let mut g = Greedy::new(model, items, x, prices, order_cost, alternatives);
    g.repair();
    g.fill();
    g.out
}

/// The greedy's model, prices and current plan.
struct Greedy<'a> {
    model: &'a GroupModel,
    items: &'a [&'a Prepared],
    prices: &'a [f64],
    order_cost: f64,
    alternatives: &'a [Vec<Vec<f64>>],
    /// The shared rows each column is in, (row, coefficient), by column: compressed rows, the
    /// column `i`'s from `start[i]` to `start[i + 1]` in `entries`.
    start: Vec<usize>,
    entries: Vec<(usize, f64)>,
    /// Every column of the current plan.
    out: Vec<f64>,
    /// Cases by order week, per SKU.
    orders: Vec<Vec<f64>>,
    /// Each shared row's use.
    usage: Vec<f64>,
    /// Each SKU's cost.
    cost: Vec<f64>,
    /// Each SKU's plan version: a move priced against an older one is stale.
    version: Vec<u32>,
}

impl<'a> Greedy<'a> {
    fn new(
        model: &'a GroupModel,
        items: &'a [&'a Prepared],
        x: &[f64],
        prices: &'a [f64],
        order_cost: f64,
        alternatives: &'a [Vec<Vec<f64>>],
    ) -> Self {
        let lp = &model.lp;
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
        let orders: Vec<Vec<f64>> = model
            .cols
            .iter()
            .map(|c| c.cases.iter().map(|&n| x[n].round()).collect())
            .collect();
        let out = x.to_vec();
        let usage = model.shared.iter().map(|sr| sr.used(lp, &out)).collect();
        let cost = items
            .iter()
            .zip(&orders)
            .map(|(p, o)| sku_cost(p, o, order_cost))
            .collect();
        Greedy {
            model,
            items,
            prices,
            order_cost,
            alternatives,
            start,
            entries,
            out,
            orders,
            usage,
            cost,
            version: vec![0; items.len()],
        }
    }

    fn rows_of(&self, i: usize) -> &[(usize, f64)] {
        &self.entries[self.start[i]..self.start[i + 1]]
    }

    /// Column values of SKU `j` for a case plan: (column, value) pairs of cases, switches and
    /// stock.
    fn columns_of(&self, j: usize, cases: &[f64]) -> Vec<(usize, f64)> {
        let (p, c): (&Prepared, &SkuCols) = (self.items[j], &self.model.cols[j]);
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
    }

    /// Apply a replacement plan for SKU `j` if every row it adds to stays within its limit.
    fn try_plan(&mut self, j: usize, cases: Vec<f64>) -> bool {
        let cols = self.columns_of(j, &cases);
        let mut trial = self.usage.clone();
        for (i, v) in &cols {
            let dv = v - self.out[*i];
            for (k, a) in self.rows_of(*i) {
                trial[*k] += a * dv;
            }
        }
        let fits = self
            .model
            .shared
            .iter()
            .enumerate()
            .all(|(k, sr)| !(trial[k] > self.usage[k] + 1e-9 && trial[k] > sr.limit + 1e-9));
        if fits {
            self.usage = trial;
            for (i, v) in cols {
                self.out[i] = v;
            }
            self.orders[j] = cases;
        }
        fits
    }

    /// A move's worth: the SKU's own saving per unit of the limits it takes up, valued at the
    /// prices (the multipliers: the classic greedy for several shared knapsack rows); moves
    /// that take up nothing priced come first.
    fn worth(&self, j: usize, cases: &[f64]) -> f64 {
        let saving = self.cost[j] - sku_cost(self.items[j], cases, self.order_cost);
        if saving <= 1e-9 {
            return 0.0;
        }
        let mut taken = 0.0;
        for (i, v) in self.columns_of(j, cases) {
            let dv = v - self.out[i];
            if dv != 0.0 {
                taken += self
                    .rows_of(i)
                    .iter()
                    .map(|(k, a)| self.prices[*k] * (a * dv).max(0.0))
                    .sum::<f64>();
            }
        }
        saving / taken.max(1e-9 * saving)
    }

    /// How far each shared row is over its limit, relative to the limit.
    fn excess(&self) -> Vec<f64> {
        self.model
            .shared
            .iter()
            .zip(&self.usage)
            .map(|(sr, u)| (u - sr.limit).max(0.0) / sr.limit.abs().max(1.0))
            .collect()
    }

    /// SKU `j`'s orders with one case off in week `s` (none left below its MOQ).
    fn one_case_off(&self, j: usize, s: usize) -> Vec<f64> {
        let p = self.items[j];
        let mut down = self.orders[j].clone();
        down[s] -= 1.0;
        if down[s] > 0.0 && down[s] * p.pack < p.moq {
            down[s] = 0.0;
        }
        down
    }

    /// SKU `j`'s repairs: one case off an order that relieves an exceeded row (`over`), keyed by
    /// the extra cost per unit of relief (least first out of the heap).
    fn repairs_of(&self, j: usize, over: &[f64]) -> Vec<Move> {
        let p = self.items[j];
        let mut moves = Vec::new();
        for s in 0..self.orders[j].len() {
            if self.orders[j][s] == 0.0 {
                continue;
            }
            let down = self.one_case_off(j, s);
            let mut relief = 0.0;
            for (i, v) in self.columns_of(j, &down) {
                let dv = v - self.out[i];
                for (k, a) in self.rows_of(i) {
                    if over[*k] > 0.0 {
                        relief += (-a * dv).max(0.0) / self.model.shared[*k].limit.abs().max(1.0);
                    }
                }
            }
            if relief > 0.0 {
                let extra = sku_cost(p, &down, self.order_cost) - self.cost[j];
                moves.push(Move::new(-(extra / relief), j, self.version[j], down));
            }
        }
        moves
    }

    /// SKU `j`'s fill moves: one case up (an MOQ's worth from zero) or down in each week, or
    /// one of its alternative plans, keyed by [`Greedy::worth`].
    fn moves_of(&self, j: usize) -> Vec<Move> {
        let p = self.items[j];
        let min_cases = (p.moq / p.pack).ceil().max(1.0);
        let mut moves = Vec::new();
        for s in 0..self.orders[j].len() {
            let mut up = self.orders[j].clone();
            up[s] += if up[s] == 0.0 { min_cases } else { 1.0 };
            let mut options = vec![up];
            if self.orders[j][s] > 0.0 {
                options.push(self.one_case_off(j, s));
            }
            if s == 0 {
                options.extend(
                    self.alternatives
                        .iter()
                        .map(|a| a[j].clone())
                        .filter(|a| *a != self.orders[j]),
                );
            }
            for plan in options {
                let gain = self.worth(j, &plan);
                if gain > 1e-9 {
                    moves.push(Move::new(gain, j, self.version[j], plan));
                }
            }
        }
        moves
    }

    /// Apply move `m` if it is current and fits; true when applied.
    fn apply(&mut self, m: Move) -> bool {
        if m.version != self.version[m.sku] {
            return false; // priced against the SKU's previous plan
        }
        let j = m.sku;
        let new_cost = sku_cost(self.items[j], &m.plan, self.order_cost);
        if self.try_plan(j, m.plan) {
            self.cost[j] = new_cost;
            self.version[j] += 1;
            true
        } else {
            false
        }
    }

    /// While a limit is exceeded, take one case off where that costs least per unit of relief.
    /// The moves of every SKU wait in a heap, cheapest relief first; a SKU's moves are priced
    /// again when it changes (older ones are skipped by its version). Taking cases off never
    /// adds to a row, so a current move always applies.
    fn repair(&mut self) {
        let over = self.excess();
        if over.iter().all(|v| *v <= 1e-12) {
            return;
        }
        let mut heap: BinaryHeap<Move> = (0..self.items.len())
            .flat_map(|j| self.repairs_of(j, &over))
            .collect();
        while let Some(m) = heap.pop() {
            if self.excess().iter().all(|v| *v <= 1e-12) {
                break;
            }
            let j = m.sku;
            if self.apply(m) {
                let over = self.excess();
                heap.extend(self.repairs_of(j, &over));
            }
        }
    }

    /// Fill: the moves of every SKU once; after each move only the SKU that changed is priced
    /// again (the others' moves keep their gains, and may fit later).
    fn fill(&mut self) {
        let mut heap: BinaryHeap<Move> = (0..self.items.len())
            .flat_map(|j| self.moves_of(j))
            .collect();
        while let Some(m) = heap.pop() {
            let j = m.sku;
            if self.apply(m) {
                heap.extend(self.moves_of(j));
            }
        }
    }
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
