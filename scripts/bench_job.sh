#!/usr/bin/env bash
# The weekly job (`restock run`), warm-started against retrained from scratch: WEEKS consecutive
# cycles ending with the week after the sales, once with retrain = "never" (each week fine-tunes
# last week's model) and once with retrain = "always". Prints, per mode and cycle: wall seconds,
# peak RSS, how the model was updated, its validation loss, and the WAPE / bias of its forecasts
# on the weeks that followed (scored by the last cycle's feedback loop), beside a 4-week moving
# average's on the same SKU-weeks.
# Usage: scripts/bench_job.sh [synth|m5] [WEEKS]
#   synth: the synthetic catalogue (300 SKUs, seed 42, 3 years), configs/train/demo.toml,
#          its own stock, open orders and SKU parameters; WEEKS default 4.
#   m5:    the M5 subset of ../shared/data (preset m5), configs/train/m5.toml and
#          configs/plan/m5.toml; M5 has no stock or costs, so each SKU gets two weeks of its
#          last four weeks' mean demand on hand before the first cycle, a 2-week lead time and a
#          unit cost of 60 % of its last price (the same for every cycle); WEEKS default 3.
set -euo pipefail
cd "$(dirname "$0")/.."
catalogue="${1:-synth}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace
# A copy: a rebuild during the benchmark must not change the binary it times.
# KEEP=<dir>: copy the job folders there at the end (for reading their history and forecasts).
work="$(mktemp -d)"; trap '[ -n "${KEEP:-}" ] && cp -r "$work" "$KEEP"; rm -rf "$work"' EXIT
cp "$CARGO_TARGET_DIR/debug/restock" "$work/restock"; bin="$work/restock"
root="$(pwd)"
monday() { python3 -c "import datetime as d; t=d.date.fromisoformat('$1'); print(t-d.timedelta(days=t.weekday()) + d.timedelta(weeks=$2))"; }
case "$catalogue" in
  synth)
    weeks="${2:-4}"
    "$bin" --quiet synth --skus 300 --seed 42 --out "$work/cat"
    last=$(python3 -c "import csv; print(max(r['ds'] for r in csv.DictReader(open('$work/cat/sales.csv'))))")
    sales='ingest = "cat/ingest.toml"'
    inputs='inventory = { file = "cat/inventory.csv" }
open_orders = { file = "cat/open_orders.csv" }
sku_params = { file = "cat/sku_params.csv" }'
    train="$root/configs/train/demo.toml"; plan="$root/configs/plan/default.toml" ;;
  m5)
    weeks="${2:-3}"
    m5="$(cd .. && pwd)/shared/data/m5"
    [ -d "$m5" ] || { echo "SKIPPED: no M5 subset at $m5" >&2; exit 0; }
    "$bin" --quiet ingest --preset m5 --input "$m5" --out "$work/m5_weekly.csv"
    last=$(python3 -c "import csv; print(max(r['ds'] for r in csv.DictReader(open('$work/m5_weekly.csv'))))")
    first=$(monday "$last" $((1 - weeks)))
    mkdir -p "$work/cat"
    python3 - "$work" "$first" <<'PY'
import csv, sys
from collections import defaultdict
work, first = sys.argv[1], sys.argv[2]
y, price = defaultdict(list), {}
for r in csv.DictReader(open(f"{work}/m5_weekly.csv")):
    if r["ds"] < first:
        y[r["unique_id"]].append(float(r["y"] or 0))
        if r.get("price"):
            price[r["unique_id"]] = float(r["price"])
with open(f"{work}/cat/inventory.csv", "w") as f:
    f.write("unique_id,on_hand\n")
    for k, v in sorted(y.items()):
        f.write(f"{k},{round(2 * sum(v[-4:]) / max(len(v[-4:]), 1))}\n")
with open(f"{work}/cat/sku_params.csv", "w") as f:
    f.write("unique_id,unit_cost,unit_price,lead_time_weeks\n")
    for k in sorted(y):
        p = price.get(k, 4.0)
        f.write(f"{k},{0.6 * p:.2f},{p:.2f},2\n")
PY
    sales="preset = \"m5\"
input = \"$m5\""
    inputs='inventory = { file = "cat/inventory.csv" }
sku_params = { file = "cat/sku_params.csv" }'
    train="$root/configs/train/m5.toml"; plan="$root/configs/plan/m5.toml" ;;
  *) echo "usage: $0 [synth|m5] [WEEKS]" >&2; exit 2 ;;
esac
echo "catalogue $catalogue, $weeks cycles, commit $(git rev-parse --short HEAD)"
echo "mode    cycle       seconds  peak_MB  model       valid_loss  wape_after  bias_after  4-week MA wape / bias"
for mode in never always; do
  cat > "$work/job_$mode.toml" <<TOML
dir = "job_$mode"
[sales]
$sales
[inputs]
$inputs
[train]
config = "$train"
retrain = "$mode"
[plan]
config = "$plan"
TOML
  for ((k = weeks - 1; k >= 0; k--)); do
    week=$(monday "$last" $((1 - k)))
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --quiet run --config "$work/job_$mode.toml" --week "$week" 2>"$work/log" \
      || { cat "$work/log" >&2; exit 1; }
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
    if r["kind"] == "accuracy" and r["model"] in ("all", "moving_average_4") and r["class"] == "all":
        prefix = "ma_" if r["model"] == "moving_average_4" else ""
        scores.setdefault(r["scored_cycle"], {})[prefix + r["metric"]] = float(r["value"])
times = {l.split()[0]: l.split()[1:] for l in open(f"{work}/times_{mode}")}
for c in cycles:
    w = c["cycle"]; s = scores.get(w, {})
    wape = f"{s['wape']:.3f}" if "wape" in s else "-"
    bias = f"{s['bias']:+.3f}" if "bias" in s else "-"
    ma = f"{s['ma_wape']:.3f} / {s['ma_bias']:+.3f}" if "ma_wape" in s else "-"
    sec, kb = times[w]
    print(f"{mode:7} {w}  {float(sec):7.1f}  {int(kb)/1024:7.0f}  {c['model']:10}  {c['valid_loss']:10.5f}  {wape:>10}  {bias:>10}  {ma:>16}")
PY
done
