"""The embedded PostgreSQL (pgserver: real PostgreSQL binaries from PyPI) used when no URL is set."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


def start_embedded_postgres(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or reuse) a PostgreSQL server in `data_dir/pg`, kept between runs; return its URL.

    With `keep_running` the server outlives this process (used by tests that start server
    processes of their own against it); otherwise it stops when the last process using it exits.
    """
    import pgserver  # imported lazily: only the embedded mode needs it

    # pgserver narrates process bookkeeping at INFO, also from its exit hook, after logging may be closed.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path("/tmp").resolve()))
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    cleanup = None if keep_running else "stop"
    server = pgserver.get_server(pgdata, cleanup_mode=cleanup)  # type: ignore[attr-defined]
    url: str = server.get_uri()
    log.info("embedded postgres ready", data_dir=str(pgdata))
    return url
