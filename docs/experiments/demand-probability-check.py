"""How well each estimate of a SKU's chance of a week with demand predicts the next week.

Session 17's check behind docs/experiments/demand-probability-tsb.patch (not kept): for every
SKU-week of the benchmark catalogues between `last - FROM` and `last - TO` weeks (and at least
4 weeks into the SKU's history, with demand in its window), each estimate from the weeks before
is scored against whether that week had demand: mean, Brier score and log loss.

    python3 docs/experiments/demand-probability-check.py 15 0    # the 16 replayed weeks
    python3 docs/experiments/demand-probability-check.py 300 16  # every week before them

Needs polars and numpy, and out/bench_protection/<set>/weekly.parquet (scripts/bench_backtest.sh).
"""
import datetime
import sys

import numpy as np
import polars as pl

FROM, TO = int(sys.argv[1]), int(sys.argv[2])
for name in ['online-retail', 'm5']:
    w = pl.read_parquet(f'out/bench_protection/{name}/weekly.parquet').select('unique_id', 'ds', 'y').sort('unique_id', 'ds')
    last = w['ds'].max()
    lo, hi = last - datetime.timedelta(weeks=FROM), last - datetime.timedelta(weeks=TO)
    res = {k: [] for k in ['y', 'share 52 weeks', 'share 26 weeks', 'TSB alpha 0.2', 'TSB alpha 0.3']}
    for _, g in w.group_by(['unique_id']):
        nz = (g['y'].to_numpy() > 0).astype(float)
        ds = g['ds'].to_list()
        p2 = p3 = None
        for i in range(len(nz)):
            if lo <= ds[i] <= hi and i >= 4:
                h52, h26 = nz[max(0, i - 52):i], nz[max(0, i - 26):i]
                if h52.sum() > 0:
                    res['y'].append(nz[i])
                    res['share 52 weeks'].append(h52.mean())
                    res['share 26 weeks'].append(h26.mean())
                    res['TSB alpha 0.2'].append(p2)
                    res['TSB alpha 0.3'].append(p3)
            # TSB's probability: 1 at the first week with demand, then smoothed every week.
            if p2 is None:
                p2 = p3 = nz[i] if nz[i] > 0 else None
            else:
                p2 += 0.2 * (nz[i] - p2)
                p3 += 0.3 * (nz[i] - p3)
    y = np.array(res['y'])
    print(f'{name}: {len(y)} SKU-weeks, share with demand {y.mean():.4f}')
    for k in list(res)[1:]:
        p = np.array([v if v is not None else 0.0 for v in res[k]], dtype=float)
        pc = np.clip(p, 1e-3, 1 - 1e-3)
        print(f'  {k}: mean {p.mean():.4f}, Brier {np.mean((p - y) ** 2):.4f}, '
              f'log loss {-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)):.4f}')
