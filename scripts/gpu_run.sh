#!/usr/bin/env bash
# On the GPU machine (the device tool, carrying .gpu and .gl from scripts/gpu_pack.sh): unpack the
# Vulkan loaders and the builds, then run scripts/bench_gpu.sh with them, the M5 row and the cuDNN
# reference. Rows go to $OUT/results.tsv and the log to $OUT/bench.log.
# SKIP_LOADERS=1 leaves the system's Vulkan loader alone (a dry run on a machine that has one).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/bench-out}"; mkdir -p "$out"
if [ -z "${SKIP_LOADERS:-}" ]; then
  if [ ! -f /tmp/.restock-loaders ]; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig && touch /tmp/.restock-loaders
  fi
  for d in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d; do
    if [ -f "$d/nvidia_icd.json" ]; then export VK_DRIVER_FILES="$d/nvidia_icd.json"; break; fi
  done
  echo "# Vulkan driver: ${VK_DRIVER_FILES:-none found}"
fi
# A second call on the same machine (another ONLY, to order the rows) reuses what the first
# unpacked, the catalogues and the bench networks; a build packed again is unpacked again.
for f in .gpu/*.xz; do
  b=$(basename "$f" .xz)
  sum=$(cksum < "$f")
  [ -x "/tmp/$b" ] && [ "$(cat "/tmp/$b.cksum" 2>/dev/null)" = "$sum" ] && continue
  xz -dc "$f" > "/tmp/$b" 2>/dev/null || python3 -c \
    "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$f" "/tmp/$b"
  chmod +x "/tmp/$b"
  echo "$sum" > "/tmp/$b.cksum"
done
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
torch=(); [ -f .gpu/torch_lstm_reference.py ] && torch=(TORCH_REF="$PWD/.gpu/torch_lstm_reference.py")
# Other builds packed beside restock (restock-<label>.xz: an older commit, the gpu-fusion build)
# run the GPU rows beside it: the same card's baseline.
others=""
for f in .gpu/restock-*.xz; do [ -f "$f" ] && b=$(basename "$f" .xz) && others="$others ${b#restock-}=/tmp/$b"; done
env BIN=/tmp/restock OTHER_BINS="$others" \
  M5_WEEKLY="$PWD/.gpu/m5-weekly.parquet" "${torch[@]}" RESULTS="$out/results.tsv" \
  DEADLINE="${DEADLINE:-420}" WORK="${WORK:-/tmp/bench}" bash scripts/bench_gpu.sh 2>&1 | tee -a "$out/bench.log"
