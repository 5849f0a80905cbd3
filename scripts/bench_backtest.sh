#!/usr/bin/env bash
# Backtest and inventory simulation on the real data in ../shared/data, from trained runs
# (restock train --config configs/train/m5.toml / online-retail.toml first). Prints the backtest
# table (model vs baselines over 3 cutoffs) and the simulation table (restock's plans vs the
# order-up-to policies over the last 16 weeks) with the wall time of each, then the trade-off
# sweep: every policy at each service target of $SWEEP, restock read at equal fill rate on the
# better baseline's curve (one 16-week simulation per target).
# Usage: scripts/bench_backtest.sh [m5|online-retail ...]   (default: both)
#   RUN_M5=checkpoints/m5 RUN_OR=checkpoints/online-retail scripts/bench_backtest.sh
#   SWEEP="" scripts/bench_backtest.sh m5      # no sweep
#   COMBINE=tsb,auto_ets scripts/bench_backtest.sh   # restock = the network's ensemble with them
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace   # the workspace's feature set: -p would build the burn stack again
bin="$CARGO_TARGET_DIR/debug/restock"
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(m5 online-retail)
sweep="${SWEEP-0.8,0.9,0.95,0.98,economic,fill:0.85,fill:0.9,fill:0.95,fill:0.97}"
combine=(${COMBINE:+--combine "$COMBINE"})
out="${OUT:-out/bench_backtest}"
mkdir -p "$out"
for set in "${sets[@]}"; do
  case "$set" in
    m5) preset=m5; input=../shared/data/m5; run="${RUN_M5:-checkpoints/m5}"
        group=(--group-by cat_id); price=(--default-price 4) ;;
    online-retail) preset=online-retail; input=../shared/data/online_retail
        run="${RUN_OR:-checkpoints/online-retail}"; group=(); price=(--default-price 2.5) ;;
    *) echo "unknown data set $set (m5 or online-retail)" >&2; exit 2 ;;
  esac
  weekly="$out/$set/weekly.parquet"
  [ -f "$weekly" ] || "$bin" --quiet ingest --preset "$preset" --input "$input" --out "$weekly"
  echo "== $set: backtest of $run (3 cutoffs, 4 weeks apart, 8 weeks ahead)"
  start=$(date +%s.%N)
  "$bin" backtest --run "$run" --data "$weekly" "${group[@]}" "${combine[@]}" --out "$out/$set/backtest" --force 2>&1 \
    | sed -n '/cutoffs (/,$p'
  echo "wall $(echo "$(date +%s.%N) - $start" | bc) s"
  echo "== $set: simulation of the last 16 weeks with configs/plan/$set.toml"
  start=$(date +%s.%N)
  "$bin" simulate --run "$run" --data "$weekly" --config "configs/plan/$set.toml" "${price[@]}" \
    "${combine[@]}" \
    --weeks 16 ${sweep:+--service-levels "$sweep"} --out "$out/$set/simulation" --force 2>&1 \
    | sed -n '/SKUs, /,$p' | grep -v '^\['
  echo "wall $(echo "$(date +%s.%N) - $start" | bc) s"
  "$bin" --quiet report --data "$weekly" --backtest "$out/$set/backtest" \
    --simulation "$out/$set/simulation" --title "restock on $set" --out "$out/$set/report" --force
  echo "report: $out/$set/report/report.html"
done
