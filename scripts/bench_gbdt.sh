#!/usr/bin/env bash
# LightGBM (C++, the run's trees) against a pure-Rust gradient-boosting crate (perpetual) on
# exactly the same rows, objective and weights (issue 16, part 3: "measured against each
# other"). Each trained run is copied; `restock calibrate --export-tree-rows` fits its trees and
# writes their training, validation and test rows with LightGBM's predictions; then
# bench/gbdt-compare (a separate workspace, so its dependencies never touch restock's build)
# fits perpetual on the training rows at each budget and prints, per learner, the fit seconds
# and the weighted Tweedie deviance, WAPE and bias of the mean on the validation and test rows.
# perpetual 2.1.0 declares a nightly feature: it is built with RUSTC_BOOTSTRAP=1.
# Usage: scripts/bench_gbdt.sh [m5|online-retail ...]   (default: both)
#   RUN_M5=checkpoints/m5 RUN_OR=checkpoints/online-retail BUDGETS="0.5 1.0" scripts/bench_gbdt.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
compare_target="${GBDT_TARGET_DIR:-$HOME/.cache/restock/gbdt-target}"
(cd bench/gbdt-compare && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$compare_target" cargo build -q --release)
compare="$compare_target/release/gbdt-compare"
sets=("$@"); [ ${#sets[@]} -gt 0 ] || sets=(m5 online-retail)
out="${OUT:-out/bench_gbdt}"
for set in "${sets[@]}"; do
  case "$set" in
    m5) run="${RUN_M5:-checkpoints/m5}" ;;
    online-retail) run="${RUN_OR:-checkpoints/online-retail}" ;;
    *) echo "unknown data set $set (m5 or online-retail)" >&2; exit 2 ;;
  esac
  copy="$out/$set/run"
  rm -rf "$out/$set" && mkdir -p "$out/$set" && cp -r "$run" "$copy"
  echo "== $set: the trees' rows of a copy of $run"
  "$bin" calibrate --run "$copy" --no-eval --export-tree-rows "$out/$set/rows" 2>&1 \
    | grep -E "trees:|rows written"
  # shellcheck disable=SC2086
  "$compare" "$out/$set/rows" ${BUDGETS:-0.5 1.0}
done
