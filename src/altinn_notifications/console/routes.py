"""The console's pages at `/console`: parse the request, call one flow, render a template.

Everything here needs a signed-in session except the sign-in form and the one-time link. Identifiers
typed by the user (recipient lookups, outbox filters, reveals) arrive in POST bodies only, so they never
appear in URLs, browser history or access logs.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from altinn_notifications.api.deps import ContainerDep
from altinn_notifications.bootstrap import Container
from altinn_notifications.config import SCOPE_SUPPORT
from altinn_notifications.console import flows, service
from altinn_notifications.console.models import OrderSearch
from altinn_notifications.console.security import (
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    ConsoleSession,
    delete_cookie,
    password_matches,
    set_cookie,
    tokens_match,
)
from altinn_notifications.errors import ForbiddenError, NotFoundError, UnauthorizedError
from altinn_notifications.support.models import DashboardNotificationExt, IdentifierKind
from altinn_notifications.vocabulary import OrderStatus

PREFIX = "/console"
HERE = Path(__file__).parent
STATIC = HERE / "static"
#: Files under /console/static (a fixed list: nothing else of the package is served).
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
OUTBOX_PAGE = 200
#: How far back an outbox detail page looks for its message.
OUTBOX_SCAN = 5_000
MAX_FORM_FIELD = 4_096


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in form."""


class FormRefused(Exception):
    """A changing form without the session's CSRF token."""


async def console_enabled(container: ContainerDep) -> None:
    if not container.settings.console_enabled:
        raise NotFoundError()


router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(console_enabled)])


@lru_cache(maxsize=1)
def _stylesheet() -> str:
    """The stylesheet, inlined into the sign-in page (static files need a session)."""
    return (STATIC / "console.css").read_text("utf-8")


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    return Jinja2Templates(directory=HERE / "templates")


def _security_headers(response: Response, nonce: str | None = None) -> Response:
    # No remote anything: scripts and styles of our own only (an email's HTML cannot load images or run).
    style = "'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self'; style-src {style}; img-src 'self' data:; "
        "frame-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"  # pages hold personal data
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    session: ConsoleSession | None = None,
    status_code: int = 200,
    nonce: str | None = None,
) -> Response:
    context = {"session": session, "nav": name.split(".")[0], "nonce": nonce, **context}
    response = templates().TemplateResponse(request, name, context, status_code=status_code)
    return _security_headers(response, nonce)


async def current_session(request: Request, container: ContainerDep) -> ConsoleSession:
    session = container.console_signer.read_session(request.cookies.get(SESSION_COOKIE))
    if session is None:
        raise SignInRequired()
    return session


SessionDep = Annotated[ConsoleSession, Depends(current_session)]


async def checked_form(request: Request, session: SessionDep) -> dict[str, str]:
    """The posted form of a signed-in user, after its CSRF token was checked."""
    form = await _form(request)
    if not tokens_match(form.get("csrf"), session.csrf):
        raise FormRefused()
    return form


FormDep = Annotated[dict[str, str], Depends(checked_form)]


async def _form(request: Request) -> dict[str, str]:
    raw = await request.form(max_files=0, max_fields=50)
    return {k: v[:MAX_FORM_FIELD] for k, v in raw.items() if isinstance(v, str)}


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- sign-in ---


def _signin_page(
    request: Request, container: Container, error: str | None, status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(16)
    css = _stylesheet()
    context = {
        "error": error,
        "signin_csrf": token,
        "password_enabled": container.settings.console_password is not None,
        "css": css,
    }
    response = render(request, "signin.html", context, status_code=status_code, nonce=nonce)
    set_cookie(response, container.settings, SIGNIN_COOKIE, token, 3600)
    return response


@router.get("/signin")
async def signin_form(request: Request, container: ContainerDep) -> Response:
    return _signin_page(request, container, None)


def _signed_in(container: Container, actor: str, response: Response | None = None) -> Response:
    cookie, _ = container.console_signer.issue_session(actor)
    response = response or _redirect(PREFIX)
    set_cookie(
        response, container.settings, SESSION_COOKIE, cookie, int(container.console_signer.session_seconds)
    )
    delete_cookie(response, container.settings, SIGNIN_COOKIE)
    return response


@router.post("/signin")
async def signin(request: Request, container: ContainerDep) -> Response:
    form = await _form(request)
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not tokens_match(form.get("csrf"), expected):
        return _signin_page(request, container, "The form expired: please sign in again.", 403)
    method = form.get("method")
    if method == "password" and await flows.password_attempts_exhausted(
        container.transaction, container.settings.console_password_failures_per_quarter
    ):
        await flows.audit(container.transaction, "operator", "sign-in", method, "refused: too many failures")
        message = (
            "Too many wrong passwords in the last 15 minutes: try again later, or use a token or a link."
        )
        return _signin_page(request, container, message, 429)
    if method == "password":
        actor, refusal = "operator", _password_refusal(container, form.get("password", ""))
    elif method == "token":
        actor, refusal = await _token_actor(container, form.get("token", ""))
    else:
        actor, refusal = "unknown", "choose a way to sign in"
    await flows.audit(
        container.transaction, actor, "sign-in", method, "ok" if refusal is None else f"refused: {refusal}"
    )
    if refusal is not None:
        return _signin_page(request, container, f"Sign-in refused: {refusal}.", 401)
    return _signed_in(container, actor)


def _password_refusal(container: Container, given: str) -> str | None:
    configured = container.settings.console_password
    if configured is None:
        return "no operator password is configured"
    if not given or not password_matches(given, configured.get_secret_value()):
        return "wrong password"
    return None


async def _token_actor(container: Container, token: str) -> tuple[str, str | None]:
    """Who a support token names (`token:<org>`; `token:support` without an org), or why it is refused."""
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    try:
        caller = await container.authenticator.authenticate_support(
            token or None, required_scope=SCOPE_SUPPORT
        )
    except UnauthorizedError:
        return "token", "the token is not valid"
    except ForbiddenError:
        return "token", f"the token lacks the scope {SCOPE_SUPPORT}"
    return f"token:{caller.org or 'support'}", None


@router.get("/signin/link")
async def signin_link(request: Request, container: ContainerDep, t: str = "") -> Response:
    """The one-time link printed at start-up: valid for a day, for one use."""
    nonce = container.console_signer.read_link(t) if t else None
    if nonce is None or not await flows.redeem_signin_link(container.transaction, nonce, "operator (link)"):
        return _signin_page(request, container, "That sign-in link is not valid (or was used already).", 401)
    # A page of ours moves on to the console: the SameSite=Strict cookie is then sent even when the link
    # was opened from another site (a redirect would keep that site as the initiator).
    return _signed_in(container, "operator (link)", render(request, "continue.html", {}))


@router.post("/signout")
async def signout(container: ContainerDep, session: SessionDep, form: FormDep) -> Response:
    await flows.audit(container.transaction, session.actor, "sign-out", None, "ok")
    response = _redirect(f"{PREFIX}/signin")
    delete_cookie(response, container.settings, SESSION_COOKIE)
    return response


# --- overview ---


@router.get("")
async def overview(request: Request, container: ContainerDep, session: SessionDep) -> Response:
    from altinn_notifications.cli import startup_summary

    data = await flows.overview(container.transaction, startup_summary(container.settings))
    peak = max([max(e, s) for _, e, s in data.rates] + [1])
    return render(request, "overview.html", {"o": data, "peak": peak}, session=session)


# --- orders ---


@router.get("/orders")
async def orders(
    request: Request,
    container: ContainerDep,
    session: SessionDep,
    order_id: str = "",
    reference: str = "",
    creator: str = "",
    status: str = "",
    sent_from: str = "",
    sent_to: str = "",
) -> Response:
    error = None
    parsed_id: UUID | None = None
    if order_id.strip():
        try:
            parsed_id = UUID(order_id.strip())
        except ValueError:
            error = "An order id is a UUID."
    search = OrderSearch(
        order_id=parsed_id,
        senders_reference=reference.strip() or None,
        creator=creator.strip() or None,
        status=status if status in OrderStatus.__members__ else None,
        sent_from=service.parse_time(sent_from),
        sent_to=service.parse_time(sent_to),
    )
    found = [] if error else await flows.search_orders(container.transaction, search)
    form = {"order_id": order_id, "reference": reference, "creator": creator, "status": status,
            "sent_from": sent_from, "sent_to": sent_to}  # fmt: skip
    context = {"orders": found, "form": form, "states": list(OrderStatus), "error": error}
    return render(request, "orders.html", context, session=session)


@router.get("/orders/{order_id}")
async def order(
    request: Request, order_id: UUID, container: ContainerDep, session: SessionDep, done: str = ""
) -> Response:
    detail = await flows.order_detail(container.transaction, order_id)
    if detail is None:
        return render(request, "notfound.html", {"what": "order"}, session=session, status_code=404)
    now = container.clock()
    context = {
        "d": detail,
        "timeline": service.timeline(detail),
        "final": service.is_final(detail.order.status),
        "can_cancel": service.can_cancel(detail.order.status, detail.order.requested_send_time, now),
        "done": done if done in ("cancelled", "prohibited", "not_found") else None,
        "html_body": (
            service.sanitize_html(detail.texts.email_body)
            if detail.texts.email_body and detail.texts.email_content_type == "Html"
            else None
        ),
        "sms": service.sms_view(detail.texts.sms_body) if detail.texts.sms_body else None,
        "mask": service.mask_address,
        "mask_id": service.mask_identifier,
    }
    return render(request, "order.html", context, session=session)


@router.post("/orders/{order_id}/cancel")
async def cancel(order_id: UUID, container: ContainerDep, session: SessionDep, form: FormDep) -> Response:
    outcome = await flows.cancel(container.transaction, order_id, session.actor, container.clock())
    return _redirect(f"{PREFIX}/orders/{order_id}?done={outcome}")


@router.post("/reveal")
async def reveal(request: Request, container: ContainerDep, session: SessionDep, form: FormDep) -> Response:
    """One address in clear, asked for explicitly (audited; the audit row names the notification only)."""
    try:
        notification_id = UUID(form.get("notification", ""))
    except ValueError:
        return render(request, "notfound.html", {"what": "notification"}, session=session, status_code=404)
    found = await flows.reveal(container.transaction, notification_id, session.actor)
    if found is None:
        return render(request, "notfound.html", {"what": "notification"}, session=session, status_code=404)
    channel, address = found
    context = {"notification": notification_id, "channel": channel, "address": address,
               "back": form.get("back", "")}  # fmt: skip
    return render(request, "reveal.html", context, session=session)


# --- recipients (support lookups) ---

_KINDS = {
    "nin": ("National identity number", "11 digits"),
    "orgnumber": ("Organisation number", "9 digits"),
    "email": ("Email address", "name@example.no"),
}


@router.get("/recipients")
async def recipients(request: Request, session: SessionDep) -> Response:
    return _recipients_page(request, session, {"kind": "nin"}, None, [], None)


@router.post("/recipients")
async def recipients_lookup(
    request: Request, container: ContainerDep, session: SessionDep, form: FormDep
) -> Response:
    """A support lookup. The identifier is in the form only; the audit row holds a keyed fingerprint of it.
    With `reveal` (`<shipment id>:<attempt>`), the lookup is repeated and that one address shown in clear."""
    kind_value = form.get("kind", "")
    if kind_value not in _KINDS:
        return _recipients_page(request, session, form, ["Choose what to look up by."], [], None)
    reveal_key = form.get("reveal") or None
    found, errors = await flows.recipient_lookup(
        container.transaction,
        flows.Lookup(
            kind=IdentifierKind(kind_value),
            identifier=form.get("identifier", ""),
            start=service.parse_time(form.get("from")),
            end=service.parse_time(form.get("to")),
            reveal=reveal_key,
        ),
        session.actor,
        container.console_signer.fingerprint,
        container.clock(),
    )
    return _recipients_page(request, session, form, errors, found, None if errors else reveal_key)


def _recipients_page(
    request: Request,
    session: ConsoleSession,
    form: dict[str, str],
    errors: list[str] | None,
    found: list[DashboardNotificationExt],
    revealed: str | None,
) -> Response:
    context = {
        "form": form,
        "kinds": _KINDS,
        "errors": errors,
        "found": found,
        "searched": errors is None and "identifier" in form,
        "revealed": revealed,
        "mask": service.mask_address,
        "mask_id": service.mask_identifier,
    }
    return render(request, "recipients.html", context, session=session)


# --- outbox ---


@router.get("/outbox")
async def outbox(
    request: Request, container: ContainerDep, session: SessionDep, channel: str = ""
) -> Response:
    return await _outbox_page(request, container, session, channel, None)


@router.post("/outbox")
async def outbox_filtered(
    request: Request, container: ContainerDep, session: SessionDep, form: FormDep
) -> Response:
    """The outbox of one recipient: the address comes in the form, so it stays out of the URL."""
    recipient = form.get("recipient", "").strip()
    if recipient:
        target = f"recipient #{container.console_signer.fingerprint(recipient)}"
        await flows.audit(container.transaction, session.actor, "outbox-filter", target, "ok")
    return await _outbox_page(request, container, session, form.get("channel", ""), recipient or None)


async def _outbox_page(
    request: Request, container: Container, session: ConsoleSession, channel: str, recipient: str | None
) -> Response:
    wanted = channel if channel in ("email", "sms") else None
    scan = OUTBOX_SCAN if recipient or wanted else OUTBOX_PAGE
    entries = await flows.outbox_entries(container.outbox, scan)
    if wanted:
        entries = [e for e in entries if e.get("channel") == wanted]
    if recipient:
        key = recipient.lower()
        entries = [e for e in entries if str(e.get("to", "")).strip().lower() == key]
    context = {
        "entries": entries[:OUTBOX_PAGE],
        "channel": wanted,
        "recipient": recipient,
        "enabled": container.outbox is not None and container.outbox.enabled,
        "mask": service.mask_address,
    }
    return render(request, "outbox.html", context, session=session)


@router.get("/outbox/{notification_id}")
async def outbox_message(
    request: Request, notification_id: UUID, container: ContainerDep, session: SessionDep
) -> Response:
    """Every attempt recorded for one notification, newest first, each rendered as it was sent."""
    wanted = str(notification_id)
    attempts = [
        e
        for e in await flows.outbox_entries(container.outbox, OUTBOX_SCAN)
        if e.get("notificationId") == wanted
    ]
    if not attempts:
        return render(request, "notfound.html", {"what": "message"}, session=session, status_code=404)
    shown = [_rendered(e) for e in attempts]
    return render(request, "message.html", {"attempts": shown, "id": notification_id}, session=session)


def _rendered(entry: dict[str, Any]) -> dict[str, Any]:
    body = str(entry.get("body", ""))
    if entry.get("channel") == "sms":
        return {**entry, "sms": service.sms_view(body)}
    is_html = entry.get("contentType") == "Html" or (
        "contentType" not in entry and service.looks_like_html(body)
    )
    return {**entry, "html": service.sanitize_html(body) if is_html else None}


# --- delivery reports ---


@router.get("/reports")
async def reports(request: Request, container: ContainerDep, session: SessionDep) -> Response:
    dead = await flows.dead_reports(container.transaction)
    return render(request, "reports.html", {"reports": dead, "summary": None}, session=session)


@router.post("/reports/replay")
async def replay(request: Request, container: ContainerDep, session: SessionDep, form: FormDep) -> Response:
    ids: list[int] | None
    if form.get("all") == "1":
        ids = None
    else:
        try:
            ids = [int(form.get("id", ""))]
        except ValueError:
            ids = []
    summary = await flows.replay(container.transaction, ids, session.actor) if ids != [] else None
    dead = await flows.dead_reports(container.transaction)
    return render(request, "reports.html", {"reports": dead, "summary": summary}, session=session)


# --- audit log, static files ---


@router.get("/audit")
async def audit(request: Request, container: ContainerDep, session: SessionDep) -> Response:
    entries = await flows.audit_log(container.transaction)
    return render(request, "audit.html", {"entries": entries}, session=session)


@router.get("/static/{name}")
async def static(name: str, session: SessionDep) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response(status_code=404)
    response = FileResponse(STATIC / name, media_type=media_type)
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


def install(app: FastAPI) -> None:
    """Mount the console (and `/` → `/console`) on the app."""

    async def to_signin(request: Request, exc: Exception) -> Response:
        return _redirect(f"{PREFIX}/signin")

    async def refused(request: Request, exc: Exception) -> Response:
        response = HTMLResponse(
            "<!doctype html><title>Refused</title><p>This form has expired or did not come from the console."
            f' <a href="{PREFIX}">Back to the console</a></p>',
            status_code=403,
        )
        return _security_headers(response)

    async def root(container: ContainerDep) -> Response:
        if not container.settings.console_enabled:
            raise NotFoundError()
        return _redirect(PREFIX)

    app.add_exception_handler(SignInRequired, to_signin)
    app.add_exception_handler(FormRefused, refused)
    app.add_api_route("/", root, methods=["GET"], include_in_schema=False)
    app.include_router(router)
