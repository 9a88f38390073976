"""structlog configuration. Never log identity numbers, addresses, message bodies or secrets."""

from __future__ import annotations

import logging
import sys

import structlog


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


def mask_id(value: object) -> str:
    """Mask an identifier for logs, as the reference does (first 8 characters, then ****)."""
    text = str(value)
    return text[:8] + "****"
