#!/usr/bin/env bash
# The run's gradient-boosted trees (issue 16, part 3) on the real data in ../shared/data: each
# trained run is copied, its trees fitted on its training weeks (`restock calibrate`, which also
# recalibrates, chooses how the run serves and evaluates it on the 8 test weeks, printing the
# table with `lightgbm` and `lstm+lightgbm`), then backtested and replayed with the network and
# its trees served together (scripts/bench_backtest.sh with COMBINE=lightgbm).
# Usage: scripts/bench_trees.sh [m5|online-retail ...]   (default: both)
#   RUN_M5=checkpoints/m5 RUN_OR=checkpoints/online-retail scripts/bench_trees.sh
#   REPLAY=0 scripts/bench_trees.sh    # the test-week table only
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
# Mesa's Vulkan loader complains on every adapter probe without it.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(m5 online-retail)
out="${OUT:-out/bench_trees}"
for set in "${sets[@]}"; do
  case "$set" in
    m5) run="${RUN_M5:-checkpoints/m5}" ;;
    online-retail) run="${RUN_OR:-checkpoints/online-retail}" ;;
    *) echo "unknown data set $set (m5 or online-retail)" >&2; exit 2 ;;
  esac
  copy="$out/$set/run"
  rm -rf "$copy" && mkdir -p "$out/$set" && cp -r "$run" "$copy"
  echo "== $set: trees for a copy of $run, then the test weeks"
  start=$(date +%s.%N)
  "$bin" calibrate --run "$copy" 2>&1 | grep -v "^\s*$"
  echo "wall $(echo "$(date +%s.%N) - $start" | bc) s"
  if [ "${REPLAY:-1}" != 0 ]; then
    var=RUN_M5; [ "$set" = m5 ] || var=RUN_OR
    env "$var=$copy" COMBINE=lightgbm OUT="$out" SWEEP="${SWEEP-0.8,0.9,0.95,0.98,economic}" \
      scripts/bench_backtest.sh "$set"
  fi
done
