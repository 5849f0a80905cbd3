#!/usr/bin/env bash
# Load the M5 subset's daily sales (../shared/data/m5/sales.parquet, 4.06M rows) into a database
# table `m5_sales` (replaced), then ingest it back from there, timed.
# Usage: RESTOCK_DATABASE_URL=postgres://user:pass@localhost/db scripts/load_m5_db.sh [postgres|mysql]
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-postgres}"
: "${RESTOCK_DATABASE_URL:?set RESTOCK_DATABASE_URL to the connection URL of the database}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
sales="$(cd .. && pwd)/shared/data/m5/sales.parquet"
[ -f "$sales" ] || { echo "no M5 subset at $sales" >&2; exit 2; }
/usr/bin/time -f "load: %e s, %M KB peak" "$bin" db-load --kind "$kind" --input "$sales" \
  --table m5_sales --url-env RESTOCK_DATABASE_URL
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
sed -e "s/^kind = .*/kind = \"$kind\"/" configs/ingest/m5_postgres.toml > "$work/m5_db.toml"
/usr/bin/time -f "ingest from $kind: %e s, %M KB peak" "$bin" --quiet ingest \
  --config "$work/m5_db.toml" --out "$work/m5_weekly.parquet"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r['input_rows'], 'rows,', r['output_skus'], 'SKUs,', r['output_rows'], 'SKU-weeks')" "$work/m5_weekly.quality.json"
