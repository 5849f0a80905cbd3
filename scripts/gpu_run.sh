#!/usr/bin/env bash
# On the GPU machine (the device tool, carrying .gpu and .gl from scripts/gpu_pack.sh): unpack the
# Vulkan loaders and the two builds, then run scripts/bench_gpu.sh with both, the M5 row and the
# cuDNN reference. Rows go to $OUT/results.tsv and the log to $OUT/bench.log.
# SKIP_LOADERS=1 leaves the system's Vulkan loader alone (a dry run on a machine that has one).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-/tmp/bench-out}"; mkdir -p "$out"
if [ -z "${SKIP_LOADERS:-}" ]; then
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  for d in /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d; do
    if [ -f "$d/nvidia_icd.json" ]; then export VK_DRIVER_FILES="$d/nvidia_icd.json"; break; fi
  done
  echo "# Vulkan driver: ${VK_DRIVER_FILES:-none found}"
fi
for b in restock restock-fusion; do
  xz -dc ".gpu/$b.xz" > "/tmp/$b" 2>/dev/null || python3 -c \
    "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    ".gpu/$b.xz" "/tmp/$b"
  chmod +x "/tmp/$b"
done
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
torch=(); [ -f .gpu/torch_lstm_reference.py ] && torch=(TORCH_REF="$PWD/.gpu/torch_lstm_reference.py")
env BIN=/tmp/restock OTHER_BINS="fusion=/tmp/restock-fusion" \
  M5_WEEKLY="$PWD/.gpu/m5-weekly.parquet" "${torch[@]}" RESULTS="$out/results.tsv" \
  DEADLINE="${DEADLINE:-420}" WORK="${WORK:-/tmp/bench}" bash scripts/bench_gpu.sh 2>&1 | tee "$out/bench.log"
