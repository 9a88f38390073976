"""The embedded PostgreSQL (pgserver: real PostgreSQL binaries from PyPI) used when no URL is set."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import signal
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` (processes starting a server in one data dir take turns)."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _import_pgserver() -> None:
    # pgserver asks platformdirs for a runtime dir (for its lock file) when imported; without XDG_RUNTIME_DIR
    # (containers, CI, cron) platformdirs warns and falls back to /tmp/runtime-<uid>, which serves as well.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR", category=UserWarning)
        import pgserver  # noqa: F401  (imported lazily: only the embedded mode needs it)


def start_embedded_postgres(data_dir: Path, *, keep_running: bool = False) -> str:
    """Start (or reuse) a PostgreSQL server in `data_dir/pg`, kept between runs; return its URL.

    With `keep_running` the server outlives this process (the test suite's processes share one and
    `stop_embedded_postgres` stops it); otherwise it stops when the last process using it exits.
    Several processes may call this at once for one data dir: one starts the server, the others reuse it.
    """
    _import_pgserver()
    import pgserver

    # pgserver narrates process bookkeeping at INFO, also from its exit hook, after logging may be closed.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    pgdata = (data_dir / "pg").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    cleanup = None if keep_running else "stop"
    with _exclusive(data_dir.resolve() / "pg.lock"):
        server = pgserver.get_server(pgdata, cleanup_mode=cleanup)  # type: ignore[attr-defined]
    url: str = server.get_uri()
    log.debug("embedded postgres ready", data_dir=str(pgdata))
    return url


def embedded_postgres_pid(data_dir: Path) -> int | None:
    """The pid of the postmaster running in `data_dir/pg`, or None when none runs there."""
    try:
        pid = int((data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by the system user pgserver runs PostgreSQL as under root
    return pid


def stop_embedded_postgres(data_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the PostgreSQL running in `data_dir/pg` (one left running by `keep_running`); True if one was.

    Fast shutdown (SIGINT: open sessions are ended), then immediate (SIGQUIT) if it takes too long.
    """
    pid = embedded_postgres_pid(data_dir)
    if pid is None:
        return False
    for sig, grace in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if embedded_postgres_pid(data_dir) != pid:
                return True
            time.sleep(0.05)
    log.warning("embedded postgres did not stop", pid=pid, data_dir=str(data_dir / "pg"))
    return True
