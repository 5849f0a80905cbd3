"""restock against the AutoARIMA buyer by each SKU's share of weeks with demand, from a replay's
trajectories (session 17, docs/benchmarks.md "Where M5's economic point still loses").

    python3 docs/experiments/slow-movers-stock.py <simulate --out dir> out/bench_protection/m5/weekly.parquet

Per band of the share of the 52 weeks before the replay with demand: SKUs, the two policies'
summed mean stock in units, their mean fill rate, and the median weeks of cover (mean stock over
the mean weekly demand of those 52 weeks). Needs polars.
"""
import datetime
import sys

import polars as pl

sim, data = sys.argv[1], sys.argv[2]
t = pl.read_parquet(f'{sim}/trajectories.parquet')
w = pl.read_parquet(data)
start = t['ds'].min()
hist = w.filter((pl.col('ds') < start) & (pl.col('ds') >= start - datetime.timedelta(weeks=52)))
h = hist.group_by('unique_id').agg(pl.col('y').mean().alias('mu'), (pl.col('y') > 0).mean().alias('share'))
per = t.group_by('policy', 'unique_id').agg(
    pl.col('stock').mean().alias('stock'), (pl.col('served').sum() / pl.col('demand').sum()).alias('fill'))
r = (per.filter(pl.col('policy') == 'restock')
     .join(per.filter(pl.col('policy') == 'order_up_to_arima'), on='unique_id', suffix='_arima')
     .join(h, on='unique_id')
     .with_columns((pl.col('stock') / pl.col('mu')).alias('cover'),
                   (pl.col('stock_arima') / pl.col('mu')).alias('cover_arima'),
                   pl.col('share').cut([0.3, 0.5, 0.7, 0.9]).alias('share band')))
pl.Config.set_tbl_cols(20)
print(r.group_by('share band').agg(
    pl.len().alias('SKUs'), pl.col('stock').sum(), pl.col('stock_arima').sum(), pl.col('fill').mean(),
    pl.col('fill_arima').mean(), pl.col('cover').median(), pl.col('cover_arima').median()).sort('share band'))
