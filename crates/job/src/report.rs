//! The cycle's report, `report.html`: the decision first — this week's orders, largest first,
//! with their reasons; the SKUs at risk; what changed since last week — then the analysis:
//! accuracy and service over the cycles, and how the plan was solved.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use restock_core::Week;
use restock_planner::PlanSummary;

use crate::alerts::{Alert, OVERSTOCK, STOCKOUT_RISK};
use crate::feedback::{HistoryRow, MOVING_AVERAGE};
use crate::model::ModelUpdate;

/// Rows of a table shown before the rest is left to the CSV.
const SHOWN: usize = 50;

/// An order line as the report shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct OrderRow {
    pub(crate) unique_id: String,
    pub(crate) order_week: Week,
    pub(crate) arrival_week: Week,
    pub(crate) quantity: f64,
    pub(crate) cases: f64,
    pub(crate) cost: f64,
    pub(crate) reason: String,
}

/// What the previous cycle decided, to say what changed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Previous {
    pub(crate) week: Option<Week>,
    /// Units to order now, per SKU.
    pub(crate) orders_now: HashMap<String, f64>,
    /// SKUs at risk of a stock-out.
    pub(crate) risks: BTreeSet<String>,
}

/// Everything the report shows.
pub(crate) struct CycleReport<'a> {
    pub(crate) week: Week,
    pub(crate) orders: &'a [OrderRow],
    pub(crate) alerts: &'a [Alert],
    pub(crate) update: &'a ModelUpdate,
    pub(crate) previous: &'a Previous,
    /// The history rows of every cycle so far, this one's included.
    pub(crate) history: &'a [HistoryRow],
    /// The plan summary of each shard (one without sharding).
    pub(crate) summaries: &'a [PlanSummary],
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr>\n");
    for r in rows {
        out.push_str("<tr>");
        for c in r {
            let _ = write!(out, "<td>{}</td>", esc(c));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

impl CycleReport<'_> {
    /// The report as one HTML page.
    pub(crate) fn html(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>restock: week of {w}</title>\
             <style>body{{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}}\
             table{{border-collapse:collapse;margin:.5em 0 1.5em}}td,th{{border:1px solid #ccc;\
             padding:.2em .5em;text-align:left}}th{{background:#f3f3f3}}.note{{color:#555}}</style>\
             </head><body><h1>restock: the week of {w}</h1>",
            w = self.week
        );
        self.orders_section(&mut out);
        self.alerts_section(&mut out);
        self.changes_section(&mut out);
        self.history_section(&mut out);
        self.plan_section(&mut out);
        out.push_str("</body></html>\n");
        out
    }

    fn orders_now(&self) -> Vec<&OrderRow> {
        let mut now: Vec<&OrderRow> = self
            .orders
            .iter()
            .filter(|o| o.order_week == self.week)
            .collect();
        now.sort_by(|a, b| {
            b.cost
                .total_cmp(&a.cost)
                .then_with(|| a.unique_id.cmp(&b.unique_id))
        });
        now
    }

    fn orders_section(&self, out: &mut String) {
        let now = self.orders_now();
        let cost: f64 = now.iter().map(|o| o.cost).sum();
        let later = self.orders.len() - now.len();
        let _ = writeln!(
            out,
            "<h2>Orders to place this week</h2><p>{} order lines, {:.0} units, cost {:.2}; \
             {later} more lines are planned for later weeks (orders.csv).</p>",
            now.len(),
            now.iter().map(|o| o.quantity).sum::<f64>(),
            cost
        );
        let rows: Vec<Vec<String>> = now
            .iter()
            .take(SHOWN)
            .map(|o| {
                vec![
                    o.unique_id.clone(),
                    format!("{:.0}", o.quantity),
                    format!("{:.0}", o.cases),
                    format!("{:.2}", o.cost),
                    o.arrival_week.to_string(),
                    o.reason.replace('_', " "),
                ]
            })
            .collect();
        table(
            out,
            &["SKU", "units", "cases", "cost", "arrives", "why"],
            &rows,
        );
        if now.len() > SHOWN {
            let _ = writeln!(
                out,
                "<p class=note>{} smaller lines in orders.csv.</p>",
                now.len() - SHOWN
            );
        }
    }

    fn alerts_section(&self, out: &mut String) {
        for (kind, title) in [
            (
                STOCKOUT_RISK,
                "SKUs at risk of a stock-out before an order placed now arrives",
            ),
            (OVERSTOCK, "Overstocked SKUs"),
        ] {
            let of_kind: Vec<&Alert> = self.alerts.iter().filter(|a| a.alert == kind).collect();
            let _ = writeln!(out, "<h2>{title}: {}</h2>", of_kind.len());
            let rows: Vec<Vec<String>> = of_kind
                .iter()
                .take(SHOWN)
                .map(|a| vec![a.unique_id.clone(), a.reason.clone()])
                .collect();
            if !rows.is_empty() {
                table(out, &["SKU", "why"], &rows);
            }
        }
    }

    fn changes_section(&self, out: &mut String) {
        out.push_str("<h2>What changed since last week</h2><ul>\n");
        let u = self.update;
        let served = if u.served.is_empty() {
            String::new()
        } else {
            format!(
                "; serving {}{}",
                esc(&u.served),
                u.trees_rounds
                    .map(|r| format!(" (trees refitted: {r} rounds)"))
                    .unwrap_or_default()
            )
        };
        let _ = writeln!(
            out,
            "<li>Model: {} ({}); validation loss on the latest weeks {:.4}{}{served}.</li>",
            u.mode.replace('_', "-"),
            esc(&u.reason),
            u.valid_loss,
            u.base_loss
                .map(|b| format!(", last cycle's model {b:.4}"))
                .unwrap_or_default()
        );
        let Some(prev) = self.previous.week else {
            out.push_str("<li>The first cycle: nothing to compare with.</li></ul>\n");
            return;
        };
        let now: BTreeMap<&str, f64> = self
            .orders_now()
            .iter()
            .map(|o| (o.unique_id.as_str(), o.quantity))
            .collect();
        let new: Vec<&str> = now
            .keys()
            .filter(|id| !self.previous.orders_now.contains_key(**id))
            .copied()
            .collect();
        let mut gone: Vec<&str> = self
            .previous
            .orders_now
            .keys()
            .filter(|id| !now.contains_key(id.as_str()))
            .map(String::as_str)
            .collect();
        gone.sort_unstable();
        let list = |ids: &[&str]| {
            let shown: Vec<&str> = ids.iter().take(20).copied().collect();
            let more = ids.len().saturating_sub(20);
            format!(
                "{}{}",
                esc(&shown.join(", ")),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        };
        let _ = writeln!(
            out,
            "<li>Orders to place: {} lines (the week of {prev}: {}); {} SKUs ordered now and not \
             then: {}; {} ordered then and not now: {}.</li>",
            now.len(),
            self.previous.orders_now.len(),
            new.len(),
            list(&new),
            gone.len(),
            list(&gone)
        );
        let risks: BTreeSet<&str> = self
            .alerts
            .iter()
            .filter(|a| a.alert == STOCKOUT_RISK)
            .map(|a| a.unique_id.as_str())
            .collect();
        let new_risks: Vec<&str> = risks
            .iter()
            .filter(|id| !self.previous.risks.contains(**id))
            .copied()
            .collect();
        let cleared: Vec<&str> = self
            .previous
            .risks
            .iter()
            .filter(|id| !risks.contains(id.as_str()))
            .map(String::as_str)
            .collect();
        let _ = writeln!(
            out,
            "<li>Stock-out risks: {} new ({}), {} cleared ({}).</li>",
            new_risks.len(),
            list(&new_risks),
            cleared.len(),
            list(&cleared)
        );
        let this: Vec<&HistoryRow> = self
            .history
            .iter()
            .filter(|r| r.cycle == self.week.to_string() && r.class == "all")
            .collect();
        let get = |scored: &str, kind: &str, model: &str, metric: &str| {
            this.iter()
                .find(|r| {
                    r.scored_cycle == scored
                        && r.kind == kind
                        && r.model == model
                        && r.metric == metric
                })
                .map(|r| r.value)
        };
        let prev_s = prev.to_string();
        if let (Some(wape), Some(bias)) = (
            get(&prev_s, "accuracy", "all", "wape"),
            get(&prev_s, "accuracy", "all", "bias"),
        ) {
            let rule = get(&prev_s, "accuracy", MOVING_AVERAGE, "wape")
                .map(|m| format!(" (a 4-week moving average: {m:.3})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<li>Last week's forecasts on the weeks since: WAPE {wape:.3}{rule}, bias \
                 {bias:+.3}.</li>"
            );
        }
        if let (Some(fill), Some(out_skus)) = (
            get(&prev_s, "service", "restock", "fill_rate"),
            get(&prev_s, "service", "restock", "stockout_skus"),
        ) {
            // Cycles recorded before it was measured have no cycle service.
            let cycle = get(&prev_s, "service", "restock", "cycle_service")
                .map(|c| format!(", cycle service {c:.3} (weeks with demand served in full)"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<li>Last week's stock and orders against what sold: fill rate {fill:.3}{cycle}, \
                 {out_skus:.0} SKUs ran out.</li>"
            );
        }
        out.push_str("</ul>\n");
    }

    fn history_section(&self, out: &mut String) {
        out.push_str(
            "<h2>Accuracy and service over the cycles</h2><p class=note>Each cycle's forecasts \
             scored on the weeks that have happened since (latest scoring; all models and \
             classes), beside the rule of thumb on the same SKU-weeks (the mean of the 4 weeks \
             before the cycle), and each cycle's stock and orders replayed on the demand of the \
             week after it. Per model and ABC class in history.csv.</p>\n",
        );
        // The latest scoring of each scored cycle.
        let mut latest: BTreeMap<(&str, &str, &str), (&str, f64)> = BTreeMap::new();
        for r in self.history.iter().filter(|r| {
            r.class == "all" && ["all", "restock", MOVING_AVERAGE].contains(&r.model.as_str())
        }) {
            let kind = if r.model == MOVING_AVERAGE {
                MOVING_AVERAGE
            } else {
                r.kind.as_str()
            };
            let key = (r.scored_cycle.as_str(), kind, r.metric.as_str());
            if latest.get(&key).is_none_or(|(c, _)| *c <= r.cycle.as_str()) {
                latest.insert(key, (r.cycle.as_str(), r.value));
            }
        }
        let cycles: BTreeSet<&str> = latest.keys().map(|k| k.0).collect();
        let cell = |c: &str, kind: &str, metric: &str, digits: usize| {
            latest
                .get(&(c, kind, metric))
                .map(|(_, v)| format!("{v:.digits$}"))
                .unwrap_or_default()
        };
        let rows: Vec<Vec<String>> = cycles
            .iter()
            .rev()
            .map(|c| {
                vec![
                    (*c).to_string(),
                    cell(c, "accuracy", "sku_weeks", 0),
                    cell(c, "accuracy", "wape", 3),
                    cell(c, MOVING_AVERAGE, "wape", 3),
                    format!(
                        "{} / {}",
                        cell(c, "accuracy", "bias", 3),
                        cell(c, "accuracy", "bias_mean", 3)
                    ),
                    cell(c, MOVING_AVERAGE, "bias", 3),
                    cell(c, "accuracy", "coverage", 3),
                    cell(c, "service", "fill_rate", 3),
                    cell(c, "service", "stockout_skus", 0),
                    cell(c, "service", "overstock_skus", 0),
                ]
            })
            .collect();
        if rows.is_empty() {
            out.push_str("<p>No earlier cycle to score yet.</p>\n");
        } else {
            table(
                out,
                &[
                    "cycle",
                    "SKU-weeks scored",
                    "WAPE",
                    "WAPE of a 4-week moving average",
                    "bias of the median / of the mean",
                    "its bias",
                    "coverage",
                    "fill rate",
                    "SKUs out of stock",
                    "SKUs overstocked",
                ],
                &rows,
            );
        }
    }

    fn plan_section(&self, out: &mut String) {
        out.push_str("<h2>The plan</h2>\n");
        let shards = self.summaries.len();
        for (i, s) in self.summaries.iter().enumerate() {
            let c = &s.costs;
            let part = if shards > 1 {
                format!("Shard {i} of {shards}: ")
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<p>{part}{} SKUs over {} weeks: {} order lines, {:.0} units; solved by {} ({}, {} \
                 model(s)). Costs: purchase {:.0}, holding {:.0}, shortage {:.0}, fixed {:.0}, \
                 below safety stock {:.0}, violations {:.0}. Order-up-to levels: {} at {}.</p>",
                s.skus,
                s.weeks.len(),
                s.order_lines,
                s.units_ordered,
                esc(&s.how_solved()),
                s.status,
                s.models,
                c.purchase,
                c.holding,
                c.shortage,
                c.fixed_order,
                c.safety_shortfall,
                c.constraint_violation,
                esc(&s.protection),
                esc(&format!(
                    "{}{}",
                    s.service_method.replace('_', " "),
                    if s.lost_sales_levels {
                        " (lost-sales levels)"
                    } else {
                        ""
                    }
                ))
            );
            let rows: Vec<Vec<String>> = s
                .constraints
                .iter()
                .take(SHOWN)
                .map(|k| {
                    vec![
                        k.name.clone(),
                        k.week.to_string(),
                        format!("{:.1}", k.used),
                        format!("{:.1}", k.limit),
                        format!("{:.1}", k.reserve),
                        format!("{:.1}", k.violated_by),
                    ]
                })
                .collect();
            if !rows.is_empty() {
                table(
                    out,
                    &[
                        "binding limit",
                        "week",
                        "used",
                        "limit",
                        "kept back",
                        "violated by",
                    ],
                    &rows,
                );
            }
        }
    }
}
