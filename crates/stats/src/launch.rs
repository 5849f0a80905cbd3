//! Cold starts: a new SKU forecast from the launch profiles of similar SKUs.
//!
//! A SKU with a few weeks of sales has too little history for the network or any statistical
//! model; the forecast job serves it the 4-week moving average of its first weeks.
//! [`LaunchCurves`] is the alternative the issue of cold starts asks to measure: per peer group
//! (the whole catalogue, and each value of each static attribute: `cat_id=FOODS`,
//! `store_id=CA_1`, …), the mean *profile* of the SKUs launched in the data, each launch's demand
//! by age (weeks since its first sale) over its own mean, so that every launch weighs the same
//! whatever its volume. A SKU launched in the data is one whose first sale is after the data's
//! first week.
//!
//! A new SKU with `k` weeks of sales takes the profile p of its peer group with the most
//! launches (at least [`MIN_LAUNCHES`]; else the catalogue's), at its own level
//! ℓ = Σ_{a<k} y_a / Σ_{a<k} p_a: its forecast at age a is ℓ · p_a (the profile's last age
//! beyond it).
//!
//! Measured on M5 (`restock backtest --cold-start-split`, docs/benchmarks.md) it does not beat
//! the moving average at ages 1–8, so the forecast job does not use it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Launches a peer group needs to be used.
pub const MIN_LAUNCHES: usize = 10;

/// One peer group's launch profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Curve {
    /// Mean demand by age in weeks since the first sale, each launch over its own mean.
    pub mean: Vec<f64>,
    /// SKUs launched in the group.
    pub launches: usize,
}

/// Launch curves by peer group (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchCurves {
    /// The static attributes, in the order SKUs give their values.
    pub statics: Vec<String>,
    /// `all`, and `<attribute>=<value>` for every value seen.
    pub groups: BTreeMap<String, Curve>,
}

impl LaunchCurves {
    /// Fit curves of `ages` weeks from `launches`: each a launched SKU's demand from its first
    /// sale and its static values (in the order of `statics`). `None` without enough launches
    /// for even the catalogue's curve.
    pub fn fit<'a>(
        statics: &[String],
        launches: impl IntoIterator<Item = (&'a [f64], &'a [String])>,
        ages: usize,
    ) -> Option<Self> {
        // Per group: sums and counts by age, and launches.
        let mut acc: BTreeMap<String, (Vec<f64>, Vec<usize>, usize)> = BTreeMap::new();
        for (y, values) in launches {
            // Only whole profiles: a launch seen for fewer weeks, normalised by the mean of its
            // first weeks alone, would bias the early ages.
            if y.len() < ages {
                continue;
            }
            let y = &y[..ages];
            // The SKU's profile: its demand by age over its own mean, so that every launch
            // weighs the same whatever its volume.
            let mean = y.iter().sum::<f64>() / y.len().max(1) as f64;
            if mean <= 0.0 {
                continue;
            }
            let mut keys = vec!["all".to_string()];
            keys.extend(statics.iter().zip(values).map(|(s, v)| format!("{s}={v}")));
            for key in keys {
                let e = acc
                    .entry(key)
                    .or_insert_with(|| (vec![0.0; ages], vec![0; ages], 0));
                for (a, v) in y.iter().enumerate() {
                    e.0[a] += v / mean;
                    e.1[a] += 1;
                }
                e.2 += 1;
            }
        }
        let groups: BTreeMap<String, Curve> = acc
            .into_iter()
            .filter(|(_, (_, _, n))| *n >= MIN_LAUNCHES)
            .map(|(k, (sum, count, n))| {
                // Ages no launch reached yet repeat the last known mean.
                let mut mean = Vec::with_capacity(ages);
                let mut last = 0.0;
                for (s, c) in sum.iter().zip(&count) {
                    if *c > 0 {
                        last = s / *c as f64;
                    }
                    mean.push(last);
                }
                (k, Curve { mean, launches: n })
            })
            .collect();
        groups.contains_key("all").then(|| LaunchCurves {
            statics: statics.to_vec(),
            groups,
        })
    }

    /// The peer group of a SKU with static `values`: the one with the most launches among its
    /// attribute values, else the catalogue's; `None` for curves without the catalogue's (which
    /// [`LaunchCurves::fit`] always keeps, but a hand-written file may lack).
    pub fn group_of(&self, values: &[String]) -> Option<(&str, &Curve)> {
        self.statics
            .iter()
            .zip(values)
            .filter_map(|(s, v)| {
                let key = format!("{s}={v}");
                self.groups.get_key_value(&key)
            })
            .max_by_key(|(_, c)| c.launches)
            .or_else(|| self.groups.get_key_value("all"))
            .map(|(k, c)| (k.as_str(), c))
    }

    /// Mean forecasts of the next `weeks` weeks for a SKU whose demand since its first sale is
    /// `y`, with static `values`; `None` without a peer group (see [`LaunchCurves::group_of`]).
    pub fn means(&self, y: &[f64], values: &[String], weeks: usize) -> Option<Vec<f64>> {
        let (_, curve) = self.group_of(values)?;
        let c = |a: usize| {
            curve
                .mean
                .get(a)
                .or(curve.mean.last())
                .copied()
                .unwrap_or(0.0)
        };
        let k = y.len();
        // The SKU's level: its sales over what the profile expects of its first weeks.
        let seen: f64 = (0..k).map(c).sum();
        let ratio = if seen > 0.0 {
            y.iter().sum::<f64>() / seen
        } else {
            0.0
        };
        Some((k..k + weeks).map(|a| ratio * c(a)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        v.to_string()
    }

    #[test]
    fn a_cold_start_sku_gets_its_groups_shape() {
        // Ramps (1, 2, 4, 8, 8, 1) in FOODS, fades (8, 4, 2, 1, 1, 8) in HOBBIES, 12 launches
        // each; each profile is the demand over its mean 4.
        let ramp: Vec<f64> = vec![1.0, 2.0, 4.0, 8.0, 8.0, 1.0];
        let fade: Vec<f64> = vec![8.0, 4.0, 2.0, 1.0, 1.0, 8.0];
        let foods = vec![s("FOODS")];
        let hobbies = vec![s("HOBBIES")];
        let mut launches: Vec<(&[f64], &[String])> = Vec::new();
        for _ in 0..12 {
            launches.push((&ramp, &foods));
            launches.push((&fade, &hobbies));
        }
        let c = LaunchCurves::fit(&[s("cat_id")], launches, 6).unwrap();
        assert_eq!(c.groups["all"].launches, 24);
        assert_eq!(c.group_of(&foods).unwrap().0, "cat_id=FOODS");
        assert_eq!(
            c.groups["cat_id=FOODS"].mean,
            vec![0.25, 0.5, 1.0, 2.0, 2.0, 0.25]
        );
        // A FOODS SKU ten times the group's volume follows the ramp at its own level.
        assert_eq!(
            c.means(&[10.0, 20.0], &foods, 3).unwrap(),
            vec![40.0, 80.0, 80.0]
        );
        // The same first weeks in HOBBIES: the fade's shape, at the level they imply.
        let h = c.means(&[10.0, 20.0], &hobbies, 2).unwrap();
        let level = 30.0 / (2.0 + 1.0);
        assert_eq!(h, vec![0.5 * level, 0.25 * level]);
        // An unknown category takes the catalogue's profile; ages past the profile its last.
        let all = &c.groups["all"].mean;
        let m = c.means(&[4.0], &[s("TOYS")], 8).unwrap();
        assert!((m[7] - 4.0 / all[0] * all[5]).abs() < 1e-12);
        // Too few launches: no curves.
        let few: Vec<(&[f64], &[String])> = vec![(&ramp, &foods); MIN_LAUNCHES - 1];
        assert!(LaunchCurves::fit(&[s("cat_id")], few, 6).is_none());
    }
}
