#!/usr/bin/env bash
# Ingest benchmark: the two real data sets of ../shared/data and a synthetic catalogue.
# Prints a table: data set, input rows, weekly rows, SKUs, wall seconds, peak RSS.
# Usage: scripts/bench_ingest.sh [SYNTH_SKUS]
# With RESTOCK_DATABASE_URL set (a postgres:// or mysql:// URL), the synthetic catalogue's sales
# are also loaded into a table `synth_sales` (restock db-load, not timed here) and ingested from
# it.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
shared="$(cd .. && pwd)/shared/data"
synth_skus="${1:-10000}"

row() { # name, restock ingest args...
  local name=$1; shift
  if /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --quiet ingest "$@" --out "$work/w.parquet" --force; then
    read -r wall rss < <(tail -1 "$work/time")
    python3 - "$work/w.quality.json" "$name" "$wall" "$rss" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"| {sys.argv[2]:<22} | {r['input_rows']:>10,} | {r['output_rows']:>9,} | {r['output_skus']:>6,} | {float(sys.argv[3]):>6.1f} | {int(sys.argv[4]) // 1024:>6} |")
PY
  else
    echo "| $name | failed |"
  fi
}

echo "| data set               | input rows | weekly    | SKUs   | wall s | RSS MB |"
echo "|------------------------|------------|-----------|--------|--------|--------|"
[ -d "$shared/m5" ] && row "M5 subset (preset)" --preset m5 --input "$shared/m5"
[ -d "$shared/online_retail" ] && row "Online Retail (preset)" --preset online-retail --input "$shared/online_retail"
"$bin" --quiet synth --skus "$synth_skus" --weeks 156 --out "$work/synth"
row "synthetic $synth_skus SKUs" --config "$work/synth/ingest.toml"
if [ -n "${RESTOCK_DATABASE_URL:-}" ]; then
  kind=postgres; case "$RESTOCK_DATABASE_URL" in mysql:*|mariadb:*) kind=mysql;; esac
  "$bin" --quiet db-load --kind "$kind" --input "$work/synth/sales.csv" --table synth_sales
  python3 - "$work/synth/ingest.toml" "$kind" > "$work/synth/ingest_db.toml" <<'PY'
import sys
text = open(sys.argv[1]).read()
old = '[source]\npath = "sales.csv"\n'
assert old in text, "unexpected synthetic ingest.toml"
text = text.replace(old, '[source.database]\nkind = "%s"\nurl_env = "RESTOCK_DATABASE_URL"\n'
                    'table = "synth_sales"\n[source]\n' % sys.argv[2])
print(text)
PY
  row "synthetic $synth_skus ($kind)" --config "$work/synth/ingest_db.toml"
fi
