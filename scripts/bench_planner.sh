#!/usr/bin/env bash
# Planner benchmark: synthetic catalogues, 8 planned weeks, weekly budget + warehouse capacity +
# case packs + MOQ. Prints a table: SKUs, mode (MILP / LP), solver, wall seconds, status, gap bound,
# peak RSS. Usage: scripts/bench_planner.sh [SKUS] [SKUS_LARGE]   (default 10000 100000)
# Every size with whole cases (Lagrangian relaxation) and with the LP relaxation (Lagrangian
# prices + column generation), HiGHS and microlp; `time_limit_seconds` 10 at SKUS, 40 at
# SKUS_LARGE (the price search's budget; whole-case plans are fitted after it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace   # the workspace's feature set: -p would build the burn stack again
bin="$CARGO_TARGET_DIR/debug/restock"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
milp_skus="${1:-10000}"; large_skus="${2:-100000}"

run() { # skus integer solver limit
  local n=$1 integer=$2 solver=$3 limit=$4 dir="$work/cat$1"
  [ -d "$dir" ] || "$bin" --quiet synth --skus "$n" --weeks 8 --clean --out "$dir"
  cat > "$work/p.toml" <<TOML
[budget]
weekly = $((n * 120)).0
[capacity]
warehouse_volume = $((n * 8 / 10)).0
[solver]
backend = "$solver"
integer = $integer
time_limit_seconds = $limit
mip_gap = 0.005
TOML
  # The benchmark caps each run's wall time.
  if timeout "$((limit * 2 + 60))" /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --quiet plan --config "$work/p.toml" \
      --forecasts "$dir/oracle_forecast.parquet" --inventory "$dir/inventory.csv" \
      --open-orders "$dir/open_orders.csv" --sku-params "$dir/sku_params.csv" \
      --out "$work/o.parquet" --force 2> "$work/err"; then
    read -r wall rss < <(tail -1 "$work/time")
    python3 - "$work/o.summary.json" "$n" "$integer" "$solver" "$wall" "$rss" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
gap = s["gap_bound"]
print(f"| {int(sys.argv[2]):>7} | {'MILP' if sys.argv[3] == 'true' else 'LP':<4} | {sys.argv[4]:<7} | {float(sys.argv[5]):>8.1f} | {s['status']:<10} | {('%.3f%%' % (100 * gap)) if gap is not None else '-':>8} | {int(sys.argv[6]) // 1024:>6} |")
PY
  else
    printf '| %7s | %-4s | %-7s | %8s | %-10s | %8s | %6s |\n' "$n" "$([ "$integer" = true ] && echo MILP || echo LP)" "$solver" ">$((limit * 2 + 60))" "no plan" "-" "-"
    sed 's/^/    /' "$work/err" | tail -2
  fi
}

echo "| SKUs    | mode | solver  | wall s   | status     | gap <=   | RSS MB |"
echo "|---------|------|---------|----------|------------|----------|--------|"
for mode in true false; do
  run "$milp_skus" $mode highs 10
  run "$milp_skus" $mode microlp 10
  run "$large_skus" $mode highs 40
  if [ $mode = false ]; then run "$large_skus" $mode microlp 40; fi
done
