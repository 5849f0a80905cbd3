#!/usr/bin/env bash
# Prepare, on this machine, the GPU run of scripts/bench_gpu.sh for the device tool, in folders git
# ignores: .gpu/ (the default build, stripped and xz-compressed, M5's weekly data and the cuDNN
# reference) and .gl/ (the Vulkan loader debs the device README asks for). Then, on the device,
# carrying .gpu and .gl: `bash scripts/gpu_run.sh`.
# Other builds to compare go beside it as .gpu/restock-<label>.xz (an older commit's build as the
# same card's baseline; FUSION=1 packs this commit's `gpu-fusion` build as restock-fusion.xz,
# built first so that the target folder ends as the default build). The device takes 64 MiB:
# two builds (about 27 MB each) and the rest fit.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
exclude="$(git rev-parse --git-path info/exclude)"
mkdir -p "$(dirname "$exclude")" .gpu .gl
for d in /.gpu/ /.gl/; do grep -qxF "$d" "$exclude" 2>/dev/null || echo "$d" >> "$exclude"; done
bin="$CARGO_TARGET_DIR/debug/restock"
pack() { # name
  strip -o "/tmp/$1.stripped" "$bin"
  xz -9 -T1 -c "/tmp/$1.stripped" > ".gpu/$1.xz.tmp" && mv ".gpu/$1.xz.tmp" ".gpu/$1.xz"
  rm -f "/tmp/$1.stripped"
}
if [ -n "${FUSION:-}" ]; then
  cargo build --workspace --features restock-cli/gpu-fusion
  pack restock-fusion
fi
cargo build --workspace
pack restock
if [ ! -f .gpu/m5-weekly.parquet ]; then
  "$bin" --quiet ingest --preset m5 --input ../shared/data/m5 --out .gpu/m5-weekly.parquet
fi
cp ../shared/bench/torch_lstm_reference.py .gpu/ 2>/dev/null || echo "no cuDNN reference beside the checkout"
if ! ls .gl/libvulkan1_*.deb > /dev/null 2>&1; then
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  mkdir -p /tmp/amd64/partial
  apt-get $o update > /dev/null
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -sh .gpu .gl
