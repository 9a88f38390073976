"""Statistics for operators and the data warehouse: monthly metrics per org, daily Parquet exports (docs/compatibility.md C17)."""
