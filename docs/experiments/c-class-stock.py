"""Where M5's C-class stock comes from (session 19, docs/benchmarks.md "Checked, not pursued:
where M5's C-class stock comes from").

    restock simulate --run <run> --data <weekly> --config <m5.toml with critical_ratio = true> \
        --default-price 4 --weeks 16 --out <sim>
    restock backtest --run <run> --data <weekly> --out <bt>
    python3 docs/experiments/c-class-stock.py <sim> <bt>

1. From the replay's trajectories: C-class SKUs (classes as the backtest's scores have them for
   `restock`, at their last cutoff) grouped by their own trend (mean demand of the last 6 weeks
   against the first 6: below 0.8, up to 1.25, above), and each policy's mean stock a SKU in the
   last 6 weeks.
2. From the backtest: per ABC class and model, the 0.95 level of 3-week demand, calibrated in
   sample per CV quartile as the protection calibration bands it (mu_P + kappa * sigma_P from
   Swanson's mean and the q10-q90 spread, weeks independent), as a multiple of the demand, with
   its coverage; and the normal rule's level. Needs polars and numpy.
"""
import sys
from statistics import NormalDist

import numpy as np
import polars as pl

sim, bt = sys.argv[1], sys.argv[2]
cls = (pl.read_parquet(f'{bt}/scores.parquet').filter(pl.col('model') == 'restock').sort('cutoff')
       .group_by('unique_id').agg(pl.col('abc').last()))

t = pl.read_parquet(f'{sim}/trajectories.parquet').join(cls, on='unique_id').sort('unique_id', 'ds')
t = t.with_columns(pl.col('ds').rank('dense').alias('wk')).filter(pl.col('abc') == 'C')
weeks = t['wk'].max()
g = t.group_by('unique_id', 'policy').agg(
    pl.col('demand').filter(pl.col('wk') <= 6).mean().alias('early'),
    pl.col('demand').filter(pl.col('wk') > weeks - 6).mean().alias('late'),
    pl.col('stock').filter(pl.col('wk') > weeks - 6).mean().alias('stock_late'))
g = g.with_columns((pl.col('late') / (pl.col('early') + 0.1)).alias('growth')).with_columns(
    pl.when(pl.col('growth') < 0.8).then(pl.lit('1 falling'))
    .when(pl.col('growth') < 1.25).then(pl.lit('2 flat')).otherwise(pl.lit('3 rising')).alias('trend'))
print(g.group_by('trend', 'policy').agg(pl.len().alias('skus'), pl.col('stock_late').mean())
      .sort('trend', 'policy'))

f = pl.read_parquet(f'{bt}/forecasts.parquet').sort('unique_id', 'cutoff', 'ds')
f = f.with_columns(pl.col('ds').rank('dense').over('unique_id', 'cutoff', 'model').alias('h')).filter(pl.col('h') <= 3)
f = f.with_columns((0.3 * pl.col('q10') + 0.4 * pl.col('q50') + 0.3 * pl.col('q90')).alias('m'),
                   (((pl.col('q90') - pl.col('q10')) / 2.5631) ** 2).alias('v'))
c = f.group_by('unique_id', 'cutoff', 'model').agg(pl.col('m').sum(), pl.col('v').sum().sqrt().alias('s'),
                                                   pl.col('y').sum().alias('d'))
c = c.join(pl.read_parquet(f'{bt}/scores.parquet').filter(pl.col('model') == 'restock')
           .select('unique_id', 'cutoff', 'abc'), on=['unique_id', 'cutoff'])
TAU = 0.95
for model in ['restock', 'auto_arima']:
    x = c.filter(pl.col('model') == model)
    s = np.maximum(x['s'].to_numpy(), 1e-9)
    m, d = x['m'].to_numpy(), x['d'].to_numpy()
    band = np.searchsorted(np.quantile(s / np.maximum(m, 1e-9), [.25, .5, .75]), s / np.maximum(m, 1e-9))
    z = (d - m) / s
    k = np.zeros_like(m)
    for b in range(4):
        k[band == b] = np.quantile(z[band == b], TAU, method='higher')
    level = np.maximum(m + k * s, 0)
    normal = np.maximum(m + NormalDist().inv_cdf(TAU) * s, 0)
    x = x.with_columns(pl.Series('level', level), pl.Series('normal', normal),
                       pl.Series('covered', (d <= level).astype(float)))
    print(model)
    print(x.group_by('abc').agg((pl.col('level').sum() / pl.col('d').sum()).alias('level/demand'),
                                pl.col('covered').mean().alias('coverage'),
                                (pl.col('normal').sum() / pl.col('d').sum()).alias('normal/demand')).sort('abc'))
