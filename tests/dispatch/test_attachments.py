"""The attachment downloader of composed emails against a real HTTP server on loopback (docs/compatibility.md C12):
status mapping, concurrency, first failure cancels the rest, timeouts, size limit; SAS URLs kept secret."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from altinn_notifications.dispatch.attachments import (
    INVALID_SAS_URL,
    PAYLOAD_TOO_LARGE,
    Downloaded,
    DownloadFailed,
    HttpAttachmentDownloader,
    classify_status,
)
from altinn_notifications.dispatch.models import AttachmentRef
from altinn_notifications.processing.outbound import OutboundPolicy
from tests.conftest import LOOPBACK_NETWORKS
from tests.loopback import free_port, serve

SECRET = "c2VjcmV0LXNpZ25hdHVyZQ"
#: The loopback blob server is reachable only when allowed (the default refuses loopback).
LOOPBACK = OutboundPolicy.of(allowed=LOOPBACK_NETWORKS)


@dataclass
class Blobs:
    """`/status/{code}` answers that status; `/file/{size}` that many bytes after `delay` seconds;
    `/trickle` a body that arrives slowly. Counts requests in flight."""

    delay: float = 0.0
    in_flight: int = 0
    most_in_flight: int = 0
    finished: Counter[str] = field(default_factory=Counter)

    def app(self) -> Starlette:
        async def status(request: Request) -> Response:
            return Response(status_code=int(request.path_params["code"]))

        async def file(request: Request) -> Response:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                await asyncio.sleep(float(request.query_params.get("delay", self.delay)))
            finally:
                self.in_flight -= 1
            self.finished[request.url.path] += 1
            size = int(request.path_params["size"])
            return Response(bytes(i % 251 for i in range(size)), media_type="application/octet-stream")

        async def trickle(request: Request) -> StreamingResponse:
            async def body() -> AsyncIterator[bytes]:
                for _ in range(10):
                    await asyncio.sleep(0.1)
                    yield b"x" * 10

            return StreamingResponse(body())

        return Starlette(
            routes=[
                Route("/status/{code}", status),
                Route("/file/{size}", file),
                Route("/trickle", trickle),
            ]
        )


@pytest.fixture
async def blobs() -> AsyncIterator[tuple[Blobs, str]]:
    server = Blobs()
    async with serve(server.app()) as base:
        yield server, base


@pytest.fixture
async def downloader() -> AsyncIterator[HttpAttachmentDownloader]:
    d = HttpAttachmentDownloader(timeout=5.0, policy=LOOPBACK)
    yield d
    await d.close()


def ref(url: str, name: str = "a.pdf", mime: str = "application/pdf") -> AttachmentRef:
    separator = "&" if "?" in url else "?"
    return AttachmentRef(filename=name, mime_type=mime, sas_url=f"{url}{separator}sr=b&sp=r&sig={SECRET}")


def assert_no_secret(result: Downloaded | DownloadFailed) -> None:
    assert SECRET not in repr(result)
    if isinstance(result, DownloadFailed):
        assert "http" not in result.detail and "127.0.0.1" not in result.detail


async def test_files_arrive_with_their_names_types_and_sizes(
    blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader
) -> None:
    _, base = blobs
    result = await downloader.download(
        [ref(f"{base}/file/1000", "vedtak.pdf"), ref(f"{base}/file/10", "data.csv", "text/csv")]
    )
    assert isinstance(result, Downloaded)
    assert [(f.filename, f.mime_type, len(f.content)) for f in result.files] == [
        ("vedtak.pdf", "application/pdf", 1000),
        ("data.csv", "text/csv", 10),
    ]
    assert result.files[0].content == bytes(i % 251 for i in range(1000))
    assert result.total_bytes == 1010
    assert await downloader.download([]) == Downloaded((), 0)


@pytest.mark.parametrize(
    ("status", "result"),
    [
        (400, INVALID_SAS_URL),
        (401, INVALID_SAS_URL),
        (403, INVALID_SAS_URL),
        (404, INVALID_SAS_URL),
        (410, INVALID_SAS_URL),
        (302, INVALID_SAS_URL),
        (408, None),
        (429, None),
        (500, None),
        (502, None),
        (503, None),
    ],
)
async def test_http_answers_map_to_final_or_transient_failures(
    blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader, status: int, result: str | None
) -> None:
    _, base = blobs
    outcome = await downloader.download([ref(f"{base}/status/{status}")])
    assert outcome == DownloadFailed(result, f"attachment 1: HTTP {status}")
    assert outcome.transient is (result is None)
    assert classify_status(status) == result


async def test_network_errors_and_unusable_urls(downloader: HttpAttachmentDownloader) -> None:
    refused = await downloader.download([ref(f"http://127.0.0.1:{free_port()}/file/1")])
    assert isinstance(refused, DownloadFailed) and refused.transient
    assert refused.detail == "attachment 1: ConnectError"
    assert_no_secret(refused)
    unusable = await downloader.download([ref("ftp://account.blob.core.windows.net/x")])
    assert unusable == DownloadFailed(INVALID_SAS_URL, "attachment 1: URL not usable")


async def test_each_download_is_limited_in_time(blobs: tuple[Blobs, str]) -> None:
    _, base = blobs
    quick = HttpAttachmentDownloader(timeout=0.5, policy=LOOPBACK)
    try:
        started = asyncio.get_running_loop().time()
        silent = await quick.download([ref(f"{base}/file/10?delay=1.5")])  # no answer at all
        trickling = await quick.download([ref(f"{base}/trickle")])  # answers, but too slowly in total
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        await quick.close()
    assert isinstance(silent, DownloadFailed) and silent.transient
    assert trickling == DownloadFailed(None, "attachment 1: timed out")
    assert elapsed < 2.0


async def test_at_most_five_at_a_time(blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader) -> None:
    server, base = blobs
    server.delay = 0.2
    result = await downloader.download([ref(f"{base}/file/{100 + i}", f"f{i}.pdf") for i in range(12)])
    assert isinstance(result, Downloaded)
    assert [f.filename for f in result.files] == [f"f{i}.pdf" for i in range(12)]  # in order
    assert server.most_in_flight == 5


async def test_the_first_failure_cancels_the_rest(
    blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader
) -> None:
    server, base = blobs
    started = asyncio.get_running_loop().time()
    result = await downloader.download(
        [
            ref(f"{base}/file/10?delay=1.5"),
            ref(f"{base}/file/11?delay=1.5"),
            ref(f"{base}/status/403"),
            ref(f"{base}/file/12?delay=1.5"),
        ]
    )
    assert result == DownloadFailed(INVALID_SAS_URL, "attachment 3: HTTP 403")
    assert asyncio.get_running_loop().time() - started < 0.75  # nobody waited for the slow ones
    assert not server.finished


async def test_a_final_failure_wins_over_a_transient_one_at_the_same_time(
    blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader
) -> None:
    _, base = blobs
    result = await downloader.download([ref(f"{base}/status/503"), ref(f"{base}/status/404")])
    assert isinstance(result, DownloadFailed)
    # Whichever came first, the email ends either retried (503 first) or failed for good (404 first, or
    # both at once); when both are known, the final one is reported.
    assert result in (
        DownloadFailed(None, "attachment 1: HTTP 503"),
        DownloadFailed(INVALID_SAS_URL, "attachment 2: HTTP 404"),
    )


async def test_total_size_is_limited(blobs: tuple[Blobs, str]) -> None:
    _, base = blobs
    small = HttpAttachmentDownloader(max_total_bytes=1000, policy=LOOPBACK)
    try:
        fits = await small.download([ref(f"{base}/file/500"), ref(f"{base}/file/500")])
        too_large = await small.download([ref(f"{base}/file/600"), ref(f"{base}/file/600")])
        one_too_large = await small.download([ref(f"{base}/file/1001")])
    finally:
        await small.close()
    assert isinstance(fits, Downloaded) and fits.total_bytes == 1000
    assert isinstance(too_large, DownloadFailed) and too_large.result == PAYLOAD_TOO_LARGE
    assert one_too_large == DownloadFailed(
        PAYLOAD_TOO_LARGE, "attachment 1: attachments exceed the size limit"
    )


async def test_sas_urls_are_never_logged_or_shown(
    blobs: tuple[Blobs, str], downloader: HttpAttachmentDownloader, caplog: pytest.LogCaptureFixture
) -> None:
    _, base = blobs
    caplog.set_level(logging.DEBUG, logger="httpx")
    attachment = ref(f"{base}/file/10")
    assert SECRET not in repr(attachment)
    ok = await downloader.download([attachment])
    failed = await downloader.download([ref(f"{base}/status/403")])
    refused = await downloader.download([ref(f"http://127.0.0.1:{free_port()}/file/1")])
    for result in (ok, failed, refused):
        assert_no_secret(result)
    assert "HTTP Request: GET" in caplog.text and "/file/10" in caplog.text
    assert SECRET not in caplog.text and "sig=" not in caplog.text


async def test_loopback_attachment_urls_are_refused_by_default(blobs: tuple[Blobs, str]) -> None:
    server, base = blobs
    strict = HttpAttachmentDownloader(timeout=5.0)
    try:
        result = await strict.download([ref(f"{base}/file/10")])
        by_name = await strict.download([ref(f"{base.replace('127.0.0.1', 'localhost')}/file/10")])
    finally:
        await strict.close()
    assert result == DownloadFailed(INVALID_SAS_URL, "attachment 1: target refused (loopback)")
    assert by_name == result
    assert_no_secret(result)
    assert server.finished == Counter() and server.most_in_flight == 0  # never asked
