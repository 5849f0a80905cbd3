#!/usr/bin/env bash
# The weekly job against a database, as a new user would try it: a synthetic catalogue's sales,
# stock, open orders and SKU parameters loaded into tables (restock db-load), then two
# consecutive weeks of `restock run --config configs/job/synth_postgres.toml`, the second
# fine-tuned from the first; outputs in the job_* tables and out/job_db/.
# Usage: RESTOCK_DATABASE_URL=postgres://user:pass@localhost/db scripts/job_db_demo.sh [postgres|mysql]
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-postgres}"
: "${RESTOCK_DATABASE_URL:?set RESTOCK_DATABASE_URL to the connection URL of the database}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/restock/target}"
cargo build -q --workspace
bin="$CARGO_TARGET_DIR/debug/restock"
rm -rf out/job_db
"$bin" --quiet synth --skus 300 --out out/synth
for t in sales inventory open_orders sku_params; do
  table="job_$t"; [ "$t" = sales ] && table=synth_sales
  "$bin" db-load --kind "$kind" --input "out/synth/$t.csv" --table "$table"
done
# The synthetic ingest config, reading its sales from the table instead of the file.
sed -e '/^path = "sales.csv"/d' \
  -e 's/^\[columns\]/[source.database]\nkind = "'"$kind"'"\nurl_env = "RESTOCK_DATABASE_URL"\ntable = "synth_sales"\n\n[columns]/' \
  out/synth/ingest.toml > out/synth/ingest_db.toml
config="$(mktemp --suffix=.toml -p configs/job)"; trap 'rm -f "$config"' EXIT
sed -e "s/^kind = .*/kind = \"$kind\"/" configs/job/synth_postgres.toml > "$config"
# The first cycle's week: the last week of sales (read up to the week before it).
first_week=$(python3 -c "import datetime as d,csv; r=list(csv.DictReader(open('out/synth/sales.csv'))); m=max(x['ds'] for x in r); t=d.date.fromisoformat(m); mon=t-d.timedelta(days=t.weekday()); print(mon)")
"$bin" run --config "$config" --week "$first_week"
"$bin" run --config "$config"
echo "outputs: tables job_forecasts, job_orders, job_alerts, job_history, job_cycles; files in out/job_db/"
