#!/usr/bin/env bash
# Training benchmark: one run per (config, backend), then a table of speed and of accuracy on the
# held-out test weeks (the network against the statistical baselines).
# Usage: scripts/bench_train.sh [CONFIG...]   (default: configs/train/m5.toml)
#   BACKENDS="cpu ndarray wgpu" EPOCHS=2 scripts/bench_train.sh   # speed only, few epochs
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace   # the workspace's feature set: -p would build the burn stack again
bin="$CARGO_TARGET_DIR/debug/restock"
configs=("$@"); [ ${#configs[@]} -gt 0 ] || configs=(configs/train/m5.toml)
backends="${BACKENDS:-cpu}"
out="${OUT:-checkpoints/bench}"
for cfg in "${configs[@]}"; do
  for backend in $backends; do
    name="$(basename "$cfg" .toml)-$backend"
    run="$out/$name"
    tmp="$(mktemp)"
    cp "$cfg" "$tmp"
    if [ -n "${EPOCHS:-}" ]; then
      sed -i -e "s/^epochs = .*/epochs = $EPOCHS/" "$tmp"
    fi
    /usr/bin/time -f '%e %M' -o "$run.time" "$bin" train --config "$tmp" --backend "$backend" \
      --out "$run" --force ${EPOCHS:+--no-eval} 2> "$run.log" || { tail -5 "$run.log"; exit 1; }
    rm -f "$tmp"
  done
done
printf '\n%-28s %10s %10s %8s %10s %12s %10s\n' run "s/epoch" windows/s epochs best_epoch "s_to_best" "peak_MB"
for t in "$out"/*.time; do
  run="${t%.time}"
  python3 - "$run" "$t" <<'PY'
import json, sys
run, t = sys.argv[1], sys.argv[2]
s = json.load(open(f"{run}/summary.json"))
wall, rss = open(t).read().split()[-2:]
print(f"{run.split('/')[-1]:<28} {s['seconds_per_epoch']:>10.1f} {s['windows_per_second']:>10.0f} {s['epochs']:>8} {s['best_epoch']:>10} {s['seconds_to_best_epoch']:>12.0f} {int(rss)/1024:>10.0f}")
PY
done
for e in "$out"/*/evaluation.json; do
  [ -f "$e" ] || continue
  echo; echo "== $(basename "$(dirname "$e")"): test weeks"
  python3 - "$e" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
print(f"{e['series']} series, {e['weeks']} weeks from {e['test_start']}")
print(f"{'model':<16} {'WAPE':>7} {'MASE':>7} {'RMSSE':>7} {'bias':>7} {'pb.1':>7} {'pb.5':>7} {'pb.9':>7} {'cover':>7}")
for m in e['models']:
    p = m['pinball']
    print(f"{m['model']:<16} {m['wape']:>7.3f} {m['mase']:>7.3f} {m['rmsse']:>7.3f} {m['bias']:>7.3f} {p[0]:>7.4f} {p[len(p)//2]:>7.4f} {p[-1]:>7.4f} {m['coverage']:>7.3f}")
PY
done
