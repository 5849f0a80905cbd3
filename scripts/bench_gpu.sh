#!/usr/bin/env bash
# GPU benchmark (issue 15): on one machine with a GPU, the CPU and GPU paths side by side, in
# under 8 minutes, printing one table. Builds nothing: it takes the binary.
#
#   forecast <SKUs>  the whole `restock forecast` command (load, read, prepare, network, write;
#                    no protection calibration) on a synthetic catalogue of 60 weeks
#   train b<batch>   training windows/s at that batch (the second epoch: the first one compiles
#                    and autotunes the GPU kernels), synthetic catalogue, M5-shaped network; on
#                    the CPU with every core and with 2 threads (`cpu x2`)
#   m5 train         `configs/train/m5.toml` on the GPU: wall seconds and test WAPE
#   torch            ../shared/bench/torch_lstm_reference.py, the same-shaped cuDNN network
#
# Usage (paths are examples):
#   BIN=/tmp/restock scripts/bench_gpu.sh
# Environment:
#   BIN        restock binary, labelled "new" (default: $CARGO_TARGET_DIR/debug/restock)
#   OTHER_BINS other builds to compare on the GPU rows, as label=path pairs, e.g.
#              "nofusion=/tmp/restock-nofusion old=/tmp/restock-old"
#   M5_WEEKLY  M5 weekly data (restock ingest --preset m5): adds the "m5 train" row, run with
#              the binary that trained fastest at batch 256, once per GPU batch of
#              M5_GPU_BATCHES (default "config": the config's optim.gpu_batch_size)
#   TORCH_REF  the PyTorch reference script: adds its rows (needs python3 with torch and CUDA)
#   SMALL, LARGE   catalogue sizes (default 30490, 1000000); LARGE=0 skips the large rows
#   DEADLINE   seconds after which the remaining rows are skipped (default 450)
#   WORK       scratch folder (default: a new temporary one); RESULTS: also append rows here
#   ONLY       the row groups to run, of: small train256 m5 cpu torch train4096 large (default:
#              all, in that order; a second run on the same machine can finish what a deadline
#              skipped)
# Forecasts serve the network alone (--combine none, --no-protection): the statistical members
# of an ensemble and the protection calibration run on the CPU whatever the backend.
set -uo pipefail
cd "$(dirname "$0")/.."
bin="${BIN:-${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}/debug/restock}"
[ -x "$bin" ] || { echo "no restock binary at $bin (set BIN)" >&2; exit 2; }
small="${SMALL:-30490}"; large="${LARGE:-1000000}"
work="${WORK:-$(mktemp -d)}"; mkdir -p "$work"
results="${RESULTS:-$work/results.tsv}"
started=$SECONDS
deadline="${DEADLINE:-450}"
declare -A bins=([new]="$bin")
labels=(new)
for pair in ${OTHER_BINS:-}; do bins[${pair%%=*}]="${pair#*=}"; labels+=("${pair%%=*}"); done
only="${ONLY:-small train256 m5 cpu torch train4096 large}"
wanted() { [[ " $only " == *" $1 "* ]]; }
# Whether `need` seconds are left before the deadline; else say what is skipped.
time_for() { # need what
  if [ $((SECONDS - started + $1)) -gt "$deadline" ]; then note "skipped (deadline): $2"; return 1; fi
}

row() { # what binary backend value unit detail
  printf '%-16s %-4s %-26s %12s %-10s %s\n' "$@"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >> "$results"
}
note() { echo "# $*"; }
# Why a command failed: its first error lines, then its last line.
why() { { grep -m3 -iE 'panicked|error|caused' "$1"; tail -n1 "$1"; } | cut -c1-200 | tr '\n' ' '; }

note "machine: $(nproc) cores; $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo 'no nvidia-smi')"
for l in "${labels[@]}"; do note "binary $l: ${bins[$l]}"; done
printf '%-16s %-4s %-26s %12s %-10s %s\n' work bin backend value unit detail

# Catalogues and a small network of the M5 config's shape (context 52, hidden 64, horizon 8).
[ -f "$work/cat$small/weekly.parquet" ] || "$bin" --quiet synth --weekly-only --skus "$small" \
  --weeks 60 --out "$work/cat$small" || { note "synth $small failed"; exit 1; }
note "catalogue ready at $((SECONDS - started)) s"
train_config() { # out batch windows backend epochs [threads]
  cat > "$1" <<TOML
name = "bench-gpu"
[data]
weekly = "$work/cat$small/weekly.parquet"
test_weeks = 0
valid_weeks = 8
min_history = 8
[window]
context = 52
horizon = 8
min_context = 8
windows_per_epoch = $3
[model]
hidden = 64
[optim]
batch_size = $2
epochs = $5
patience = 0
threads = ${6:-0}
[backend]
kind = "$4"
TOML
}
# The bench network, trained on the CPU by each binary (runs of one build may not be readable by
# an older one).
run_of() { echo "$work/run-$1"; }
for l in "${labels[@]}"; do
  [ -f "$(run_of "$l")/model.bpk" ] && continue
  train_config "$work/net.toml" 256 4096 cpu 1
  "${bins[$l]}" --quiet train --config "$work/net.toml" --out "$(run_of "$l")" --force --no-eval \
    || { note "training the bench network with $l failed"; exit 1; }
done

forecast() { # label binary backend skus [batch]
  local label=$1 b=$2 backend=$3 n=$4 batch=${5:-}
  local out="$work/f-$label-$backend-$n.parquet"
  local t0=$SECONDS
  timeout 240 "$b" --quiet forecast --run "$(run_of "$label")" --data "$work/cat$n/weekly.parquet" \
    --horizon 8 --out "$out" --backend "$backend" --no-protection --combine none --force \
    ${batch:+--batch-size "$batch"} > "$work/log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    row "forecast $n" "$label" "$backend" "failed" "" "exit $rc: $(why "$work/log")"
    return
  fi
  python3 - "$n" "$out.summary.json" <<'PY' > "$work/row"
import json, sys
n, s = int(sys.argv[1]), json.load(open(sys.argv[2]))
print(f"{s['seconds']:.2f}", f"{n / s['seconds']:.0f}",
      f"read {s['read_seconds']:.2f} prep {s['prepare_seconds']:.2f} net {s['network_seconds']:.2f} "
      f"write {s['write_seconds']:.2f}; {s['backend']}")
PY
  read -r secs rate detail < "$work/row"
  row "forecast $n" "$label" "$backend${batch:+ b$batch}" "$secs" "s" "$rate SKUs/s; $detail"
}

train_speed() { # label binary backend batch windows [threads]
  local label=$1 b=$2 backend=$3 batch=$4 windows=$5 threads=${6:-0}
  local dir="$work/t-$label-$backend-$batch"
  train_config "$work/t.toml" "$batch" "$windows" "$backend" 2 "$threads"
  timeout 120 "$b" --quiet train --config "$work/t.toml" --out "$dir" --force --no-eval \
    > "$work/log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    row "train b$batch" "$label" "$backend${6:+ x$6}" "failed" "" "exit $rc: $(why "$work/log")"
    return
  fi
  python3 - "$dir" <<'PY' > "$work/row"
import csv, json, sys
d = sys.argv[1]
rows = list(csv.DictReader(open(f"{d}/metrics.csv")))
s = json.load(open(f"{d}/summary.json"))
print(f"{float(rows[-1]['windows_per_second']):.0f}",
      f"epoch 1 {float(rows[0]['seconds']):.1f} s, epoch 2 {float(rows[-1]['seconds']):.1f} s "
      f"(with validation); {s['backend']}")
PY
  read -r rate detail < "$work/row"
  row "train b$batch" "$label" "$backend${6:+ x$6}" "$rate" "windows/s" "$detail"
}

# Forecasts, the small catalogue first (every row is one whole command).
wanted small && forecast new "$bin" cpu "$small"
wanted small && for l in "${labels[@]}"; do
  time_for 30 "forecast $small $l" || continue
  # Builds before issue 15 took 1,024 SKUs a batch on any device: give them the whole catalogue.
  if [ "$l" = old ]; then forecast "$l" "${bins[$l]}" wgpu "$small" "$small"
  else forecast "$l" "${bins[$l]}" wgpu "$small"; fi
done
if wanted small; then
  forecast new "$bin" auto "$small"   # what auto picks here, from its probes (summary: backend)
  note "small forecasts done at $((SECONDS - started)) s"
fi

# Training speed: every binary at batch 256, then at 4,096; the CPU at 256.
best=new; best_rate=0
wanted train256 && for l in "${labels[@]}"; do
  time_for 60 "train b256 $l" || continue
  train_speed "$l" "${bins[$l]}" wgpu 256 16384
  rate=$(awk -F'\t' -v l="$l" '$1 == "train b256" && $2 == l && $3 == "wgpu" {print $4}' "$results" | tail -1)
  if [[ "$rate" =~ ^[0-9]+$ ]] && [ "$rate" -gt "$best_rate" ]; then best=$l; best_rate=$rate; fi
done
wanted train256 && note "fastest at batch 256 on the GPU: $best ($((SECONDS - started)) s)"

# The M5 run to its accuracy, on the GPU.
for m5_batch in ${M5_GPU_BATCHES:-config}; do
if wanted m5 && [ -n "${M5_WEEKLY:-}" ] && time_for 120 "m5 train ($m5_batch)"; then
  sed -e "s|^source = .*|weekly = \"$M5_WEEKLY\"|" -e '/^preset = /d' \
    -e 's/^kind = .*/kind = "wgpu"/' configs/train/m5.toml > "$work/m5.toml"
  [ "$m5_batch" = config ] || sed -i "s/^gpu_batch_size = .*/gpu_batch_size = $m5_batch/" "$work/m5.toml"
  t0=$SECONDS
  if timeout 200 "${bins[$best]}" --quiet train --config "$work/m5.toml" --out "$work/m5" --force \
      > "$work/log" 2>&1; then
    python3 - "$work/m5" $((SECONDS - t0)) <<'PY' > "$work/row"
import json, sys
d, wall = sys.argv[1], sys.argv[2]
s = json.load(open(f"{d}/summary.json"))
e = json.load(open(f"{d}/evaluation.json"))
lstm = next(m for m in e["models"] if m["model"] == "lstm")
print(wall, f"WAPE {lstm['wape']:.3f}, {s['epochs']} epochs, best {s['best_epoch']}, "
      f"train {s['train_seconds']:.1f} s, {s['windows_per_second']:.0f} windows/s; {s['backend']}")
PY
    read -r secs detail < "$work/row"
    row "m5 train" "$best" "wgpu b$m5_batch" "$secs" "s" "$detail"
  else
    row "m5 train" "$best" "wgpu b$m5_batch" "failed" "" "$(why "$work/log")"
  fi
  note "m5 ($m5_batch) done at $((SECONDS - started)) s"
fi
done

# The CPU on every core (optim.threads = 0), then on 2 threads (the 2-core figure's stand-in).
wanted cpu && time_for 40 "train b256 cpu" && train_speed new "$bin" cpu 256 8192
wanted cpu && time_for 40 "train b256 cpu x2" && train_speed new "$bin" cpu 256 8192 2

# The cuDNN reference.
if wanted torch && [ -n "${TORCH_REF:-}" ] && time_for 60 "torch reference"; then
  if timeout 90 python3 "$TORCH_REF" > "$work/torch.json" 2> "$work/log"; then
    python3 - "$work/torch.json" <<'PY' | while read -r k v; do row torch ref cudnn "$v" "" "$k"; done
import json, sys
for k, v in json.load(open(sys.argv[1])).items():
    print(k, v)
PY
  else
    row torch ref cudnn failed "" "$(why "$work/log")"
  fi
fi
# Training at batch 4,096.
wanted train4096 && for l in "${labels[@]}"; do
  time_for 60 "train b4096 $l" && train_speed "$l" "${bins[$l]}" wgpu 4096 65536
done

# The large catalogue.
if wanted large && [ "$large" -gt 0 ] && time_for 90 "forecast $large"; then
  "$bin" --quiet synth --weekly-only --skus "$large" --weeks 60 --out "$work/cat$large" \
    || note "synth $large failed"
  forecast new "$bin" wgpu "$large"
  time_for 45 "forecast $large cpu" && forecast new "$bin" cpu "$large"
  for l in "${labels[@]:1}"; do
    time_for 45 "forecast $large $l" && forecast "$l" "${bins[$l]}" wgpu "$large"
  done
  note "large forecasts done at $((SECONDS - started)) s"
fi

note "all done in $((SECONDS - started)) s; rows in $results"
