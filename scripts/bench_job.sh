#!/usr/bin/env bash
# The weekly job (`restock run`), warm-started against retrained from scratch: the synthetic
# catalogue (300 SKUs, seed 42, 3 years) run for WEEKS consecutive cycles ending with the week
# after its sales, once with retrain = "never" (each week fine-tunes last week's model) and once
# with retrain = "always". Prints, per mode and cycle: wall seconds, peak RSS, how the model was
# updated, its validation loss, and the WAPE / bias of its forecasts on the weeks that followed
# (scored by the last cycle's feedback loop: the cycles' later weeks have happened by then).
# Usage: scripts/bench_job.sh [WEEKS]   (default 4)
set -euo pipefail
cd "$(dirname "$0")/.."
weeks="${1:-4}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
"$bin" --quiet synth --skus 300 --seed 42 --out "$work/cat"
last=$(python3 -c "import datetime as d,csv; m=max(r['ds'] for r in csv.DictReader(open('$work/cat/sales.csv'))); t=d.date.fromisoformat(m); print(t-d.timedelta(days=t.weekday()))")
root="$(pwd)"
echo "mode    cycle       seconds  peak_MB  model       valid_loss  wape_after  bias_after"
for mode in never always; do
  cat > "$work/job_$mode.toml" <<TOML
dir = "job_$mode"
[sales]
ingest = "cat/ingest.toml"
[inputs]
inventory = { file = "cat/inventory.csv" }
open_orders = { file = "cat/open_orders.csv" }
sku_params = { file = "cat/sku_params.csv" }
[train]
config = "$root/configs/train/demo.toml"
retrain = "$mode"
[plan]
config = "$root/configs/plan/default.toml"
TOML
  for ((k = weeks - 1; k >= 0; k--)); do
    week=$(python3 -c "import datetime as d; print(d.date.fromisoformat('$last') - d.timedelta(weeks=$k - 1))")
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --quiet run --config "$work/job_$mode.toml" --week "$week" 2>/dev/null
    read -r wall rss < <(tail -1 "$work/time")
    echo "$week $wall $rss" >> "$work/times_$mode"
  done
  python3 - "$work" "$mode" <<'PY'
import csv, json, sys
work, mode = sys.argv[1], sys.argv[2]
cycles = json.load(open(f"{work}/job_{mode}/cycles.json"))
last = cycles[-1]["cycle"]
scores = {}
for r in csv.DictReader(open(f"{work}/job_{mode}/cycles/{last}/history.csv")):
    if r["kind"] == "accuracy" and r["model"] == "all" and r["class"] == "all":
        scores.setdefault(r["scored_cycle"], {})[r["metric"]] = float(r["value"])
times = {l.split()[0]: l.split()[1:] for l in open(f"{work}/times_{mode}")}
for c in cycles:
    w = c["cycle"]; s = scores.get(w, {})
    wape = f"{s['wape']:.3f}" if "wape" in s else "-"
    bias = f"{s['bias']:+.3f}" if "bias" in s else "-"
    sec, kb = times[w]
    print(f"{mode:7} {w}  {float(sec):7.1f}  {int(kb)/1024:7.0f}  {c['model']:10}  {c['valid_loss']:10.5f}  {wape:>10}  {bias:>10}")
PY
done
