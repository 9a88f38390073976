"""Per-sender rate limits and daily quotas (README "Rate limits and quotas"), shared by every API process
through PostgreSQL."""
