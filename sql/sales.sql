-- The sales table restock's ingest reads from a database (PostgreSQL, MySQL/MariaDB): long
-- format, one row per SKU and day (or week, dated by its Monday). Column names are free: an
-- ingest config maps them ([columns]), as for a file; see configs/ingest/m5_postgres.toml.
-- Repeated (SKU, date) rows are allowed (summed, or refused with clean.duplicates = "reject"),
-- so the key is an index, not a primary key.
CREATE TABLE sales (
    unique_id  VARCHAR(128)     NOT NULL,  -- the SKU
    ds         DATE             NOT NULL,  -- the day (or the week's Monday)
    y          DOUBLE PRECISION,           -- units sold; NULL per clean.missing_target
    price      DOUBLE PRECISION,           -- optional covariates
    promo      DOUBLE PRECISION,           -- 0..1
    views      DOUBLE PRECISION,
    clicks     DOUBLE PRECISION,
    category   VARCHAR(128),               -- optional static attributes, as text
    store      VARCHAR(128)
);
CREATE INDEX sales_sku_day ON sales (unique_id, ds);
