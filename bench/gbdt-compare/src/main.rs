//! Fits PerpetualBooster (pure Rust) on the rows `restock calibrate --export-tree-rows DIR`
//! wrote: the very rows restock's LightGBM trees were fitted, validated and tested on, with the
//! same objective (Tweedie, the run's power) and weights (the square root of each SKU's level).
//! Prints one line per learner: fit seconds, and on the validation and test rows the weighted
//! Tweedie deviance, the WAPE and the bias of the predicted mean.
//!
//! Usage: gbdt-compare DIR [BUDGET ...]   (budgets default to 0.5 and 1.0)

use std::path::{Path, PathBuf};
use std::time::Instant;

use perpetual::objective::Objective;
use perpetual::{Matrix, PerpetualBooster};

type Res<T> = Result<T, String>;

fn main() {
    if let Err(e) = run() {
        eprintln!("gbdt-compare: {e}");
        std::process::exit(1);
    }
}

fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: gbdt-compare DIR [BUDGET ...]")?);
    let mut budgets: Vec<f32> = args
        .map(|a| a.parse().map_err(|e| format!("budget {a}: {e}")))
        .collect::<Res<_>>()?;
    if budgets.is_empty() {
        budgets = vec![0.5, 1.0];
    }
    let meta_path = dir.join("meta.json");
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&meta_path)
            .map_err(|e| format!("{}: {e}", meta_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", meta_path.display()))?;
    let n = meta["features"]
        .as_array()
        .ok_or("meta.json: no features")?
        .len();
    let p = meta["tweedie_variance_power"]
        .as_f64()
        .ok_or("meta.json: no tweedie_variance_power")?;
    let threads = meta["threads"].as_u64().unwrap_or(0) as usize;
    let train = Set::read(&dir, "train", n)?;
    let valid = Set::read(&dir, "valid", n)?;
    let test = Set::read(&dir, "test", n)?;
    println!(
        "rows: train {}, valid {}, test {}; {n} features; Tweedie power {p}; {} threads",
        train.rows(),
        valid.rows(),
        test.rows(),
        if threads == 0 {
            "all".to_string()
        } else {
            threads.to_string()
        }
    );
    println!(
        "{:<28} {:>9} {:>7} {:>10} {:>8} {:>8} {:>10} {:>8} {:>8}",
        "learner", "fit s", "trees", "valid dev", "WAPE", "bias", "test dev", "WAPE", "bias"
    );
    let lightgbm = |set: &str| read_f32(&dir.join(format!("lightgbm.{set}.f32")));
    let (lv, lt) = (lightgbm("valid")?, lightgbm("test")?);
    let lv: Vec<f64> = lv.iter().map(|v| f64::from(*v)).collect();
    let lt: Vec<f64> = lt.iter().map(|v| f64::from(*v)).collect();
    print_line(
        &format!(
            "lightgbm (C++, {} rounds)",
            meta["lightgbm"]["rounds"].as_u64().unwrap_or(0)
        ),
        meta["lightgbm"]["seconds"].as_f64().unwrap_or(f64::NAN),
        meta["lightgbm"]["rounds"].as_u64().unwrap_or(0) as usize,
        (&valid, &lv),
        (&test, &lt),
        p,
    );
    let columns = train.column_major(n);
    let weight = train.weight();
    let label: Vec<f64> = train.label.iter().map(|v| f64::from(*v)).collect();
    for budget in budgets {
        let mut booster = PerpetualBooster::default()
            .set_objective(Objective::TweedieLoss { p: Some(p) })
            .set_budget(budget)
            .set_num_threads((threads > 0).then_some(threads))
            .set_seed(7);
        let started = Instant::now();
        let x = Matrix::new(&columns, train.rows(), n);
        booster
            .fit(&x, &label, Some(&weight), None)
            .map_err(|e| format!("perpetual: {e}"))?;
        let seconds = started.elapsed().as_secs_f64();
        let predict = |set: &Set| -> Vec<f64> {
            let c = set.column_major(n);
            let m = Matrix::new(&c, set.rows(), n);
            booster.predict(&m, true).iter().map(|r| r.exp()).collect()
        };
        let (pv, pt) = (predict(&valid), predict(&test));
        print_line(
            &format!("perpetual (Rust, budget {budget})"),
            seconds,
            booster.get_prediction_trees().len(),
            (&valid, &pv),
            (&test, &pt),
            p,
        );
    }
    Ok(())
}

/// Rows of one set: features (row-major), label (demand ÷ level), level.
struct Set {
    x: Vec<f32>,
    label: Vec<f32>,
    level: Vec<f32>,
}

impl Set {
    fn read(dir: &Path, name: &str, n: usize) -> Res<Set> {
        let set = Set {
            x: read_f32(&dir.join(format!("{name}.x.f32")))?,
            label: read_f32(&dir.join(format!("{name}.label.f32")))?,
            level: read_f32(&dir.join(format!("{name}.level.f32")))?,
        };
        if set.x.len() != set.label.len() * n || set.level.len() != set.label.len() {
            return Err(format!(
                "{name}: {} values for {} rows of {n} features and {} levels",
                set.x.len(),
                set.label.len(),
                set.level.len()
            ));
        }
        Ok(set)
    }

    fn rows(&self) -> usize {
        self.label.len()
    }

    fn weight(&self) -> Vec<f64> {
        self.level.iter().map(|l| f64::from(*l).sqrt()).collect()
    }

    fn column_major(&self, n: usize) -> Vec<f64> {
        let rows = self.rows();
        let mut out = vec![0.0; rows * n];
        for r in 0..rows {
            for c in 0..n {
                out[c * rows + r] = f64::from(self.x[r * n + c]);
            }
        }
        out
    }
}

fn read_f32(path: &Path) -> Res<Vec<f32>> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() % 4 != 0 {
        return Err(format!("{}: not a whole number of f32", path.display()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Weighted Tweedie deviance (as restock's trees choose their round), WAPE and bias of the
/// mean in units (prediction and label × level).
fn scores(set: &Set, mu: &[f64], p: f64) -> (f64, f64, f64) {
    let (mut dev, mut w_sum, mut abs, mut diff, mut total) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for i in 0..set.rows() {
        let (y, m, l) = (
            f64::from(set.label[i]),
            mu[i].max(1e-12),
            f64::from(set.level[i]),
        );
        let w = l.sqrt();
        dev += w
            * 2.0
            * (y.powf(2.0 - p) / ((1.0 - p) * (2.0 - p)) - y * m.powf(1.0 - p) / (1.0 - p)
                + m.powf(2.0 - p) / (2.0 - p));
        w_sum += w;
        abs += ((m - y) * l).abs();
        diff += (m - y) * l;
        total += y * l;
    }
    (dev / w_sum, abs / total, diff / total)
}

fn print_line(
    name: &str,
    seconds: f64,
    trees: usize,
    valid: (&Set, &[f64]),
    test: (&Set, &[f64]),
    p: f64,
) {
    let (vd, vw, vb) = scores(valid.0, valid.1, p);
    let (td, tw, tb) = scores(test.0, test.1, p);
    println!(
        "{name:<28} {seconds:>9.1} {trees:>7} {vd:>10.4} {vw:>8.4} {vb:>8.3} {td:>10.4} {tw:>8.4} {tb:>8.3}"
    );
}
