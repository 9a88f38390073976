"""Greedy and slow clients against a real `api` process over real sockets (api/limits.py, api/server.py).

The process runs on the test database with a 1 MiB body limit and a 1 s header timeout. Uploads go through
raw sockets, as an attacker's would: chunked (no Content-Length to trust), far larger than the limit, and
the client keeps sending until the server answers, as a careful HTTP client does.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from altinn_notifications.config import Settings

pytestmark = pytest.mark.slow

V1 = "/notifications/api/v1"
LIMIT = 1024 * 1024
UPLOAD = 100 * 1024 * 1024
CHUNK = 64 * 1024


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def api(settings: Settings) -> Iterator[tuple[int, int]]:
    """The port and pid of a running `api` process."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFICATIONS_")}
    env.update(
        NOTIFICATIONS_DATABASE_URL=str(settings.database_url),
        NOTIFICATIONS_RUN_MIGRATIONS="false",
        NOTIFICATIONS_DATA_DIR=tempfile.mkdtemp(prefix="slow-clients-"),
        NOTIFICATIONS_MAX_REQUEST_BODY_BYTES=str(LIMIT),
        NOTIFICATIONS_REQUEST_HEADER_TIMEOUT_SECONDS="1",
        PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"),
    )
    code = "from altinn_notifications.cli import app; app()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=2) as http:
            for _ in range(600):
                with contextlib.suppress(httpx.HTTPError):
                    if http.get("/health").status_code == 200:
                        break
                assert process.poll() is None, "the api process exited"
                time.sleep(0.1)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _upload(port: int, total: int, answers: list[bytes]) -> None:
    """POST a chunked body of `total` bytes, stopping as soon as the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(
            f"POST {V1}/orders/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        chunk = f"{CHUNK:x}\r\n".encode() + b" " * CHUNK + b"\r\n"
        sent = 0
        try:
            while sent < total:
                if select.select([sock], [], [], 0)[0]:
                    break  # the server answered before the body ended
                sock.sendall(chunk)
                sent += CHUNK
            else:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answers.append(_read_until_closed(sock))


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    with contextlib.suppress(ConnectionResetError):
        while len(received) < 65536 and (data := sock.recv(4096)):
            received += data
    return received


def test_three_concurrent_huge_chunked_posts_are_refused_without_buffering_them(api: tuple[int, int]) -> None:
    api_port, pid = api
    before = _peak_rss(pid)
    answers: list[bytes] = []
    threads = [threading.Thread(target=_upload, args=(api_port, UPLOAD, answers)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == 3
    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 413"), answer[:200]
        assert b"connection: close" in head.lower()
        assert b'"status":413' in body
    # Each body is read at most up to the limit: the process grows by far less than one upload.
    assert _peak_rss(pid) - before < 3 * LIMIT + 32 * 1024 * 1024


def test_declared_length_over_the_limit_is_refused_before_the_body_is_sent(api: tuple[int, int]) -> None:
    api_port, _ = api
    with socket.create_connection(("127.0.0.1", api_port), timeout=30) as sock:
        sock.sendall(
            f"POST {V1}/orders/email HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {UPLOAD}\r\n\r\n".encode()
        )
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_headers_sent_too_slowly_lose_the_connection(api: tuple[int, int]) -> None:
    api_port, _ = api
    request = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Padding: {'a' * 200}\r\n\r\n".encode()
    closed_after = None
    with socket.create_connection(("127.0.0.1", api_port), timeout=30) as sock:
        for index in range(len(request)):
            try:
                sock.sendall(request[index : index + 1])
            except (BrokenPipeError, ConnectionResetError):
                closed_after = index
                break
            if select.select([sock], [], [], 0.1)[0]:
                closed_after = index
                assert sock.recv(4096) == b""  # closed, not answered
                break
    # One byte per 0.1 s: the request would take over 20 s; the server closed the connection long before.
    assert closed_after is not None and closed_after < len(request) - 1


def test_health_answers_while_huge_uploads_are_refused(api: tuple[int, int]) -> None:
    api_port, _ = api
    answers: list[bytes] = []
    upload = threading.Thread(target=_upload, args=(api_port, UPLOAD, answers))
    upload.start()
    with httpx.Client(base_url=f"http://127.0.0.1:{api_port}", trust_env=False, timeout=30) as http:
        assert http.get("/health").text == "Healthy"
    upload.join(timeout=120)
    assert answers and answers[0].startswith(b"HTTP/1.1 413")


def test_endless_headers_are_refused(api: tuple[int, int]) -> None:
    api_port, _ = api
    with socket.create_connection(("127.0.0.1", api_port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        answer = b""
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            for _ in range(1000):  # 1,000 headers of 1 KiB: far over the 16 KiB default
                sock.sendall(b"X-Padding: " + b"a" * 1024 + b"\r\n")
                if select.select([sock], [], [], 0)[0]:
                    break
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
