"""Attachments of composed emails: fetched by HTTP GET on their SAS URLs just before the send (docs/compatibility.md C7,
10.7.1).

Per message: at most `concurrency` (5) downloads at a time, each limited to `timeout` (30 s) in total, and
the first failure cancels the rest. How a download ends:

| answer                                                    | outcome                                     |
|-----------------------------------------------------------|---------------------------------------------|
| 2xx                                                       | the file, with the ordered name and type    |
| 408, 429, 5xx; timeout; connection or protocol error      | transient: the email is retried with        |
|                                                           | dispatch's back-off (never dropped; the     |
|                                                           | notification's expiry still applies)        |
| any other 4xx                                             | `Failed_InvalidSasUrl` (final)              |
| 1xx/3xx (redirects are not followed: the URL was checked  | `Failed_InvalidSasUrl` (final)              |
| to be Azure Blob Storage, a redirect would leave it); a   |                                             |
| URL httpx cannot use                                      |                                             |
| more than `max_total_bytes` in all (announced or read)    | `Failed_PayloadTooLarge` (final)            |
| a host that resolves to no allowed address (loopback,     | `Failed_InvalidSasUrl` (final)              |
| private, link-local, ...: `processing/outbound.py`)       |                                             |

SAS URLs are credentials (docs/compatibility.md C2, C7): they never appear in logs, outcome details or exceptions that
leave this module (details name the attachment's position and the HTTP status only). httpx itself logs
every request URL at INFO; a filter on its logger strips the query (where the SAS signature is) from
any URL that carries a `sig` parameter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog

from altinn_notifications.dispatch.models import AttachmentRef
from altinn_notifications.processing.outbound import OutboundPolicy, OutboundRefused, outbound_client
from altinn_notifications.providers.base import Attachment

log = structlog.get_logger(__name__)

INVALID_SAS_URL = "Failed_InvalidSasUrl"
PAYLOAD_TOO_LARGE = "Failed_PayloadTooLarge"

DEFAULT_CONCURRENCY = 5
DEFAULT_TIMEOUT_SECONDS = 30.0
#: ACS refuses an email over 10 MB anyway (`Failed_PayloadTooLarge`); this cap only bounds what a worker
#: holds in memory for one message.
DEFAULT_MAX_TOTAL_BYTES = 50 * 1024 * 1024

_TRANSIENT_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class Downloaded:
    files: tuple[Attachment, ...]
    total_bytes: int


@dataclass(frozen=True)
class DownloadFailed:
    """`result` is the final result (`Failed_InvalidSasUrl`, `Failed_PayloadTooLarge`), or None when the
    failure is transient and the email is to be tried again later."""

    result: str | None
    detail: str

    @property
    def transient(self) -> bool:
        return self.result is None


class AttachmentSource(Protocol):
    """Where the files of a composed email come from (a port: HTTP in production, anything in tests)."""

    async def download(self, attachments: Sequence[AttachmentRef]) -> Downloaded | DownloadFailed: ...

    async def close(self) -> None: ...


class _Failed(Exception):
    def __init__(self, result: str | None, detail: str) -> None:
        super().__init__(detail)
        self.result = result
        self.detail = detail


class _Budget:
    """Bytes left for one message's attachments, shared by its concurrent downloads."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, size: int, position: int) -> None:
        self.left -= size
        if self.left < 0:
            raise _Failed(PAYLOAD_TOO_LARGE, f"attachment {position}: attachments exceed the size limit")


def classify_status(status: int) -> str | None:
    """The final result of a download that answered `status` (not 2xx); None: transient."""
    if status in _TRANSIENT_STATUS or status >= 500:
        return None
    return INVALID_SAS_URL


class _HideSasQueries(logging.Filter):
    """Strips the query of URLs with a SAS signature from httpx's request log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(_is_sas(a) for a in record.args):
            record.args = tuple(
                a.copy_with(query=None) if isinstance(a, httpx.URL) and _is_sas(a) else a for a in record.args
            )
        return True


def _is_sas(value: object) -> bool:
    if not isinstance(value, httpx.URL):
        return False
    return any(key.lower() == "sig" for key in value.params)


def hide_sas_urls_in_httpx_logs() -> None:
    """Install the filter once (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _HideSasQueries) for f in logger.filters):
        logger.addFilter(_HideSasQueries())


class HttpAttachmentDownloader:
    """Downloads attachments over HTTP(S) with its own outbound client (see the module docstring): only to
    targets `policy` allows (default: public addresses), without cookies or redirects. A `transport` (tests)
    replaces the vetting one."""

    def __init__(
        self,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        policy: OutboundPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_total_bytes = max_total_bytes
        self._http = outbound_client(
            policy or OutboundPolicy(), timeout=httpx.Timeout(timeout), transport=transport
        )
        hide_sas_urls_in_httpx_logs()

    def __repr__(self) -> str:
        return f"HttpAttachmentDownloader(concurrency={self.concurrency}, timeout={self.timeout})"

    async def download(self, attachments: Sequence[AttachmentRef]) -> Downloaded | DownloadFailed:
        if not attachments:
            return Downloaded((), 0)
        slots = asyncio.Semaphore(self.concurrency)
        budget = _Budget(self.max_total_bytes)

        async def one(position: int, ref: AttachmentRef) -> Attachment:
            async with slots:
                return await self._get(position, ref, budget)

        failure: _Failed | None = None
        tasks: list[asyncio.Task[Attachment]] = []
        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the others
                tasks = [group.create_task(one(i, ref)) for i, ref in enumerate(attachments, start=1)]
        except* _Failed as failed:
            errors = [e for e in failed.exceptions if isinstance(e, _Failed)]
            # Several at once: a final answer wins over a transient one (a retry would end the same way).
            failure = next((e for e in errors if e.result is not None), errors[0])
        if failure is not None:
            return DownloadFailed(failure.result, failure.detail)
        files = tuple(t.result() for t in tasks)
        return Downloaded(files, sum(len(f.content) for f in files))

    async def _get(self, position: int, ref: AttachmentRef, budget: _Budget) -> Attachment:
        where = f"attachment {position}"
        try:
            async with asyncio.timeout(self.timeout), self._http.stream("GET", ref.sas_url) as response:
                status = response.status_code
                if not 200 <= status < 300:
                    raise _Failed(classify_status(status), f"{where}: HTTP {status}")
                announced = response.headers.get("content-length", "")
                if announced.isdigit() and int(announced) > budget.left:
                    raise _Failed(PAYLOAD_TOO_LARGE, f"{where}: attachments exceed the size limit")
                chunks: list[bytes] = []
                async for chunk in response.aiter_bytes():
                    budget.take(len(chunk), position)
                    chunks.append(chunk)
            return Attachment(filename=ref.filename, mime_type=ref.mime_type, content=b"".join(chunks))
        except _Failed:
            raise
        except OutboundRefused as exc:
            log.warning("attachment download refused", position=position, reason=exc.reason)
            raise _Failed(INVALID_SAS_URL, f"{where}: target refused ({exc.reason})") from None
        except TimeoutError:
            raise _Failed(None, f"{where}: timed out") from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise _Failed(INVALID_SAS_URL, f"{where}: URL not usable") from None
        except (httpx.HTTPError, OSError) as exc:  # connection refused or reset, protocol errors
            raise _Failed(None, f"{where}: {type(exc).__name__}") from None
        except Exception as exc:  # anything else: retry later rather than lose the email
            log.warning("attachment download error", position=position, error=type(exc).__name__)
            raise _Failed(None, f"{where}: {type(exc).__name__}") from None

    async def close(self) -> None:
        await self._http.aclose()
