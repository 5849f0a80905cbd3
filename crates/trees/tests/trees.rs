//! The trees on small catalogues with a known structure: a promotion that multiplies demand,
//! learned and used when the plan is given; quantiles that cover held-out weeks; a model that
//! forecasts the same after a save and a load; clear errors.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Poisson};
use restock_core::{Quantiles, Week, columns};
use restock_data::future::KnownFuture;
use restock_data::{SkuSeries, WeeklyDataset};
use restock_trees::{FitWeeks, Plan, TreeConfig, TreeModel, export_rows};

const WEEKS: usize = 160;
const LIFT: f64 = 3.0;

/// `skus` SKUs of Poisson demand around a level from 2 to 40 units a week, times [`LIFT`] in a
/// promotion week (a fifth of the weeks, at random), with a price column that drops by a third
/// in those weeks.
fn promo_catalogue(skus: usize, seed: u64) -> WeeklyDataset {
    let first = Week::containing_day(15_000);
    let last = first.offset(WEEKS as i64 - 1);
    let mut rng = StdRng::seed_from_u64(seed);
    let series = (0..skus)
        .map(|i| {
            let level = 2.0 + 38.0 * (i as f64 / skus as f64);
            let promo: Vec<f64> = (0..WEEKS)
                .map(|_| if rng.random_bool(0.2) { 1.0 } else { 0.0 })
                .collect();
            let price: Vec<f64> = promo.iter().map(|p| 9.0 * (1.0 - p / 3.0)).collect();
            let y = promo
                .iter()
                .enumerate()
                .map(|(t, p)| {
                    let mu = level * if *p > 0.0 { LIFT } else { 1.0 };
                    let v = Poisson::new(mu).expect("positive mean").sample(&mut rng);
                    if t == 0 { v.max(1.0) } else { v }
                })
                .collect();
            SkuSeries {
                unique_id: format!("S{i:03}"),
                start: first,
                y,
                covariates: vec![price, promo],
                statics: vec![format!("G{}", i % 3)],
            }
        })
        .collect();
    WeeklyDataset {
        first_week: first,
        last_week: last,
        covariates: vec![columns::PRICE.into(), columns::PROMO.into()],
        statics: vec!["group".into()],
        event_days: None,
        series,
    }
}

fn small_config() -> TreeConfig {
    TreeConfig {
        rounds: 150,
        min_data_in_leaf: 20,
        ..TreeConfig::default()
    }
}

fn fit_weeks(train_end: Week, valid_end: Week, levels: &Quantiles) -> FitWeeks<'_> {
    FitWeeks {
        train_end,
        valid_end,
        horizon: 4,
        levels,
        seed: 7,
        threads: 2,
    }
}

fn fit(ds: &WeeklyDataset, train_end: Week, valid_end: Week) -> TreeModel {
    let levels = Quantiles::default();
    let weeks = fit_weeks(train_end, valid_end, &levels);
    TreeModel::fit(ds, &weeks, &small_config()).expect("the trees fit")
}

#[test]
fn a_given_promotion_raises_the_forecast_and_an_unknown_one_is_unconditional() {
    let ds = promo_catalogue(60, 1);
    let model = fit(&ds, ds.last_week.offset(-12), ds.last_week);
    let report = &model.spec().report;
    assert!(report.rows > 1000 && report.valid_rows > 100, "{report:?}");
    assert!(
        report.valid_wape < 0.35,
        "validation WAPE {}",
        report.valid_wape
    );

    // A plan: promotion in the first forecast week only, for every SKU.
    let first = ds.last_week.offset(1);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("future.csv");
    let mut csv = String::from("unique_id,ds,price,promo\n");
    for s in &ds.series {
        for w in 0..4 {
            let promo = u8::from(w == 0);
            let price = if w == 0 { 6.0 } else { 9.0 };
            csv.push_str(&format!(
                "{},{},{price},{promo}\n",
                s.unique_id,
                first.offset(w)
            ));
        }
    }
    std::fs::write(&path, csv).expect("the plan is written");
    let plan = KnownFuture::read(&path, first, 4).expect("the plan reads");
    let skus: Vec<usize> = (0..ds.series.len()).collect();
    let given = model
        .forecast(&ds, &skus, 4, Some(&plan))
        .expect("forecasts");
    let unknown = model.forecast(&ds, &skus, 4, None).expect("forecasts");
    let median = |v: &[Vec<f64>], week: usize| -> f64 { v.iter().map(|f| f[week * 3 + 1]).sum() };
    let levels: f64 = (0..60).map(|i| 2.0 + 38.0 * (i as f64 / 60.0)).sum();
    // Promotion week: about LIFT × the level; the weeks without: about the level.
    let promo_week = median(&given, 0) / levels;
    let plain_week = median(&given, 1) / levels;
    assert!(
        promo_week > 2.4 && promo_week < 3.6,
        "promotion week {promo_week}"
    );
    assert!(
        plain_week > 0.8 && plain_week < 1.2,
        "plain week {plain_week}"
    );
    // Unknown plan: the mix of both. Its mean is 1 + 0.2 × (LIFT − 1) = 1.4 levels, never
    // "no promotion"; its median stays near the plain level (four weeks in five have none),
    // and its upper tail carries the chance of a promotion.
    let origins: Vec<(usize, usize)> = (0..ds.series.len())
        .map(|i| (i, ds.series[i].y.len() - 1))
        .collect();
    let means = model
        .means_at(&ds, &origins, 4, Plan::Unknown)
        .expect("means");
    let unconditional = means.iter().map(|m| m[1]).sum::<f64>() / levels;
    assert!(
        unconditional > 1.2 && unconditional < 1.6,
        "unknown plan's mean {unconditional} levels"
    );
    let q90 = |v: &[Vec<f64>], week: usize| -> f64 { v.iter().map(|f| f[week * 3 + 2]).sum() };
    assert!(
        q90(&unknown, 1) > 1.3 * q90(&given, 1),
        "unknown plan's q90 {} against a plain week's {}",
        q90(&unknown, 1),
        q90(&given, 1)
    );
}

#[test]
fn quantiles_do_not_cross_and_cover_held_out_weeks() {
    let ds = promo_catalogue(200, 2);
    let test_start = ds.last_week.offset(-3);
    let model = fit(&ds, ds.last_week.offset(-16), ds.last_week.offset(-4));
    // Forecast the last 4 weeks from the origin before them, with the recorded plan.
    let origins: Vec<(usize, usize)> = (0..ds.series.len())
        .map(|i| (i, ds.series[i].start.weeks_until(test_start) as usize - 1))
        .collect();
    let out = model
        .forecast_at(&ds, &origins, 4, Plan::Recorded)
        .expect("forecasts");
    let (mut below10, mut below90, mut n) = (0, 0, 0);
    for (f, &(i, o)) in out.iter().zip(&origins) {
        for h in 0..4 {
            let q = &f[h * 3..h * 3 + 3];
            assert!(q[0] <= q[1] && q[1] <= q[2], "crossing quantiles {q:?}");
            let y = ds.series[i].y[o + 1 + h];
            below10 += usize::from(y <= q[0]);
            below90 += usize::from(y <= q[2]);
            n += 1;
        }
    }
    let (c10, c90) = (below10 as f64 / n as f64, below90 as f64 / n as f64);
    assert!(c10 > 0.03 && c10 < 0.2, "share at or below q10: {c10}");
    assert!(c90 > 0.8 && c90 < 0.97, "share at or below q90: {c90}");
    // The predicted means add up to the held-out demand, within 10 %.
    let means = model
        .means_at(&ds, &origins, 4, Plan::Recorded)
        .expect("means");
    let predicted: f64 = means.iter().flatten().sum();
    let actual: f64 = origins
        .iter()
        .map(|&(i, o)| ds.series[i].y[o + 1..o + 5].iter().sum::<f64>())
        .sum();
    assert!(
        (predicted / actual - 1.0).abs() < 0.1,
        "means {predicted} against demand {actual}"
    );
}

#[test]
fn a_saved_model_forecasts_the_same_and_a_damaged_one_is_refused() {
    let ds = promo_catalogue(30, 3);
    let model = fit(&ds, ds.last_week.offset(-8), ds.last_week);
    let dir = tempfile::tempdir().expect("a temporary directory");
    model.save(dir.path()).expect("saved");
    let loaded = TreeModel::load(dir.path())
        .expect("loads")
        .expect("a model is there");
    let skus: Vec<usize> = (0..ds.series.len()).collect();
    // The same to the last bits LightGBM's text format keeps.
    let (before, after) = (
        model.forecast(&ds, &skus, 4, None).expect("forecasts"),
        loaded.forecast(&ds, &skus, 4, None).expect("forecasts"),
    );
    for (a, b) in before.iter().flatten().zip(after.iter().flatten()) {
        assert!((a - b).abs() <= 1e-9 * a.abs().max(1.0), "{a} against {b}");
    }
    assert_eq!(model.spec().layout, loaded.spec().layout);
    assert_eq!(model.spec().report.rounds, loaded.spec().report.rounds);
    assert!(
        TreeModel::load(&dir.path().join("nowhere"))
            .expect("no error")
            .is_none()
    );
    std::fs::write(dir.path().join(restock_trees::MODEL_FILE), "not a model").expect("written");
    let err = TreeModel::load(dir.path()).expect_err("a damaged model is refused");
    assert!(err.to_string().contains("trees.txt"), "{err}");
    TreeModel::remove(dir.path()).expect("removed");
    assert!(TreeModel::load(dir.path()).expect("no error").is_none());
    assert!(!dir.path().join(restock_trees::MODEL_FILE).exists());
    TreeModel::remove(dir.path()).expect("nothing to remove is no error");
    // More weeks than the model was fitted for.
    let err = model.forecast(&ds, &skus, 5, None).expect_err("too long");
    assert!(err.to_string().contains("1 to 4 weeks"), "{err}");
}

#[test]
fn too_short_a_catalogue_is_refused_with_the_reason() {
    let mut ds = promo_catalogue(3, 4);
    for s in &mut ds.series {
        s.y.truncate(14);
        for c in &mut s.covariates {
            c.truncate(14);
        }
    }
    ds.last_week = ds.first_week.offset(13);
    let levels = Quantiles::default();
    let weeks = FitWeeks {
        train_end: ds.last_week.offset(-2),
        valid_end: ds.last_week,
        horizon: 4,
        levels: &levels,
        seed: 1,
        threads: 1,
    };
    let err = TreeModel::fit(&ds, &weeks, &TreeConfig::default()).expect_err("too few rows");
    assert!(err.to_string().contains("too few to fit trees"), "{err}");
}

fn read_f32(path: &std::path::Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

#[test]
fn exported_rows_are_the_fits_own_and_so_are_lightgbms_predictions() {
    let ds = promo_catalogue(40, 5);
    let (train_end, valid_end) = (ds.last_week.offset(-12), ds.last_week.offset(-4));
    let model = fit(&ds, train_end, valid_end);
    let levels = Quantiles::default();
    let weeks = fit_weeks(train_end, valid_end, &levels);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rows = dir.path().join("rows");
    let report = export_rows(&ds, &weeks, &small_config(), &rows).expect("exported");
    let spec = model.spec();
    assert_eq!(report.rows[0], spec.report.rows);
    assert_eq!(report.rows[1], spec.report.valid_rows);
    assert_eq!(report.rounds, spec.report.rounds);
    // Every SKU sells, so each has 4 test rows after the validation weeks.
    assert_eq!(report.rows[2], 40 * 4);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(rows.join("meta.json")).expect("meta.json"))
            .expect("JSON");
    let n = spec.layout.len();
    assert_eq!(meta["features"].as_array().expect("names").len(), n);
    for (set, count) in ["train", "valid", "test"].iter().zip(report.rows) {
        assert_eq!(
            read_f32(&rows.join(format!("{set}.x.f32"))).len(),
            count * n
        );
        assert_eq!(
            read_f32(&rows.join(format!("{set}.label.f32"))).len(),
            count
        );
        assert_eq!(
            read_f32(&rows.join(format!("{set}.level.f32"))).len(),
            count
        );
    }
    // The exported validation predictions give the fit's own validation WAPE.
    let (mu, label, level) = (
        read_f32(&rows.join("lightgbm.valid.f32")),
        read_f32(&rows.join("valid.label.f32")),
        read_f32(&rows.join("valid.level.f32")),
    );
    let (mut abs, mut total) = (0.0, 0.0);
    for i in 0..mu.len() {
        let l = f64::from(level[i]);
        abs += (f64::from(mu[i]) - f64::from(label[i])).abs() * l;
        total += f64::from(label[i]) * l;
    }
    let wape = abs / total;
    assert!(
        (wape - spec.report.valid_wape).abs() < 1e-4,
        "{wape} against {}",
        spec.report.valid_wape
    );
    // The test rows are the forecasts at the end of the validation weeks, plan as recorded:
    // SKU-major, step-minor, as `means_at` gives them.
    let origins: Vec<(usize, usize)> = ds
        .series
        .iter()
        .enumerate()
        .map(|(i, s)| (i, s.start.weeks_until(valid_end) as usize))
        .collect();
    let means = model
        .means_at(&ds, &origins, 4, Plan::Recorded)
        .expect("forecasts");
    let (mu, level) = (
        read_f32(&rows.join("lightgbm.test.f32")),
        read_f32(&rows.join("test.level.f32")),
    );
    for (k, expected) in means.iter().flatten().enumerate() {
        let got = f64::from(mu[k]) * f64::from(level[k]);
        assert!(
            (got - expected).abs() <= 1e-3 * expected.abs().max(1.0),
            "row {k}: {got} against {expected}"
        );
    }
    // A catalogue with nothing after the validation weeks has no test rows: refused.
    let late = fit_weeks(train_end, ds.last_week, &levels);
    let err = export_rows(&ds, &late, &small_config(), &rows).expect_err("no test rows");
    assert!(err.to_string().contains("no test rows"), "{err}");
}
