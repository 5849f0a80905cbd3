"""Would choosing the served combination per class beat one choice for all SKUs? (session 19,
docs/benchmarks.md "Checked, not pursued: choosing the served combination per class").

    restock backtest --run <run> --data <weekly> --out <dir>
    python3 docs/experiments/per-class-selection.py <dir>

Candidates: the mean of the quantiles of one to three of the network (`lstm`), the trees
(`lightgbm`), TSB, AutoETS and AutoARIMA, and the served `restock`. Per ABC, XYZ or ABC x XYZ
class (as the backtest's scores have them for `restock`), the candidate with the least summed
pinball loss on the cutoffs before the last is chosen, and the choice is scored on the last:
scaled pinball summed over q10/q50/q90, and WAPE. Needs polars and numpy.
"""
import sys, itertools, numpy as np, polars as pl
bt=sys.argv[1]
f=pl.read_parquet(f'{bt}/forecasts.parquet')
cls=pl.read_parquet(f'{bt}/scores.parquet').filter(pl.col('model')=='restock').select('unique_id','cutoff','abc','xyz')
models=['lstm','lightgbm','tsb','auto_ets','auto_arima']
wide=f.filter(pl.col('model').is_in(models+['restock'])).pivot(on='model',index=['unique_id','cutoff','ds','y'],values=['q10','q50','q90'])
wide=wide.join(cls,on=['unique_id','cutoff'])
cands={}
for r in [1,2,3]:
    for c in itertools.combinations(models,r):
        cands['+'.join(c)]=c
cands['restock']=('restock',)
def q(c,lvl):
    return sum(wide[f'{lvl}_{m}'].to_numpy() for m in c)/len(c)
y=wide['y'].to_numpy()
def pin(qv,tau): d=y-qv; return np.maximum(tau*d,(tau-1)*d)
P={k:pin(np.maximum(q(c,'q10'),0),0.1)+pin(np.maximum(q(c,'q50'),0),0.5)+pin(np.maximum(q(c,'q90'),0),0.9) for k,c in cands.items()}
A={k:np.abs(y-np.maximum(q(c,'q50'),0)) for k,c in cands.items()}
cut=wide['cutoff'].to_numpy(); last=cut.max(); fit=cut<last; ev=cut==last
for grp in ['abc','xyz','both']:
    g=(wide['abc']+wide['xyz']).to_numpy() if grp=='both' else wide[grp].to_numpy()
    chosen=np.empty(len(y),dtype=object)
    picks={}
    for gv in np.unique(g):
        m=(g==gv)&fit
        best=min(cands,key=lambda k:P[k][m].sum())
        picks[gv]=best
        chosen[g==gv]=best
    pe=sum(P[k][ev&(chosen==k)].sum() for k in cands)/y[ev].sum()
    ae=sum(A[k][ev&(chosen==k)].sum() for k in cands)/y[ev].sum()
    print(grp,picks,'pinball',round(pe,4),'wape',round(ae,4))
for k in ['restock','lstm+lightgbm','lightgbm','lstm']:
    print(k,'pinball',round(P[k][ev].sum()/y[ev].sum(),4),'wape',round(A[k][ev].sum()/y[ev].sum(),4))
best=min(cands,key=lambda k:P[k][fit].sum()); print('global best on fit',best,'eval pinball',round(P[best][ev].sum()/y[ev].sum(),4),'wape',round(A[best][ev].sum()/y[ev].sum(),4))
