-- The tables of the weekly job (`restock run`) in a database (PostgreSQL; for MySQL/MariaDB use
-- VARCHAR(255) for TEXT keys). The job checks the input tables' columns at the start of each
-- cycle (an error names a missing table or column) and creates missing output tables itself
-- with these columns; creating them here first lets a DBA set types, keys and grants.
-- Output tables are named with [output] table_prefix (here job_); each has a `cycle` column
-- (the cycle's Monday), and a cycle replaces its own rows in all of them in one transaction.

-- Inputs: a snapshot of each is taken at the start of a cycle (cycles/<week>/inputs/).
CREATE TABLE job_inventory (        -- stock on hand at the start of the cycle's week
    unique_id TEXT PRIMARY KEY,
    on_hand   DOUBLE PRECISION NOT NULL CHECK (on_hand >= 0)
);
CREATE TABLE job_open_orders (      -- purchase orders placed and not yet received
    unique_id  TEXT NOT NULL,
    arrival_ds DATE NOT NULL,
    quantity   DOUBLE PRECISION NOT NULL CHECK (quantity >= 0)
);
CREATE TABLE job_sku_params (       -- empty cells take the plan config's defaults
    unique_id             TEXT PRIMARY KEY,
    unit_cost             DOUBLE PRECISION NOT NULL,
    unit_price            DOUBLE PRECISION,
    lead_time_weeks       BIGINT,
    case_pack             BIGINT,
    moq                   BIGINT,
    supplier              TEXT,
    unit_volume           DOUBLE PRECISION,
    min_stock             DOUBLE PRECISION,
    max_stock             DOUBLE PRECISION,
    holding_rate_per_week DOUBLE PRECISION,
    shortage_cost         DOUBLE PRECISION,
    service_level         DOUBLE PRECISION
);
CREATE TABLE job_future (           -- optional: the known future of the forecast weeks
    unique_id  TEXT NOT NULL,       -- (the promotion plan); a SKU it names needs a row for
    ds         DATE NOT NULL,       -- each forecast week (its Monday)
    event_days DOUBLE PRECISION,    -- 0..7, the same for every SKU in a week
    price      DOUBLE PRECISION,
    promo      DOUBLE PRECISION     -- 0..1
);
-- Sales: see sql/sales.sql.

-- Outputs.
CREATE TABLE job_forecasts (        -- quantiles of weekly demand, per SKU and forecast week
    cycle DATE NOT NULL, unique_id TEXT NOT NULL, ds DATE NOT NULL, model TEXT NOT NULL,
    q10 DOUBLE PRECISION, q50 DOUBLE PRECISION, q90 DOUBLE PRECISION
);
CREATE TABLE job_orders (           -- the plan's order lines; order_ds = cycle: place them now
    cycle DATE NOT NULL, unique_id TEXT NOT NULL, order_ds DATE NOT NULL, arrival_ds DATE NOT NULL,
    quantity DOUBLE PRECISION, cases DOUBLE PRECISION, cost DOUBLE PRECISION, reason TEXT
);
CREATE TABLE job_alerts (           -- stockout_risk (size: units short) or overstock (size: weeks)
    cycle DATE NOT NULL, unique_id TEXT NOT NULL, alert TEXT NOT NULL,
    on_hand DOUBLE PRECISION, on_order DOUBLE PRECISION, demand DOUBLE PRECISION,
    size DOUBLE PRECISION, reason TEXT
);
CREATE TABLE job_history (          -- the feedback loop: earlier cycles scored by this one
    cycle DATE NOT NULL, scored_cycle TEXT NOT NULL, kind TEXT NOT NULL, model TEXT NOT NULL,
    class TEXT NOT NULL, metric TEXT NOT NULL, value DOUBLE PRECISION
);
CREATE TABLE job_cycles (           -- one row per finished cycle
    cycle DATE NOT NULL, data_end TEXT, skus BIGINT, model TEXT, valid_loss DOUBLE PRECISION,
    orders_now BIGINT, orders_now_cost DOUBLE PRECISION, order_lines BIGINT,
    stockout_alerts BIGINT, overstock_alerts BIGINT,
    plan_status TEXT, units_ordered DOUBLE PRECISION,            -- the plan summary
    purchase_cost DOUBLE PRECISION, holding_cost DOUBLE PRECISION,
    shortage_cost DOUBLE PRECISION, total_cost DOUBLE PRECISION
);
CREATE INDEX job_forecasts_cycle ON job_forecasts (cycle);
CREATE INDEX job_orders_cycle ON job_orders (cycle);
