"""How the replayed weeks' demand differs from the year before them (session 18's closing note,
docs/benchmarks.md "Session 18").

    python3 docs/experiments/replay-demand-shift.py out/bench_protection/m5/weekly.parquet
    python3 docs/experiments/replay-demand-shift.py out/bench_protection/online-retail/weekly.parquet lots

Replayed weeks: the last 16 of the file, as `restock simulate --weeks 16` replays them. First
table: per band of the share of the 52 weeks before them with demand, the SKUs' median weekly
demand and share of weeks with demand, before and during the replay. With `lots`, for the SKUs
that sold in at most half of those weeks (at least 4 of them): lots drawn from the lost-sales
shop's lumpy model fitted on each SKU's year (demand in its share of the weeks, sizes 1 + a
negative binomial with the year's mean and variance, `restock_planner::lost_sales`), and the
share of the SKU's own lots of the year and of the replay at or below that model's 0.8 and 0.9
quantiles of a lot. Needs polars and numpy.
"""
import datetime
import sys

import numpy as np
import polars as pl

w = pl.read_parquet(sys.argv[1]).select('unique_id', 'ds', 'y')
start = w['ds'].max() - datetime.timedelta(weeks=15)
hist = w.filter((pl.col('ds') < start) & (pl.col('ds') >= start - datetime.timedelta(weeks=52)))
rep = w.filter(pl.col('ds') >= start)
h = hist.group_by('unique_id').agg(pl.col('y').mean().alias('mean before'), (pl.col('y') > 0).mean().alias('share before'))
r = rep.group_by('unique_id').agg(pl.col('y').mean().alias('mean replayed'), (pl.col('y') > 0).mean().alias('share replayed'))
x = h.join(r, on='unique_id').with_columns(pl.col('share before').cut([0.3, 0.5, 0.7, 0.9]).alias('band'))
pl.Config.set_tbl_width_chars(200)
print(x.group_by('band').agg(pl.len().alias('SKUs'), pl.col('mean before').median(), pl.col('mean replayed').median(),
                             pl.col('share before').median(), pl.col('share replayed').median()).sort('band'))

if len(sys.argv) > 2 and sys.argv[2] == 'lots':
    rng = np.random.default_rng(1)
    by_sku = {k[0]: g.sort('ds')['y'].to_numpy() for k, g in hist.group_by(['unique_id'])}
    replayed = {k[0]: g['y'].to_numpy() for k, g in rep.group_by(['unique_id'])}
    rows = []
    for sku, y in by_sku.items():
        lots = y[y > 0]
        share = len(lots) / len(y)
        later = replayed.get(sku, np.array([]))
        later = later[later > 0]
        if len(y) < 20 or share > 0.5 or len(lots) < 4 or len(later) == 0:
            continue
        m, v = y.mean(), y.var(ddof=1)
        size_mean = m / share
        size_var = max((v + m * m) / share - size_mean ** 2, 1e-9)
        mu = size_mean - 1
        if mu <= 0:
            draws = np.ones(20000)
        elif size_var <= mu:
            draws = 1 + rng.poisson(mu, 20000)
        else:
            draws = 1 + rng.negative_binomial(mu * mu / (size_var - mu), mu / size_var, 20000)
        for a in (0.8, 0.9):
            q = np.quantile(draws, a)
            rows.append((a, np.mean(lots <= q), np.mean(later <= q), later.mean() / size_mean))
    t = pl.DataFrame(rows, schema=['level', 'lots of the year', 'lots replayed', 'replayed lot / model mean'], orient='row')
    print(t.group_by('level').agg(pl.len().alias('SKUs'), pl.col('lots of the year').mean(), pl.col('lots replayed').mean(),
                                  pl.col('replayed lot / model mean').median()).sort('level'))
