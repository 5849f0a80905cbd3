#!/usr/bin/env bash
# Batch-inference benchmark: weekly synthetic catalogues (60 weeks), a network of the M5
# config's size (context 52, hidden 64, horizon 8, 3 quantiles) trained briefly on the smaller
# catalogue, then `restock forecast` end to end (load + read + forecast + write) on each size.
# Prints SKUs, wall seconds, SKUs/s, peak RSS and where the time goes.
# prot_s: fitting the protection-interval calibration for the planner (a 2,000-SKU sample
# forecast at 13 earlier origins); NO_PROTECTION=1 skips it, as `--no-protection` does.
# Usage: scripts/bench_forecast.sh [SKUS...]   (default: 30490 1000000)
#   BACKEND=wgpu BATCH=16384 scripts/bench_forecast.sh 30490
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace   # the workspace's feature set: -p would build the burn stack again
bin="$CARGO_TARGET_DIR/debug/restock"
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(30490 1000000)
work="${WORK:-$(mktemp -d)}"
backend="${BACKEND:-cpu}"; batch="${BATCH:-1024}"
protection=(${NO_PROTECTION:+--no-protection})
for n in "${sizes[@]}"; do
  [ -f "$work/cat$n/weekly.parquet" ] || "$bin" --quiet synth --weekly-only --skus "$n" --weeks 60 --out "$work/cat$n"
done
run="$work/run"
if [ ! -f "$run/model.bpk" ]; then
  cat > "$work/train.toml" <<TOML
name = "bench"
[data]
weekly = "$work/cat${sizes[0]}/weekly.parquet"
test_weeks = 0
valid_weeks = 8
min_history = 8
[window]
context = 52
horizon = 8
min_context = 8
windows_per_epoch = 4096
[model]
hidden = 64
[optim]
epochs = 1
[backend]
kind = "cpu"
TOML
  "$bin" --quiet train --config "$work/train.toml" --out "$run" --force --no-eval
fi
printf '\n%-9s %-8s %9s %9s %9s %8s %8s %8s %8s %8s\n' SKUs backend wall_s SKUs/s peak_MB read_s prep_s net_s write_s prot_s
for n in "${sizes[@]}"; do
  out="$work/f$n.parquet"
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --quiet forecast --run "$run" \
    --data "$work/cat$n/weekly.parquet" --horizon 8 --out "$out" --backend "$backend" \
    --batch-size "$batch" "${protection[@]}" --force
  python3 - "$n" "$backend" "$work/time" "$out.summary.json" <<'PY'
import json, sys
n, backend, t, s = sys.argv[1:]
wall, rss = open(t).read().split()[-2:]
j = json.load(open(s))
print(f"{int(n):<9} {backend:<8} {float(wall):>9.1f} {int(n)/float(wall):>9.0f} {int(rss)/1024:>9.0f} {j['read_seconds']:>8.1f} {j['prepare_seconds']:>8.1f} {j['network_seconds']:>8.1f} {j['write_seconds']:>8.1f} {j.get('protection_seconds', 0.0):>8.1f}")
PY
done
