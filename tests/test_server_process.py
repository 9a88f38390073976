"""The real `altinn-notifications serve` process over real HTTP, with its own embedded PostgreSQL.

Starts the console script on a free port with no database URL (so it starts an embedded PostgreSQL in a
temporary data dir), mints a token with the CLI, places an order, reads it back, waits for the background
workers and the simulated email provider to deliver it, lists it with `outbox`, and stops the service
with SIGTERM. The process and its PostgreSQL are stopped in teardown whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("altinn-notifications")
V1 = "/notifications/api/v1"
START_TIMEOUT = 60.0
DELIVERY_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without proxies and without any `NOTIFICATIONS_*` setting."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("NOTIFICATIONS_") and name.lower() not in PROXY_VARIABLES
    }
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CLI), *args],
        env=env or _clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _postmaster_pid(data_dir: Path) -> int | None:
    try:
        first_line = (data_dir / "pg" / "postmaster.pid").read_text().splitlines()[0]
        return int(first_line)
    except (OSError, IndexError, ValueError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _embedded_postgres_stopped(data_dir: Path) -> bool:
    pid = _postmaster_pid(data_dir)
    return pid is None or not _pid_alive(pid)


def _stop_embedded_postgres(data_dir: Path) -> None:
    """Stop a PostgreSQL left running in `data_dir` (its postmaster, by the pid it recorded)."""
    if _wait_for(lambda: _embedded_postgres_stopped(data_dir), timeout=5.0):
        return
    pid = _postmaster_pid(data_dir)
    if pid is None:
        return
    for sig, grace in ((signal.SIGINT, 10.0), (signal.SIGQUIT, 5.0), (signal.SIGKILL, 5.0)):
        try:  # SIGINT is PostgreSQL's fast shutdown; SIGQUIT immediate; SIGKILL the last resort
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if _wait_for(lambda: not _pid_alive(pid), timeout=grace):
            return


@dataclass
class Service:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    stdout: Path
    stderr: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return (
            f"exit code: {self.process.poll()}\n--- stdout ---\n{self.stdout.read_text(errors='replace')[-4000:]}"
            f"\n--- stderr ---\n{self.stderr.read_text(errors='replace')[-4000:]}"
        )

    def token(self, org: str) -> str:
        result = _cli("token", "--org", org, "--data-dir", str(self.data_dir))
        assert result.returncode == 0, result.stderr
        token = result.stdout.strip()
        assert token.count(".") == 2, f"not a JWT: {token!r}"
        return token


@contextlib.contextmanager
def _running(*args: str) -> Iterator[Service]:
    """`altinn-notifications <args>` with embedded defaults in a fresh data dir, answering `Healthy`."""
    # A short path: PostgreSQL's Unix socket lives in the data dir, and socket paths are limited to ~100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="an-serve-"))
    port = _free_port()
    stdout, stderr = data_dir / "serve.stdout", data_dir / "serve.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [str(CLI), *args, "--port", str(port), "--data-dir", str(data_dir)],
            env=_clean_env(),
            stdout=out,
            stderr=err,
        )
    svc = Service(process, port, data_dir, stdout, stderr)
    try:
        with httpx.Client(base_url=svc.base_url, trust_env=False, timeout=5.0) as http:

            def healthy() -> bool:
                assert process.poll() is None, f"{args[0]} exited during start-up\n" + svc.output()
                try:
                    return http.get("/health").text == "Healthy"
                except httpx.TransportError:
                    return False

            assert _wait_for(healthy, START_TIMEOUT, interval=0.2), (
                f"{args[0]} never answered Healthy\n" + svc.output()
            )
        yield svc
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        _stop_embedded_postgres(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def service() -> Iterator[Service]:
    with _running("serve") as svc:
        yield svc


def _server_processes(pid: int) -> list[int]:
    """The uvicorn worker processes `pid` spawned (pgrep: Linux and macOS alike)."""
    found = subprocess.run(
        ["pgrep", "-P", str(pid), "-f", "multiprocessing.spawn"], capture_output=True, text=True, check=False
    )
    return [int(p) for p in found.stdout.split()]


def test_api_with_two_processes_shares_one_port_and_stops_gracefully() -> None:
    with _running("api", "--processes", "2") as api:
        servers = _server_processes(api.process.pid)
        assert len(servers) == 2, api.output()
        token = api.token("ttd")
        auth = {"Authorization": f"Bearer {token}"}
        order = {"subject": "Hello", "body": "Hi there", "recipients": [{"emailAddress": "a@example.no"}]}
        ids = []
        for _ in range(6):  # a connection each: the kernel spreads them over both processes
            with httpx.Client(base_url=api.base_url, trust_env=False, timeout=10.0) as http:
                placed = http.post(f"{V1}/orders/email", json=order, headers=auth)
                assert placed.status_code == 202, placed.text
                ids.append(placed.json()["orderId"])
        with httpx.Client(base_url=api.base_url, trust_env=False, timeout=10.0) as http:
            for order_id in ids:
                assert _get(http, f"{V1}/orders/{order_id}", token).status_code == 200
        # Whichever process answers, /metrics counts the orders of both.
        for _ in range(4):
            with httpx.Client(base_url=api.base_url, trust_env=False, timeout=10.0) as http:
                metrics = http.get("/metrics")
            assert metrics.status_code == 200
            assert 'notifications_orders_registered_total{channel="Email"} 6.0' in metrics.text, metrics.text

        exit_code, postgres_stopped = _terminate(api)
        servers_gone = _wait_for(lambda: not any(_pid_alive(c) for c in servers), timeout=10.0)
        assert (exit_code, postgres_stopped, servers_gone) == (0, True, True), api.output()


def _terminate(service: Service) -> tuple[int | None, bool]:
    """SIGTERM: (the exit code, None if it did not exit in time; whether its embedded PostgreSQL stopped)."""
    service.process.send_signal(signal.SIGTERM)
    try:
        exit_code: int | None = service.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        exit_code = None
    return exit_code, _wait_for(lambda: _embedded_postgres_stopped(service.data_dir), timeout=10.0)


def _get(http: httpx.Client, path: str, token: str) -> httpx.Response:
    return http.get(path, headers={"Authorization": f"Bearer {token}"})


def test_serve_places_delivers_and_stops_gracefully(service: Service) -> None:
    token = service.token("ttd")
    address = "someone@example.no"
    order = {
        "sendersReference": "server-process-test",
        "subject": "Hello",
        "body": "Hi there",
        "recipients": [{"emailAddress": address}],
    }
    with httpx.Client(base_url=service.base_url, trust_env=False, timeout=10.0) as http:
        placed = http.post(f"{V1}/orders/email", json=order, headers={"Authorization": f"Bearer {token}"})
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["orderId"]
        assert placed.headers["location"] == f"http://localhost:{service.port}{V1}/orders/{order_id}"

        read = _get(http, urlsplit(placed.headers["location"]).path, token)
        assert read.status_code == 200, read.text
        body = read.json()
        assert body["id"] == order_id
        assert body["creator"] == "ttd"
        assert body["sendersReference"] == "server-process-test"
        assert body["notificationChannel"] == "Email"
        assert body["recipients"] == [{"emailAddress": address}]
        assert body["emailTemplate"]["subject"] == "Hello"

        status = _get(http, f"{V1}/orders/{order_id}/status", token)
        assert status.status_code == 200, status.text
        assert status.json()["id"] == order_id

        # Another org's token does not see the order.
        other = service.token("digdir")
        for path in (f"{V1}/orders/{order_id}", f"{V1}/orders/{order_id}/status"):
            assert _get(http, path, other).status_code == 404

        # The background workers process the order and the simulated provider delivers the email.
        seen: dict[str, Any] = {}

        def delivered() -> bool:
            seen["status"] = _get(http, f"{V1}/orders/{order_id}/status", token).json()
            seen["email"] = _get(http, f"{V1}/orders/{order_id}/notifications/email", token).json()
            notifications = seen["email"].get("notifications", [])
            return (
                seen["status"]["processingStatus"]["status"] == "Completed"
                and len(notifications) == 1
                and notifications[0]["sendStatus"]["status"] == "Delivered"
            )

        assert _wait_for(delivered, DELIVERY_TIMEOUT, interval=0.1), (
            f"not delivered in {DELIVERY_TIMEOUT}s: {seen}\n{service.output()}"
        )
        notification = seen["email"]["notifications"][0]
        assert notification["recipient"]["emailAddress"] == address
        assert notification["succeeded"] is True
        assert seen["email"]["generated"] == 1 and seen["email"]["succeeded"] == 1
        summary = seen["status"]["notificationsStatusSummary"]["email"]
        assert summary["generated"] == 1 and summary["succeeded"] == 1

    outbox = _cli("outbox", "--json", "--data-dir", str(service.data_dir))
    assert outbox.returncode == 0, outbox.stderr
    assert f'"notificationId": "{notification["id"]}"' in outbox.stdout, outbox.stdout
    assert f'"to": "{address}"' in outbox.stdout, outbox.stdout

    _check_console_link(service)

    # Graceful shutdown: SIGTERM stops the service with exit code 0, and its embedded PostgreSQL with it.
    exit_code, postgres_stopped = _terminate(service)
    assert (exit_code, postgres_stopped) == (0, True), (
        f"after SIGTERM: exit code {exit_code} (want 0), embedded PostgreSQL stopped: {postgres_stopped}\n"
        + service.output()
    )


def _check_console_link(service: Service) -> None:
    """With the embedded defaults `serve` prints a one-time console sign-in link (to the terminal, not the
    log); it signs its first user in, and only once."""
    found = re.search(r"(http://localhost:\d+/console/signin/link\?t=\S+)", service.stderr.read_text())
    assert found, "no console sign-in link printed\n" + service.output()
    link = found.group(1).replace("localhost", "127.0.0.1")
    with httpx.Client(trust_env=False, timeout=10.0) as browser:
        first = browser.get(link)
        assert first.status_code == 200 and "an_console" in first.headers.get("set-cookie", ""), first.text
        assert browser.get(f"{service.base_url}/console").status_code == 200
    with httpx.Client(trust_env=False, timeout=10.0) as second:
        assert second.get(link).status_code == 401


def test_serve_refuses_a_malformed_setting() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="an-serve-"))
    try:
        result = _cli(
            "serve", "--data-dir", str(data_dir), env=_clean_env(NOTIFICATIONS_PORT="abc"), timeout=30
        )
        assert result.returncode != 0
        assert "NOTIFICATIONS_PORT" in result.stderr, result.stderr
        assert not (data_dir / "pg").exists()  # stopped before starting anything
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
