"""Prometheus metrics (`GET /metrics`): of this process, or of all API processes of `api --processes N`
(prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`). Labels never carry ids, addresses or
orgs' data."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ORDERS_REGISTERED = Counter(
    "notifications_orders_registered_total", "Orders accepted by the API.", ["channel"]
)
ORDERS_PROCESSED = Counter(
    "notifications_orders_processed_total", "Orders processed by the workers, by outcome.", ["outcome"]
)
NOTIFICATIONS_GENERATED = Counter(
    "notifications_generated_total", "Notification rows generated.", ["channel", "result"]
)
NOTIFICATIONS_SENT = Counter(
    "notifications_send_results_total", "Provider hand-offs by immediate result.", ["channel", "result"]
)
DELIVERY_REPORTS = Counter(
    "notifications_delivery_reports_total",
    "Delivery reports applied or dead-lettered.",
    ["channel", "outcome"],
)
RATE_LIMITED = Counter(
    "notifications_rate_limited_total", "Requests refused with 429, by the limit met.", ["limit"]
)
# Read from the database at scrape time: with several API processes, the most recent reading counts.
QUEUE_DEPTH = Gauge(
    "notifications_queue_depth", "Work waiting in the database.", ["queue"], multiprocess_mode="mostrecent"
)
CLAIM_SECONDS = Histogram(
    "notifications_claim_seconds",
    "Time to claim a batch.",
    ["queue"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5),
)
SEND_SECONDS = Histogram(
    "notifications_send_seconds",
    "Time of one provider hand-off.",
    ["channel"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
