"""Statistics for operators and the data warehouse: monthly metrics per org, daily Parquet exports (spec 5.2)."""
