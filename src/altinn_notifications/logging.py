"""structlog configuration. Never log identity numbers, addresses, message bodies or secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

#: Writes one access-log line (`api.tracing`); set by `configure_logging` for the configured format.
AccessWriter = Callable[[dict[str, Any]], None]
_access_writer: AccessWriter | None = None


def configure_logging(level: str = "info", fmt: str = "console") -> None:
    numeric = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(format="%(message)s", stream=sys.stderr, level=numeric, force=True)
    # httpx logs every outbound URL at INFO; URLs may carry SAS signatures or identifiers.
    logging.getLogger("httpx").setLevel(max(numeric, logging.WARNING))
    # Alembic narrates every migration step at INFO ("Context impl", "Running upgrade ..."): shown at debug.
    logging.getLogger("alembic").setLevel(
        numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    )
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: the rich default prints every frame's local variables, which may hold personal data.
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    global _access_writer
    _access_writer = _access_writer_for(fmt, sys.stderr) if numeric <= logging.INFO else _no_access_lines


def access_line(fields: dict[str, Any]) -> None:
    """One access-log line at info level with `fields` (plain str/int/float values, no secrets).

    Written directly in the configured format, like structlog's own lines but without its processor
    chain: the line is written for every request, and structlog's console renderer alone costs about as
    much CPU as a cheap request.
    """
    writer = _access_writer
    if writer is None:  # logging never configured (a library use): the ordinary logger
        structlog.get_logger("altinn_notifications.access").info("request", **fields)
    else:
        writer(fields)


def _no_access_lines(fields: dict[str, Any]) -> None:
    return None


def _timestamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _access_writer_for(fmt: str, stream: TextIO) -> AccessWriter:
    def write_json(fields: dict[str, Any]) -> None:
        line = {**fields, "event": "request", "level": "info", "timestamp": _timestamp()}
        stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        stream.flush()

    def write_console(fields: dict[str, Any]) -> None:
        # The console renderer's layout: time, padded level, padded event, sorted key=value pairs.
        pairs = " ".join(f"{key}={fields[key]}" for key in sorted(fields))
        stream.write(f"{_timestamp()} [info     ] {'request':<30} {pairs}\n")
        stream.flush()

    return write_json if fmt == "json" else write_console


def mask_id(value: object) -> str:
    """Mask an identifier for logs, as the reference does (first 8 characters, then ****)."""
    text = str(value)
    return text[:8] + "****"
