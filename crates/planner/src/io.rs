//! Reading the planner's tables (forecasts, inventory, open orders, SKU parameters) and writing the
//! order plan. Errors name the file, row, column and SKU.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use polars::prelude::*;
use restock_core::{OrderLine, Quantiles, Week, columns};
use restock_data::ingest::{parse_days, parse_numbers};
use restock_data::table;
use restock_stats::ProtectionCalibration;

use crate::config::PlanConfig;
use crate::inputs::{PlanInputs, SkuInput, SkuParams};
use crate::plan::Plan;
use crate::{Error, Result};

/// Where the planner's tables are.
#[derive(Debug, Clone)]
pub struct PlanFiles {
    /// Forecasts: `unique_id, ds, q10, q50, q90` (any `q<percent>` columns).
    pub forecasts: PathBuf,
    /// Stock on hand: `unique_id, on_hand`.
    pub inventory: PathBuf,
    /// Open purchase orders: `unique_id, arrival_ds, quantity` (optional).
    pub open_orders: Option<PathBuf>,
    /// SKU parameters: `unique_id, unit_cost` and optionally `unit_price, lead_time_weeks,
    /// case_pack, moq, supplier, unit_volume, min_stock, max_stock, holding_rate_per_week,
    /// shortage_cost, service_level, demand_weeks_share` (empty cells take the config's
    /// defaults).
    pub sku_params: PathBuf,
    /// The forecaster's protection-interval calibration (JSON from the forecast job,
    /// `restock_stats::ProtectionCalibration`); without it, the normal rule.
    pub protection: Option<PathBuf>,
    /// The weekly sales the forecasts were made from (a weekly dataset, `restock ingest`'s
    /// output): each SKU's share of weeks with demand for its lost-sales level
    /// ([`crate::inputs::demand_weeks_share`], read from the weeks before the forecasts'
    /// first), where the SKU table has no `demand_weeks_share`.
    pub history: Option<PathBuf>,
}

fn input_err(path: &Path, message: String) -> Error {
    Error::Input {
        path: path.to_path_buf(),
        message,
    }
}

fn strings(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<Option<String>>> {
    let c = df
        .column(name)
        .and_then(|c| c.cast(&DataType::String))
        .map_err(|e| input_err(path, format!("column {name}: {e}")))?;
    let ca = c
        .str()
        .map_err(|e| input_err(path, format!("column {name}: {e}")))?;
    Ok(ca.iter().map(|v| v.map(|s| s.trim().to_string())).collect())
}

fn ids(path: &Path, df: &DataFrame) -> Result<Vec<String>> {
    strings(path, df, columns::UNIQUE_ID)?
        .into_iter()
        .enumerate()
        .map(|(row, v)| {
            v.filter(|s| !s.is_empty()).ok_or_else(|| {
                input_err(
                    path,
                    format!("row {}: missing {}", row + 1, columns::UNIQUE_ID),
                )
            })
        })
        .collect()
}

fn numbers(path: &Path, df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>> {
    let c = df
        .column(name)
        .map_err(|e| input_err(path, format!("column {name}: {e}")))?;
    Ok(parse_numbers(path, name, c)?)
}

fn required(path: &Path, name: &str, row: usize, v: Option<f64>) -> Result<f64> {
    match v {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(input_err(
            path,
            format!("row {}: column {name} is missing or not a number", row + 1),
        )),
    }
}

/// Quantile level of a column named like `q10` or `q97.5`.
fn level_of(name: &str) -> Option<f64> {
    let pct: f64 = name.strip_prefix('q')?.parse().ok()?;
    (pct > 0.0 && pct < 100.0).then_some(pct / 100.0)
}

/// Load every table and join them by SKU. Returns the inputs and warnings to show the user.
///
/// # Errors
///
/// [`Error::Input`] naming the file, and the row, column or SKU, when a table cannot be read,
/// lacks a column or holds a value that is not a number or out of range (negative or crossing
/// quantiles among them, and dates that are not Mondays), gives a SKU twice (a SKU-week, in the
/// forecasts), when a SKU's forecast has fewer weeks than the plan, or when a SKU with a
/// forecast has no parameter row; the errors of reading the protection calibration.
/// A SKU without an inventory row (planned from zero stock) and open orders of SKUs without a
/// forecast are warnings, not errors.
pub fn load(files: &PlanFiles, cfg: &PlanConfig) -> Result<(PlanInputs, Vec<String>)> {
    let mut warnings = Vec::new();
    let t_len = cfg.horizon.weeks;
    let protection = files
        .protection
        .as_deref()
        .map(read_protection)
        .transpose()?;
    let fpath = &files.forecasts;
    let Forecasts {
        levels,
        start,
        by_sku: forecasts,
    } = read_forecasts(fpath)?;
    let lv = levels.levels();
    if !(lv.first().is_some_and(|&l| l < 0.5) && lv.last().is_some_and(|&l| l > 0.5)) {
        warnings.push(format!(
            "{}: the forecasts' quantile levels {lv:?} have none on each side of the median, so \
             they hold no spread and the safety stock sees no forecast uncertainty (give q10 and \
             q90, for instance)",
            fpath.display()
        ));
    }
    let stock = read_inventory(&files.inventory)?;
    let mut open = match &files.open_orders {
        Some(opath) => read_open_orders(opath, start, &mut warnings)?,
        None => HashMap::new(),
    };
    let ppath = &files.sku_params;
    let mut params = read_sku_params(ppath, cfg)?;

    let mut skus = Vec::with_capacity(forecasts.len());
    let mut no_stock = 0;
    for (id, weeks) in forecasts {
        let mut forecast = Vec::with_capacity(t_len);
        for t in 0..t_len {
            match weeks.get(t).cloned().flatten() {
                Some(q) => forecast.push(q),
                None => {
                    return Err(input_err(
                        fpath,
                        format!(
                            "SKU {id}: no forecast for week {} (the plan needs {t_len} weeks from {start})",
                            start.offset(t as i64)
                        ),
                    ));
                }
            }
        }
        let params = params.remove(&id).ok_or_else(|| {
            input_err(
                ppath,
                format!("SKU {id} has a forecast but no row (unit_cost is required)"),
            )
        })?;
        let on_hand = stock.get(&id).copied().unwrap_or_else(|| {
            no_stock += 1;
            0.0
        });
        let on_order = open.remove(&id).unwrap_or_default();
        skus.push(SkuInput {
            unique_id: id,
            forecast,
            on_hand,
            on_order,
            params,
        });
    }
    if no_stock > 0 {
        warnings.push(format!(
            "{no_stock} SKUs have no inventory row; planned from zero stock"
        ));
    }
    let no_price = skus
        .iter()
        .filter(|s| s.params.unit_price.is_none() && s.params.shortage_cost.is_none())
        .count();
    if no_price > 0 {
        warnings.push(format!(
            "{no_price} SKUs have neither unit_price nor shortage_cost ({}): a unit they lose is \
             priced at {} × their unit cost (defaults.price_markup)",
            ppath.display(),
            cfg.defaults.price_markup * cfg.defaults.shortage_cost_factor
        ));
    }
    if !params.is_empty() {
        let mut ids: Vec<&String> = params.keys().collect();
        ids.sort();
        warnings.push(format!(
            "{} SKUs of {} have no forecast (e.g. {}); not planned",
            params.len(),
            ppath.display(),
            ids.iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !open.is_empty() {
        warnings.push(format!(
            "{} SKUs have open orders but no forecast; not planned",
            open.len()
        ));
    }
    match &files.history {
        Some(h) => {
            let history = restock_data::WeeklyDataset::read(h)?;
            fill_demand_weeks_shares(&mut skus, &history, start);
        }
        None if cfg.service.lost_sales_levels()
            && skus.iter().all(|s| s.params.demand_weeks_share.is_none()) =>
        {
            warnings.push(
                "the lost-sales levels do not know how often each SKU sells (no sales history \
                 given, no demand_weeks_share in the SKU table): they take every SKU's weeks as \
                 negative binomial, which sells in more weeks and smaller lots than slow movers \
                 do and sets their levels too low (give the weekly sales with --history)"
                    .to_string(),
            );
        }
        None => {}
    }
    let origins = protection
        .as_ref()
        .is_some_and(|c| c.shortfall.iter().any(|v| !v.is_empty()));
    if cfg.capacity.warehouse_volume.is_some()
        && cfg.capacity.warehouse_confidence > 0.0
        && !origins
    {
        warnings.push(format!(
            "the warehouse keeps no room for demand below forecast (capacity.warehouse_confidence): \
             that needs the forecaster's protection calibration with its origins' totals, which {} \
             {}; demand below the forecasts will overfill the warehouse",
            files.protection.as_deref().map_or_else(
                || "was not given".to_string(),
                |p| format!("{} does not hold", p.display())
            ),
            "(restock forecast writes it beside the forecasts, <forecasts>.protection.json)"
        ));
    }
    Ok((
        PlanInputs {
            start,
            levels,
            skus,
            protection,
        },
        warnings,
    ))
}

/// Each SKU's share of weeks with demand ([`crate::inputs::demand_weeks_share`]) from its
/// weeks of `history` before `start` (the plan's first week), where its parameters do not
/// already say; SKUs without history keep none.
pub fn fill_demand_weeks_shares(
    skus: &mut [SkuInput],
    history: &restock_data::WeeklyDataset,
    start: Week,
) {
    let by_id: HashMap<&str, &restock_data::SkuSeries> = history
        .series
        .iter()
        .map(|s| (s.unique_id.as_str(), s))
        .collect();
    for sku in skus {
        if sku.params.demand_weeks_share.is_some() {
            continue;
        }
        if let Some(s) = by_id.get(sku.unique_id.as_str()) {
            let before = usize::try_from(s.start.weeks_until(start)).unwrap_or(0);
            let y = &s.y[..before.min(s.y.len())];
            sku.params.demand_weeks_share = crate::inputs::demand_weeks_share(y);
        }
    }
}

/// A forecasts file: its quantile levels, its first week, and each SKU's quantiles by week
/// from it (`None` for a week it lacks).
struct Forecasts {
    levels: Quantiles,
    start: Week,
    by_sku: BTreeMap<String, Vec<Option<Vec<f64>>>>,
}

/// Read a forecasts file (`unique_id`, `ds` Mondays, `q..` columns): quantiles present, not
/// negative and not crossing, each error naming the row.
fn read_forecasts(fpath: &Path) -> Result<Forecasts> {
    let names = table::column_names(fpath)?;
    let mut qcols: Vec<(f64, String)> = names
        .iter()
        .filter_map(|n| level_of(n).map(|l| (l, n.clone())))
        .collect();
    qcols.sort_by(|a, b| a.0.total_cmp(&b.0));
    if qcols.is_empty() {
        return Err(input_err(
            fpath,
            format!(
                "no quantile columns (q10, q50, q90, ...); columns: {}",
                names.join(", ")
            ),
        ));
    }
    let levels = Quantiles::new(qcols.iter().map(|(l, _)| *l).collect())
        .map_err(|e| input_err(fpath, e.to_string()))?;
    let mut wanted: Vec<(&str, String)> = vec![
        ("unique_id", columns::UNIQUE_ID.into()),
        ("ds", columns::DS.into()),
    ];
    wanted.extend(qcols.iter().map(|(_, n)| ("quantile", n.clone())));
    let df = table::read_columns(fpath, &wanted)?;
    let fid = ids(fpath, &df)?;
    let days = parse_days(
        fpath,
        columns::DS,
        df.column(columns::DS)
            .map_err(|e| input_err(fpath, e.to_string()))?,
        "%Y-%m-%d",
    )?;
    let qvals: Vec<Vec<Option<f64>>> = qcols
        .iter()
        .map(|(_, n)| numbers(fpath, &df, n))
        .collect::<Result<_>>()?;
    let start_day = *days
        .iter()
        .min()
        .ok_or_else(|| input_err(fpath, "no rows".into()))?;
    let start = Week::containing_day(start_day);
    let mut by_sku: BTreeMap<String, Vec<Option<Vec<f64>>>> = BTreeMap::new();
    // The row each SKU-week was first given at.
    let mut first_row: HashMap<(&str, i32), usize> = HashMap::new();
    for row in 0..df.height() {
        let week = Week::containing_day(days[row]);
        if week.day_number() != days[row] {
            let date = Week::date_of(days[row]);
            return Err(input_err(
                fpath,
                format!(
                    "row {}: ds {} is not a Monday (weeks are labelled by their Monday, here {week})",
                    row + 1,
                    date.map_or_else(|| days[row].to_string(), |d| d.to_string())
                ),
            ));
        }
        if let Some(first) = first_row.insert((fid[row].as_str(), days[row]), row) {
            return Err(input_err(
                fpath,
                format!(
                    "row {} (SKU {}): a second forecast for week {week} (the first is row {}); \
                     give one forecast per SKU and week",
                    row + 1,
                    fid[row],
                    first + 1
                ),
            ));
        }
        let t = start.weeks_until(week) as usize;
        let mut q = Vec::with_capacity(qcols.len());
        for (k, (_, name)) in qcols.iter().enumerate() {
            let v = required(fpath, name, row, qvals[k][row])?;
            if v < 0.0 {
                return Err(input_err(
                    fpath,
                    format!("row {}: {name} = {v} is negative", row + 1),
                ));
            }
            q.push(v);
        }
        if q.windows(2).any(|w| w[0] > w[1]) {
            return Err(input_err(
                fpath,
                format!("row {} (SKU {}): quantiles cross: {q:?}", row + 1, fid[row]),
            ));
        }
        let weeks = by_sku.entry(fid[row].clone()).or_default();
        if weeks.len() <= t {
            weeks.resize(t + 1, None);
        }
        weeks[t] = Some(q);
    }
    Ok(Forecasts {
        levels,
        start,
        by_sku,
    })
}

/// The error of a SKU given twice in a table that holds one row per SKU (0-based rows).
fn repeated(row: usize, id: &str, first: usize) -> String {
    format!(
        "row {} (SKU {id}): the SKU is given again (first at row {}); give one row per SKU",
        row + 1,
        first + 1
    )
}

/// Stock on hand per SKU (`unique_id`, `on_hand` ≥ 0).
pub fn read_inventory(ipath: &Path) -> Result<HashMap<String, f64>> {
    let df = table::read_columns(
        ipath,
        &[
            ("unique_id", columns::UNIQUE_ID.into()),
            ("on_hand", "on_hand".into()),
        ],
    )?;
    let iid = ids(ipath, &df)?;
    let on_hand = numbers(ipath, &df, "on_hand")?;
    let mut stock: HashMap<String, f64> = HashMap::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for (row, id) in iid.into_iter().enumerate() {
        let v = required(ipath, "on_hand", row, on_hand[row])?;
        if v < 0.0 {
            return Err(input_err(
                ipath,
                format!("row {} (SKU {id}): on_hand = {v} is negative", row + 1),
            ));
        }
        if let Some(first) = first_row.insert(id.clone(), row) {
            return Err(input_err(ipath, repeated(row, &id, first)));
        }
        stock.insert(id, v);
    }
    Ok(stock)
}

/// Open orders per SKU as (week from `start`, quantity); orders due before `start` arrive in
/// the first week, with a warning.
pub fn read_open_orders(
    opath: &Path,
    start: Week,
    warnings: &mut Vec<String>,
) -> Result<HashMap<String, Vec<(usize, f64)>>> {
    let df = table::read_columns(
        opath,
        &[
            ("unique_id", columns::UNIQUE_ID.into()),
            ("arrival_ds", "arrival_ds".into()),
            ("quantity", "quantity".into()),
        ],
    )?;
    let oid = ids(opath, &df)?;
    let arr = parse_days(
        opath,
        "arrival_ds",
        df.column("arrival_ds")
            .map_err(|e| input_err(opath, e.to_string()))?,
        "%Y-%m-%d",
    )?;
    let qty = numbers(opath, &df, "quantity")?;
    let mut open: HashMap<String, Vec<(usize, f64)>> = HashMap::new();
    let mut overdue = 0;
    for (row, id) in oid.into_iter().enumerate() {
        let q = required(opath, "quantity", row, qty[row])?;
        if q < 0.0 {
            return Err(input_err(
                opath,
                format!("row {} (SKU {id}): quantity = {q} is negative", row + 1),
            ));
        }
        let w = start.weeks_until(Week::containing_day(arr[row]));
        if w < 0 {
            overdue += 1;
        }
        open.entry(id).or_default().push((w.max(0) as usize, q));
    }
    if overdue > 0 {
        warnings.push(format!(
            "{overdue} open orders were due before {start}; assumed to arrive in the first week"
        ));
    }
    Ok(open)
}

/// Read a protection-interval calibration (JSON); errors name the file and what is wrong.
pub fn read_protection(path: &Path) -> Result<ProtectionCalibration> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path, e.to_string()))?;
    let c: ProtectionCalibration = serde_json::from_str(&text)
        .map_err(|e| input_err(path, format!("not a protection calibration: {e}")))?;
    let grid = c.levels.len();
    if grid == 0 || c.by_weeks.is_empty() {
        return Err(input_err(path, "no levels or no interval lengths".into()));
    }
    if !c.levels.windows(2).all(|w| w[0] < w[1]) || c.levels.iter().any(|l| !(0.0..1.0).contains(l))
    {
        return Err(input_err(
            path,
            format!("levels must rise strictly inside (0, 1): {:?}", c.levels),
        ));
    }
    for (p, t) in c.by_weeks.iter().enumerate() {
        let bad = t.kappa.is_empty()
            || t.kappa.len() != t.cv_edges.len() + 1
            || t.kappa
                .iter()
                .any(|r| r.len() != grid || r.iter().any(|v| !v.is_finite()));
        if bad {
            return Err(input_err(
                path,
                format!(
                    "interval of {} weeks: needs one row of {grid} finite values per CV band \
                     ({} edges)",
                    p + 1,
                    t.cv_edges.len()
                ),
            ));
        }
    }
    Ok(c)
}

/// The optional columns of the SKU parameter table, besides `unique_id` and `unit_cost`.
pub const SKU_PARAM_COLUMNS: [&str; 12] = [
    "unit_price",
    "lead_time_weeks",
    "case_pack",
    "moq",
    "supplier",
    "unit_volume",
    "min_stock",
    "max_stock",
    "holding_rate_per_week",
    "shortage_cost",
    "service_level",
    "demand_weeks_share",
];

/// Read the SKU parameter table (see [`PlanFiles::sku_params`]); empty cells take the config's
/// defaults. Errors name the file, row and SKU.
pub fn read_sku_params(ppath: &Path, cfg: &PlanConfig) -> Result<HashMap<String, SkuParams>> {
    let pnames = table::column_names(ppath)?;
    let optional = SKU_PARAM_COLUMNS;
    let mut wanted: Vec<(&str, String)> = vec![
        ("unique_id", columns::UNIQUE_ID.into()),
        ("unit_cost", "unit_cost".into()),
    ];
    wanted.extend(
        optional
            .iter()
            .filter(|c| pnames.iter().any(|n| n == *c))
            .map(|c| ("optional", c.to_string())),
    );
    let df = table::read_columns(ppath, &wanted)?;
    let pid = ids(ppath, &df)?;
    let has = |c: &str| wanted.iter().any(|(_, n)| n == c);
    let num = |c: &str| -> Result<Vec<Option<f64>>> {
        if has(c) {
            numbers(ppath, &df, c)
        } else {
            Ok(vec![None; df.height()])
        }
    };
    let cost = num("unit_cost")?;
    let (price, lead, pack, moq, vol, min_s, max_s) = (
        num("unit_price")?,
        num("lead_time_weeks")?,
        num("case_pack")?,
        num("moq")?,
        num("unit_volume")?,
        num("min_stock")?,
        num("max_stock")?,
    );
    let (hold, short, service, weeks_share) = (
        num("holding_rate_per_week")?,
        num("shortage_cost")?,
        num("service_level")?,
        num("demand_weeks_share")?,
    );
    let supplier = if has("supplier") {
        strings(ppath, &df, "supplier")?
    } else {
        vec![None; df.height()]
    };
    let whole = |name: &str, row: usize, v: Option<f64>| -> Result<Option<u64>> {
        match v {
            None => Ok(None),
            Some(x) if x >= 0.0 && x.fract() == 0.0 && x < 1e9 => Ok(Some(x as u64)),
            Some(x) => Err(input_err(
                ppath,
                format!(
                    "row {} (SKU {}): {name} = {x} must be a whole number >= 0",
                    row + 1,
                    pid[row]
                ),
            )),
        }
    };
    let mut params: HashMap<String, SkuParams> = HashMap::new();
    let mut first_row: HashMap<String, usize> = HashMap::new();
    for row in 0..df.height() {
        let mut p = SkuParams::from_defaults(cfg, required(ppath, "unit_cost", row, cost[row])?);
        p.unit_price = price[row];
        if let Some(l) = whole("lead_time_weeks", row, lead[row])? {
            p.lead_time_weeks = l as usize;
        }
        if let Some(c) = whole("case_pack", row, pack[row])? {
            p.case_pack = c as u32;
        }
        if let Some(m) = whole("moq", row, moq[row])? {
            p.moq = m as u32;
        }
        if let Some(v) = vol[row] {
            p.unit_volume = v;
        }
        p.min_stock = min_s[row];
        p.max_stock = max_s[row];
        p.holding_rate = hold[row];
        p.shortage_cost = short[row];
        p.service_level = service[row];
        p.demand_weeks_share = weeks_share[row];
        if let Some(s) = &supplier[row] {
            p.supplier = s.clone();
        }
        p.check(&pid[row])
            .map_err(|e| input_err(ppath, format!("row {}: {e}", row + 1)))?;
        if let Some(first) = first_row.insert(pid[row].clone(), row) {
            return Err(input_err(ppath, repeated(row, &pid[row], first)));
        }
        params.insert(pid[row].clone(), p);
    }
    Ok(params)
}

/// The order lines as a frame: `unique_id, order_ds, arrival_ds, quantity, cases, cost, reason`.
pub fn orders_frame(orders: &[OrderLine]) -> Result<DataFrame> {
    let n = orders.len();
    let date = |name: &str, v: Vec<i32>| Column::new(name.into(), v).cast(&DataType::Date);
    let cols = vec![
        Column::new(
            columns::UNIQUE_ID.into(),
            orders
                .iter()
                .map(|o| o.unique_id.as_str())
                .collect::<Vec<_>>(),
        ),
        date(
            "order_ds",
            orders.iter().map(|o| o.order_week.day_number()).collect(),
        )
        .map_err(restock_data::Error::from_polars)?,
        date(
            "arrival_ds",
            orders.iter().map(|o| o.arrival_week.day_number()).collect(),
        )
        .map_err(restock_data::Error::from_polars)?,
        Column::new(
            "quantity".into(),
            orders.iter().map(|o| o.quantity).collect::<Vec<_>>(),
        ),
        Column::new(
            "cases".into(),
            orders.iter().map(|o| o.cases).collect::<Vec<_>>(),
        ),
        Column::new(
            "cost".into(),
            orders.iter().map(|o| o.cost).collect::<Vec<_>>(),
        ),
        Column::new(
            "reason".into(),
            orders.iter().map(|o| o.reason.as_str()).collect::<Vec<_>>(),
        ),
    ];
    DataFrame::new(n, cols).map_err(|e| restock_data::Error::from_polars(e).into())
}

/// Write the orders (Parquet or CSV by extension) and the summary JSON, atomically.
pub fn write(plan: &Plan, orders_path: &Path, summary_path: &Path) -> Result<()> {
    let mut df = orders_frame(&plan.orders)?;
    table::write(&mut df, orders_path)?;
    let json = serde_json::to_string_pretty(&plan.summary).map_err(|e| Error::Input {
        path: summary_path.to_path_buf(),
        message: e.to_string(),
    })?;
    table::write_text(summary_path, &json)?;
    Ok(())
}
