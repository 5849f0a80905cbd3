//! How a run serves its network's SKUs, chosen on its validation windows: the network alone, or
//! the simple mean of its quantiles and statistical forecasters' (`infer::Network::combine_with`).
//!
//! Each candidate is scored on every validation window (the weeks between `train_end` and the
//! test weeks; the recorded plan given) by the scaled pinball loss summed over the quantile
//! levels, Σ_levels Σ ρ_τ(y − q_τ) / Σ y, a proper score for the whole distribution; the least
//! wins and is written to `serving.json`, which the forecast job, backtests and simulations read
//! as the run's default. The statistical members are fitted on each window's history only. The
//! network's quantiles are calibrated on these same windows, which favours the network alone a
//! little: a member has to earn its place.
//!
//! Earning it means more than the least score: another candidate replaces the reference only
//! when its gain over it is larger than [`SIGNIFICANCE`] standard errors of that gain, measured
//! on the same windows (a paired comparison, as a Diebold–Mariano test would make it): Breiman's
//! one-standard-error rule. The reference is the network alone, or, in a run with trees, the
//! equal-weight mean of the network and the trees ([`reference()`]): two different kinds of
//! model, whose simple mean is the kind of combination that is hard to beat (the "forecast
//! combination puzzle"; the M4 and M5 leaders were combinations). On the test weeks of M5 and
//! Online Retail, two seeds each, that mean beat the network alone every time (by 0.003 to
//! 0.010 WAPE), while the validation weeks' one-standard-error rule kept M5 on the network
//! alone (docs/benchmarks.md, session 13). An ensemble's members
//! cost most of a forecast job's time (fitting AutoARIMA and AutoETS per SKU), so a gain within
//! the noise of one validation origin keeps the network alone. Two standard errors were tried
//! first: on M5 they discarded a gain (1.7 standard errors) that held on the test weeks and in
//! the replayed money (docs/benchmarks.md, "Session 8").

use rayon::prelude::*;
use restock_core::{Horizon, Quantiles};
use restock_stats::{Baseline, SeriesScore};
use restock_trees::Plan;
use serde::{Deserialize, Serialize};

use crate::calibrate::calibrated_quantiles;
use crate::evaluate::fitted_quantiles;
use crate::prepare::Prepared;
use crate::weights::load_best;
use crate::{Error, Result, RunDir};

/// The candidates, by their statistical members.
pub const CANDIDATES: [&[&str]; 5] = [
    &[],
    &["tsb"],
    &["tsb", "auto_ets"],
    &["auto_arima"],
    &["tsb", "auto_ets", "auto_arima"],
];

/// The candidates a run with trees adds: the trees with the network, alone and with the best
/// statistical members (their model name is [`restock_trees::MODEL_NAME`]); then
/// [`TREES_ALONE`].
pub const TREE_CANDIDATES: [&[&str]; 3] = [
    &[restock_trees::MODEL_NAME],
    &[restock_trees::MODEL_NAME, "tsb"],
    &[restock_trees::MODEL_NAME, "auto_arima"],
];

/// The last candidate of a run with trees: the trees alone, without the network (a catalogue
/// where the trees are far ahead would lose half their lead in a mean with the network).
pub const TREES_ALONE: &[&str] = &[restock_trees::MODEL_NAME];

/// Standard errors by which a candidate's validation gain over the [`reference()`] must exceed
/// zero for it to be served (the one-standard-error rule; about 16 % of chance gains pass).
pub const SIGNIFICANCE: f64 = 1.0;

/// One candidate's validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    /// Its members besides the network (none: the network alone).
    pub combine: Vec<String>,
    /// Whether the network is in the mean (false: the members alone; absent in runs chosen
    /// before there was a choice: true).
    #[serde(default = "yes")]
    pub network: bool,
    /// Scaled pinball loss summed over the levels.
    pub pinball: f64,
    /// WAPE of its median.
    pub wape: f64,
    /// Standard error of its pinball's difference from the reference's (paired over the
    /// windows; 0 for the reference; absent in runs chosen before it was recorded).
    #[serde(default)]
    pub gain_se: f64,
}

/// How a choice reads: `network`, `network+tsb`, `lightgbm alone`.
fn describe(combine: &[String], network: bool) -> String {
    match (network, combine.is_empty()) {
        (true, true) => "network".to_string(),
        (true, false) => format!("network+{}", combine.join("+")),
        (false, _) => format!("{} alone", combine.join("+")),
    }
}

impl CandidateScore {
    /// Its name: `network`, `network+<members>` or `<members> alone`.
    pub fn name(&self) -> String {
        describe(&self.combine, self.network)
    }

    /// Whether its gain over the reference (`reference_pinball`) is significant.
    pub fn beats(&self, reference_pinball: f64) -> bool {
        reference_pinball - self.pinball > SIGNIFICANCE * self.gain_se
    }
}

fn yes() -> bool {
    true
}

/// The run's serving choice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    /// The chosen members (none: the network alone).
    pub combine: Vec<String>,
    /// Whether the network is in the mean (false: the members alone, the trees).
    #[serde(default = "yes")]
    pub network: bool,
    /// Validation windows scored.
    pub windows: usize,
    /// The candidate the others had to beat, an index into `candidates` ([`reference()`]; 0, the
    /// network alone, in runs chosen before).
    #[serde(default)]
    pub reference: usize,
    /// Every candidate's score, in [`CANDIDATES`] order, then [`TREE_CANDIDATES`] for a run
    /// with trees.
    pub candidates: Vec<CandidateScore>,
}

impl Serving {
    /// What it serves: `network`, `network+<members>` or `<members> alone`.
    pub fn name(&self) -> String {
        describe(&self.combine, self.network)
    }
}

/// The index of the reference among a run's candidates: the mean of the network and the trees
/// (the first of [`TREE_CANDIDATES`]) in a run with trees, else the network alone.
pub fn reference(has_trees: bool) -> usize {
    if has_trees { CANDIDATES.len() } else { 0 }
}

/// The candidates of a run, with (`has_trees`) or without trees: each as its members besides
/// the network and whether the network is in the mean.
fn candidates_of(has_trees: bool) -> Vec<(&'static [&'static str], bool)> {
    let mut candidates: Vec<(&[&str], bool)> = CANDIDATES.iter().map(|&c| (c, true)).collect();
    if has_trees {
        candidates.extend(TREE_CANDIDATES.iter().map(|&c| (c, true)));
        candidates.push((TREES_ALONE, false));
    }
    candidates
}

/// The candidates of a run, the members they draw on (each fitted once per window: the
/// statistical baselines sorted by name, then the trees), each candidate's members as positions
/// among them, and the reference the others must beat.
struct Lineup {
    candidates: Vec<(&'static [&'static str], bool)>,
    baselines: Vec<Baseline>,
    of_candidate: Vec<Vec<usize>>,
    reference: usize,
}

impl Lineup {
    fn new(has_trees: bool) -> Result<Self> {
        let candidates = candidates_of(has_trees);
        let mut names: Vec<&str> = candidates
            .iter()
            .flat_map(|c| c.0.iter().copied())
            .filter(|n| *n != restock_trees::MODEL_NAME)
            .collect();
        names.sort_unstable();
        names.dedup();
        let baselines = names
            .iter()
            .map(|n| Baseline::parse(n).map_err(|e| Error::Evaluation(e.to_string())))
            .collect::<Result<_>>()?;
        names.push(restock_trees::MODEL_NAME);
        let of_candidate = candidates
            .iter()
            .map(|c| {
                c.0.iter()
                    .filter_map(|m| names.iter().position(|n| n == m))
                    .collect()
            })
            .collect();
        Ok(Lineup {
            candidates,
            baselines,
            of_candidate,
            reference: reference(has_trees),
        })
    }
}

/// The candidates' running scores over the validation windows.
struct Tally {
    /// Per candidate: Σ pinball over the levels.
    pinball: Vec<f64>,
    /// Per candidate: Σ |error of the median|.
    abs_error: Vec<f64>,
    /// Per candidate: Σ d and Σ d² of its per-window pinball minus the reference's.
    diff: Vec<(f64, f64)>,
    /// Σ y.
    actual_sum: f64,
    /// Windows scored.
    windows: usize,
}

impl Tally {
    fn new(candidates: usize) -> Self {
        Tally {
            pinball: vec![0.0; candidates],
            abs_error: vec![0.0; candidates],
            diff: vec![(0.0, 0.0); candidates],
            actual_sum: 0.0,
            windows: 0,
        }
    }

    /// Score one window: the network's quantiles `net`, the members' `fitted` ones (in the
    /// [`Lineup`]'s order), the window's `history` and `actual` weeks.
    fn add(
        &mut self,
        lineup: &Lineup,
        net: &[f64],
        fitted: &[Vec<f64>],
        (history, actual): (&[f64], &[f64]),
        levels: &[f64],
    ) -> Result<()> {
        self.actual_sum += actual.iter().sum::<f64>();
        self.windows += 1;
        let mut window = vec![0.0; lineup.candidates.len()];
        for (c, m) in lineup.of_candidate.iter().enumerate() {
            let with_network = lineup.candidates[c].1;
            let mut mean = if with_network {
                net.to_vec()
            } else {
                vec![0.0; net.len()]
            };
            for &b in m {
                mean.iter_mut().zip(&fitted[b]).for_each(|(a, v)| *a += v);
            }
            let parts = (usize::from(with_network) + m.len()) as f64;
            mean.iter_mut().for_each(|v| *v /= parts);
            let score = SeriesScore::new(history, actual, &mean, levels)
                .map_err(|e| Error::Evaluation(e.to_string()))?;
            window[c] = score.pinball.iter().sum::<f64>();
            self.pinball[c] += window[c];
            self.abs_error[c] += score.abs_error;
        }
        for (c, &p) in window.iter().enumerate() {
            let d = p - window[lineup.reference];
            self.diff[c].0 += d;
            self.diff[c].1 += d * d;
        }
        Ok(())
    }

    /// Each candidate's score, scaled by the windows' demand.
    fn scores(&self, lineup: &Lineup) -> Vec<CandidateScore> {
        lineup
            .candidates
            .iter()
            .enumerate()
            .map(|(c, (names, network))| CandidateScore {
                combine: names.iter().map(|n| n.to_string()).collect(),
                network: *network,
                pinball: self.pinball[c] / self.actual_sum,
                wape: self.abs_error[c] / self.actual_sum,
                gain_se: paired_se(self.diff[c], self.windows) / self.actual_sum,
            })
            .collect()
    }
}

/// The candidate served: the least pinball among the reference and the candidates whose gain
/// over it is significant ([`CandidateScore::beats`]); its members and whether the network is
/// in.
fn choose(candidates: &[CandidateScore], reference: usize) -> (Vec<String>, bool) {
    let reference_pinball = candidates[reference].pinball;
    candidates
        .iter()
        .enumerate()
        .filter(|(c, score)| *c == reference || score.beats(reference_pinball))
        .min_by(|a, b| a.1.pinball.total_cmp(&b.1.pinball))
        .map(|(_, c)| (c.combine.clone(), c.network))
        .unwrap_or((Vec::new(), true))
}

/// Score [`CANDIDATES`] (and [`TREE_CANDIDATES`] when the run has trees) on `prepared`'s
/// validation windows with the run's best weights and calibration, and write `serving.json`.
pub fn select_serving(run: &RunDir, prepared: &Prepared, batch: usize) -> Result<Serving> {
    let config = run.config()?;
    let model_config = run.model_config()?;
    let (model, device) = load_best(run, &config, &model_config)?;
    let calibration = run.calibration()?;
    let levels = Quantiles::new(model_config.quantiles.clone())
        .map_err(|e| Error::Evaluation(e.to_string()))?;
    let (h, k) = (model_config.horizon, levels.len());
    let horizon = Horizon::new(h).map_err(|e| Error::Evaluation(e.to_string()))?;
    let trees = run.trees()?.filter(|t| t.horizon() >= h);
    let lineup = Lineup::new(trees.is_some())?;
    let (windows, indices) = prepared.valid_windows();
    if indices.is_empty() {
        return Err(Error::Evaluation(
            "no validation windows to choose how the run serves".into(),
        ));
    }
    let mut tally = Tally::new(lineup.candidates.len());
    let mut buffer = windows.new_batch(batch.max(1));
    for chunk in indices.chunks(batch.max(1)) {
        windows.fill(chunk, &mut buffer);
        let out = calibrated_quantiles(
            &model,
            &model_config,
            &buffer,
            calibration.as_ref(),
            &device,
        )?;
        // The trees at each window's origin, with the plan the weeks recorded (as the network).
        let mut tree_out = match &trees {
            Some(t) => {
                let origins: Vec<(usize, usize)> = chunk
                    .iter()
                    .map(|&i| {
                        let (sku, e) = windows.locate(i);
                        (sku, e - 1)
                    })
                    .collect();
                t.forecast_at(&prepared.dataset, &origins, h, Plan::Recorded)?
            }
            None => Vec::new(),
        }
        .into_iter();
        // The members' fits, on all cores (each window's history alone); scored in row order.
        let fits: Vec<Vec<Vec<f64>>> = chunk
            .par_iter()
            .map(|&i| {
                let (sku, e) = windows.locate(i);
                let s = &prepared.dataset.series[sku];
                fitted_quantiles(&lineup.baselines, &s.unique_id, &s.y[..e], horizon, &levels)
            })
            .collect::<Result<_>>()?;
        for (row, (&i, mut fitted)) in chunk.iter().zip(fits).enumerate() {
            fitted.extend(tree_out.next());
            let (sku, e) = windows.locate(i);
            let s = &prepared.dataset.series[sku];
            let net: Vec<f64> = out[row * h * k..(row + 1) * h * k]
                .iter()
                .map(|&v| f64::from(v))
                .collect();
            tally.add(
                &lineup,
                &net,
                &fitted,
                (&s.y[..e], &s.y[e..e + h]),
                levels.levels(),
            )?;
        }
    }
    let scores = tally.scores(&lineup);
    let (combine, network) = choose(&scores, lineup.reference);
    let serving = Serving {
        combine,
        network,
        windows: indices.len(),
        reference: lineup.reference,
        candidates: scores,
    };
    run.write_json("serving.json", &serving)?;
    Ok(serving)
}

/// Standard error of a sum of `n` paired differences with sum and sum of squares `(s1, s2)`:
/// √(n · sample variance).
fn paired_se((s1, s2): (f64, f64), n: usize) -> f64 {
    if n < 2 {
        return f64::INFINITY;
    }
    let n = n as f64;
    let var = ((s2 - s1 * s1 / n) / (n - 1.0)).max(0.0);
    (n * var).sqrt()
}

impl RunDir {
    /// How the run serves its network's SKUs, if chosen (`serving.json`).
    pub fn serving(&self) -> Result<Option<Serving>> {
        if self.file("serving.json").exists() {
            self.read_json("serving.json").map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gain_must_clear_its_standard_error() {
        // Differences -1, -1, -1, -1 (always better): zero variance, any gain is significant.
        assert_eq!(paired_se((-4.0, 4.0), 4), 0.0);
        // -3, +1, -3, +1: mean -1, sample variance 16/3, se of the sum = sqrt(4 * 16/3).
        let se = paired_se((-4.0, 20.0), 4);
        assert!((se - (64.0f64 / 3.0).sqrt()).abs() < 1e-12, "{se}");
        let candidate = |pinball: f64, gain_se: f64| CandidateScore {
            combine: vec!["tsb".into()],
            network: true,
            pinball,
            wape: 0.0,
            gain_se,
        };
        assert!(candidate(0.95, 0.04).beats(1.0));
        assert!(!candidate(0.97, 0.04).beats(1.0));
        assert!(!candidate(1.05, 0.0).beats(1.0));
        // One window: no standard error, nothing is significant.
        assert!(paired_se((-1.0, 1.0), 1).is_infinite());
    }
}
