"""Does banding the protection calibration by volume as well as by CV change each ABC class's
coverage? (session 18, docs/benchmarks.md "Checked, not pursued: calibrating the protection
levels by volume as well as by CV").

    restock backtest --run <run> --data <weekly> --out <dir>
    python3 docs/experiments/protection-volume-bands.py <dir>

From the backtest's forecasts of the served model (`restock`): each SKU's 3-week interval at each
cutoff, its μ_P (Swanson's rule) and σ_P ((q90 − q10) / 2.563 a week, weeks independent), as
`restock_stats::protection_moments` has them. The standardised errors' quantiles are fitted per
band, in sample on all cutoffs, then on the cutoffs before the last and scored on the last; the
share of demand at or below μ_P + κ·σ_P at 0.5 / 0.8 / 0.9 / 0.95 / 0.98 is printed per class.
Needs polars and numpy.
"""
import sys

import numpy as np
import polars as pl

bt = sys.argv[1]
model = 'restock'
LEVELS = [0.5, 0.8, 0.9, 0.95, 0.98]
f = pl.read_parquet(f'{bt}/forecasts.parquet').filter(pl.col('model') == model).sort('unique_id', 'cutoff', 'ds')
f = f.with_columns(pl.col('ds').rank('dense').over('unique_id', 'cutoff').alias('h')).filter(pl.col('h') <= 3)
f = f.with_columns((0.3 * pl.col('q10') + 0.4 * pl.col('q50') + 0.3 * pl.col('q90')).alias('m'),
                   (((pl.col('q90') - pl.col('q10')) / 2.5631) ** 2).alias('v'))
c = f.group_by('unique_id', 'cutoff').agg(pl.col('m').sum(), pl.col('v').sum().sqrt().alias('s'), pl.col('y').sum().alias('d'))
cls = pl.read_parquet(f'{bt}/scores.parquet').filter(pl.col('model') == model).select('unique_id', 'cutoff', 'abc')
c = (c.join(cls, on=['unique_id', 'cutoff']).filter(pl.col('s') > 1e-9)
     .with_columns((pl.col('s') / pl.col('m')).alias('cv'), ((pl.col('d') - pl.col('m')) / pl.col('s')).alias('z')))


def edges(x, k):
    return np.quantile(x, [i / k for i in range(1, k)])


def bands(df, cv_edges, volume_edges=None):
    b = np.searchsorted(cv_edges, df['cv'].to_numpy())
    if volume_edges is None:
        return b
    m = df['m'].to_numpy()
    out = b * 10
    for i, e in enumerate(volume_edges):
        out = np.where(b == i, i * 10 + np.searchsorted(e, m), out)
    return out


def coverage(fit, ev, with_volume):
    cv_edges = edges(fit['cv'].to_numpy(), 4)
    volume_edges = None
    if with_volume:
        fb = bands(fit, cv_edges)
        volume_edges = [edges(fit['m'].to_numpy()[fb == i], 2) for i in range(4)]
    fb, eb = bands(fit, cv_edges, volume_edges), bands(ev, cv_edges, volume_edges)
    z = fit['z'].to_numpy()
    kappa = {b: [np.quantile(z[fb == b], a, method='higher') for a in LEVELS] for b in np.unique(fb)}
    k = np.array([kappa.get(b, kappa[min(kappa, key=lambda x: abs(x - b))]) for b in eb])
    return ev['d'].to_numpy()[:, None] <= ev['m'].to_numpy()[:, None] + k * ev['s'].to_numpy()[:, None]


last = c['cutoff'].max()
for title, fit, ev in [('in sample, all cutoffs', c, c),
                       ('fitted before the last cutoff, scored on it', c.filter(pl.col('cutoff') < last), c.filter(pl.col('cutoff') == last))]:
    for with_volume in (False, True):
        cov = coverage(fit, ev, with_volume)
        print(f"{title}; {'CV quartiles x 2 volume bands' if with_volume else 'CV quartiles'}")
        for cl in ['A', 'B', 'C']:
            msk = ev['abc'].to_numpy() == cl
            print(f'  {cl} {msk.sum():5d}', ' / '.join(f'{v:.3f}' for v in cov[msk].mean(0)))
