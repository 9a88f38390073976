"""`altinn-notifications send email|sms`: send a notification from a terminal, against any base URL.

    altinn-notifications send email --to ola@example.no --subject "Hei" --body "Hallo" --wait
    altinn-notifications send sms --to +4799999999 --person 12345678901 --body "Hallo"

Each recipient (`--to`, `--person`, `--org`, all repeatable) gets an order of its own (`POST
/future/orders`); its order id (the shipment id) is printed, one per line. `--wait` follows the orders to
their final state with a progress display on stderr, then prints each order's status and its
recipients'. The token comes from `--token`, `--token-file`, `ALTINN_NOTIFICATIONS_TOKEN`, or
Maskinporten (`--maskinporten-client-id` and `--maskinporten-key`, optionally `--altinn-exchange`).

Exit status: 0 sent (and, with `--wait`, completed with no failed recipient); 1 the service refused or
could not be reached; 2 bad usage or an invalid recipient (nothing sent); 3 `--wait` timed out; 4 an
order ended other than completed, or a recipient failed.

This module is also the client distribution's `altinn-notifications` script: it runs `send` itself and
hands every other command to the service's CLI when the service is installed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO
from uuid import UUID

from altinn_notifications_client import recipients
from altinn_notifications_client._version import __version__
from altinn_notifications_client.auth import SCOPE_CREATE, TokenProvider, as_provider
from altinn_notifications_client.client import Client
from altinn_notifications_client.errors import ApiError, InvalidRecipientError, NotificationsError
from altinn_notifications_client.models import (
    EmailContentType,
    EmailSendingOptions,
    NotificationChannel,
    NotificationDeliveryManifest,
    NotificationOrderChainRequest,
    NotificationRecipient,
    ProcessingLifecycle,
    SendingTimePolicy,
    SmsSendingOptions,
)

DEFAULT_BASE_URL = "http://localhost:5090"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMEOUT, EXIT_NOT_DELIVERED = 0, 1, 2, 3, 4


class UsageError(Exception):
    pass


def _common(parser: argparse.ArgumentParser) -> None:
    who = parser.add_argument_group("recipients (repeatable; one order each)")
    who.add_argument(
        "--to", action="append", default=[], metavar="ADDRESS", help="an email address or mobile number"
    )
    who.add_argument(
        "--person", action="append", default=[], metavar="NIN", help="a national identity number"
    )
    who.add_argument("--org", action="append", default=[], metavar="ORGNR", help="an organisation number")
    parser.add_argument("--body", required=True, help="the message ('-' reads it from standard input)")
    parser.add_argument("--reference", help="your reference (sendersReference)")
    parser.add_argument(
        "--send-time", type=datetime.fromisoformat, help="ISO 8601 time with zone; default now"
    )
    parser.add_argument("--wait", action="store_true", help="follow the orders to their final state")
    parser.add_argument("--timeout", type=float, default=300.0, help="how long --wait waits (s, default 300)")
    parser.add_argument("--interval", type=float, default=2.0, help="how often --wait polls (s, default 2)")
    where = parser.add_argument_group("service and token")
    where.add_argument(
        "--base-url",
        default=os.environ.get("ALTINN_NOTIFICATIONS_URL", DEFAULT_BASE_URL),
        help=f"the service's root [ALTINN_NOTIFICATIONS_URL] (default {DEFAULT_BASE_URL}; Altinn: https://platform.altinn.no)",
    )
    where.add_argument("--token", help="a bearer token [ALTINN_NOTIFICATIONS_TOKEN]")
    where.add_argument("--token-file", type=Path, help="a file holding the bearer token")
    where.add_argument("--request-timeout", type=float, default=30.0, help="timeout of each request (s)")
    where.add_argument("--maskinporten-client-id", help="get the token from Maskinporten as this client")
    where.add_argument("--maskinporten-key", type=Path, help="its private key: PEM or JWK file")
    where.add_argument("--maskinporten-kid", help="the key's kid (default: the JWK's)")
    where.add_argument(
        "--maskinporten-env", choices=("prod", "test"), default="prod", help="Maskinporten environment"
    )
    where.add_argument(
        "--altinn-exchange", action="store_true", help="exchange the Maskinporten token for an Altinn token"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="altinn-notifications", description="Altinn Notifications sender client."
    )
    parser.add_argument("--version", action="version", version=f"altinn-notifications-client {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="send an email or SMS notification")
    channels = send.add_subparsers(dest="channel", required=True)
    email = channels.add_parser("email", help="send an email")
    email.add_argument("--subject", required=True)
    email.add_argument("--from", dest="sender", help="the sender's email address")
    email.add_argument("--html", action="store_true", help="the body is HTML")
    _common(email)
    sms = channels.add_parser("sms", help="send an SMS")
    sms.add_argument("--sender", help="the sender's name or number")
    sms.add_argument(
        "--anytime",
        action="store_true",
        help="send at once at any hour (the service's default holds SMS to Norwegian daytime, 09-17)",
    )
    _common(sms)
    return parser


def _token(args: argparse.Namespace) -> TokenProvider:
    if args.maskinporten_client_id:
        if not args.maskinporten_key:
            raise UsageError("--maskinporten-client-id needs --maskinporten-key")
        from altinn_notifications_client.auth import MaskinportenToken
        from altinn_notifications_client.maskinporten import PRODUCTION, TEST, MaskinportenConfig

        config = MaskinportenConfig.with_key(
            args.maskinporten_client_id,
            args.maskinporten_key.read_text(),
            kid=args.maskinporten_kid,
            environment=TEST if args.maskinporten_env == "test" else PRODUCTION,
        )
        return MaskinportenToken(config, SCOPE_CREATE, exchange_for_altinn=args.altinn_exchange)
    token = args.token or (args.token_file.read_text().strip() if args.token_file else None)
    token = token or os.environ.get("ALTINN_NOTIFICATIONS_TOKEN")
    if not token:
        raise UsageError(
            "no token: give --token, --token-file, ALTINN_NOTIFICATIONS_TOKEN or Maskinporten options"
        )
    return as_provider(token)


def _recipients(args: argparse.Namespace, body: str) -> list[NotificationRecipient]:
    if not (args.to or args.person or args.org):
        raise UsageError("give at least one recipient: --to, --person or --org")
    email: EmailSendingOptions | None = None
    sms: SmsSendingOptions | None = None
    if args.channel == "email":
        content = EmailContentType.Html if args.html else EmailContentType.Plain
        email = recipients.email_settings(args.subject, body, sender=args.sender, content_type=content)
        channel = NotificationChannel.Email
        direct = [recipients.to_email(to, email) for to in args.to]
    else:
        policy = SendingTimePolicy.Anytime if args.anytime else None
        sms = recipients.sms_settings(body, sender=args.sender, sending_time_policy=policy)
        channel = NotificationChannel.Sms
        direct = [recipients.to_sms(to, sms) for to in args.to]
    people = [recipients.to_person(nin, channel=channel, email=email, sms=sms) for nin in args.person]
    orgs = [recipients.to_organization(org, channel=channel, email=email, sms=sms) for org in args.org]
    return direct + people + orgs


class Progress:
    """One line on a terminal, rewritten in place; a line per change elsewhere (a log, a pipe)."""

    def __init__(self, stream: TextIO, total: int):
        self.stream, self.total = stream, total
        self.live = stream.isatty()
        self.started = time.monotonic()
        self.last: dict[UUID, str] = {}
        self.spin = 0

    def update(self, manifest: NotificationDeliveryManifest, finished: int) -> None:
        status = str(manifest.status)
        changed = self.last.get(manifest.shipment_id) != status
        self.last[manifest.shipment_id] = status
        elapsed = time.monotonic() - self.started
        if self.live:
            self.spin += 1
            mark = "|/-\\"[self.spin % 4]
            line = (
                f"{mark} {finished}/{self.total} final · {manifest.shipment_id}: {status} · {elapsed:.0f} s"
            )
            self.stream.write("\r\033[K" + line)
        elif changed:
            self.stream.write(f"{manifest.shipment_id}: {status} ({elapsed:.0f} s)\n")
        self.stream.flush()

    def done(self) -> None:
        if self.live:
            self.stream.write("\r\033[K")
            self.stream.flush()


def _follow(client: Client, ids: list[UUID], args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    progress = Progress(err, len(ids))
    deadline = time.monotonic() + args.timeout
    final: dict[UUID, NotificationDeliveryManifest] = {}
    while True:
        for shipment_id in ids:
            if shipment_id in final:
                continue
            manifest = client.get_shipment(shipment_id)
            if manifest.is_final:
                final[shipment_id] = manifest
            progress.update(manifest, len(final))
        if len(final) == len(ids):
            break
        if time.monotonic() >= deadline:
            progress.done()
            err.write(
                f"timed out after {args.timeout:.0f} s: {len(ids) - len(final)} order(s) not final yet\n"
            )
            return EXIT_TIMEOUT
        time.sleep(max(0.0, min(args.interval, deadline - time.monotonic())))
    progress.done()
    delivered = True
    for shipment_id in ids:
        manifest = final[shipment_id]
        out.write(f"{shipment_id} {manifest.status}\n")
        delivered &= manifest.status == ProcessingLifecycle.Order_Completed
        for recipient in manifest.recipients:
            out.write(f"  {recipient.type} {recipient.destination} {recipient.status}\n")
            delivered &= "_Failed" not in str(recipient.status)
    return EXIT_OK if delivered else EXIT_NOT_DELIVERED


def send(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    body = sys.stdin.read() if args.body == "-" else args.body
    chains = [
        NotificationOrderChainRequest(
            senders_reference=args.reference, requested_send_time=args.send_time, recipient=recipient
        )
        for recipient in _recipients(args, body)
    ]
    with Client(args.base_url, _token(args), timeout=args.request_timeout) as client:
        ids: list[UUID] = []
        for chain in chains:
            receipt = client.create_order_chain(chain)
            ids.append(receipt.notification.shipment_id)
            out.write(f"{receipt.notification.shipment_id}\n")
            out.flush()
        return _follow(client, ids, args, out, err) if args.wait else EXIT_OK


def run(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`send ...` with its arguments; returns the exit status."""
    out, err = out or sys.stdout, err or sys.stderr
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return send(args, out, err)
    except (UsageError, InvalidRecipientError) as exc:
        err.write(f"altinn-notifications send: {exc}\n")
        return EXIT_USAGE
    except ApiError as exc:
        err.write(f"altinn-notifications send: the service refused: {exc}\n")
        for field, messages in exc.errors.items():
            err.write(f"  {field}: {' '.join(messages)}\n")
        return EXIT_FAILED
    except NotificationsError as exc:
        err.write(f"altinn-notifications send: {exc}\n")
        return EXIT_FAILED


def main(argv: Sequence[str] | None = None) -> None:
    """The `altinn-notifications` script of the client distribution."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("send", "--version"):
        sys.exit(run(args))
    try:
        server_cli = importlib.import_module("altinn_notifications.cli")
    except ModuleNotFoundError as missing:
        if missing.name not in ("altinn_notifications", "altinn_notifications.cli"):
            raise
        if args and args[0] not in ("-h", "--help"):
            sys.stderr.write(
                f"'{args[0]}' needs the service (altinn-notifications) installed; this client offers: send\n"
            )
            sys.exit(EXIT_USAGE)
        build_parser().print_help()
        sys.exit(EXIT_OK)
    server_cli.app(args)


if __name__ == "__main__":
    main()
