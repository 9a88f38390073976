"""Altinn platform adapters over HTTP (docs/compatibility.md C10, C11), speaking the reference's wire formats.

- `AltinnProfileContactPoints` (`ContactPointsPort`): Altinn Profile's KRR, official-address, user
  contact point and self-identified user lookups; user contact points are filtered through an
  `AuthorizationPort` (the PDP) when one is given.
- `AltinnRegisterNames` (`PartyNamesPort`): Register's `parties/nameslookup`.
- `AltinnAuthorizationPdp` (`AuthorizationPort`): XACML 3.0 JSON multi-requests to the PDP's `decision`
  endpoint, 500 user–party pairs per call, calls in parallel.
- `build_recipient_ports`: the choice between these and the local registry, for the composition root.

Answers are returned as the registers give them (numbers not normalised): clean-up is the lookup
service's job. Every failure (connection error, timeout, non-2xx status, malformed or unexpected JSON)
raises `DependencyError`, the pipeline's retry signal. Error messages name the service, the operation
and the status or exception type only: no NIN, address or name ever appears in them, and nothing here
logs request or answer bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx

from altinn_notifications.errors import DependencyError
from altinn_notifications.recipients.identifiers import sanitize_resource_id
from altinn_notifications.recipients.models import (
    ExternalIdentityContactPoints,
    OrganizationContactPoints,
    PersonContactPoints,
    UserContactPoints,
)
from altinn_notifications.recipients.ports import AuthorizationPort, ContactPointsPort, PartyNamesPort

# Paths relative to the configured base URLs (e.g. `https://platform.altinn.no/profile/api/v1/`).
PROFILE_PERSONS_PATH = "users/contactpoint/lookup"
PROFILE_ORGANIZATIONS_PATH = "organizations/notificationaddresses/lookup"
PROFILE_ORG_USERS_PATH = "units/contactpoint/lookup"
PROFILE_EXTERNAL_IDENTITIES_PATH = "users/contactpoint/lookupsi"
REGISTER_NAMES_PATH = "parties/nameslookup"
PDP_DECISION_PATH = "decision"

AUTHORIZATION_BATCH_SIZE = (
    500  # user–party pairs per PDP call (`AuthorizationBatchSize`, docs/compatibility.md C20)
)
AUTHORIZATION_CONCURRENCY = 10  # PDP calls of one lookup in flight at once
DEFAULT_ACTION = "read"

# XACML identifiers as `Altinn.Common.PEP` uses them.
XACML_STRING = "http://www.w3.org/2001/XMLSchema#string"
SUBJECT_CATEGORY = "urn:oasis:names:tc:xacml:1.0:subject-category:access-subject"
RESOURCE_CATEGORY = "urn:oasis:names:tc:xacml:3.0:attribute-category:resource"
ACTION_ID = "urn:oasis:names:tc:xacml:1.0:action:action-id"
USER_ID_URN = "urn:altinn:userid"
PARTY_ID_URN = "urn:altinn:partyid"
RESOURCE_URN = "urn:altinn:resource"
ORG_URN = "urn:altinn:org"
APP_URN = "urn:altinn:app"
ISSUER = "Altinn"

TokenSource = str | Callable[[], str | None] | None
#: An Altinn bearer token per call (a Maskinporten token exchanged for an Altinn one), for calls from outside
#: Altinn's platform; sent as `Authorization: Bearer`.
BearerSource = Callable[[], Awaitable[str]] | None


class _UnexpectedAnswer(Exception):
    """The answer is JSON but not of the documented shape."""


# --- HTTP plumbing ---


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + "/" + path


_STALE_CONNECTION = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class _PlatformApi:
    """POST JSON to one platform service; every failure becomes a `DependencyError`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        base_url: str,
        service: str,
        timeout: float | None,
        bearer: BearerSource = None,
    ) -> None:
        if not base_url.strip():
            raise ValueError(f"{service}: base URL is empty")
        self._bearer = bearer
        self._client = client
        self._base_url = base_url.strip()
        self._service = service
        self._timeout = timeout

    async def post(
        self, path: str, body: Any, operation: str, headers: Mapping[str, str] | None = None
    ) -> Any:
        where = f"{self._service} {operation}"
        if self._bearer is not None:
            headers = {**(headers or {}), "Authorization": f"Bearer {await self._bearer()}"}
        for attempt in (1, 2):
            try:
                response = await self._client.post(
                    _url(self._base_url, path),
                    json=body,
                    headers=dict(headers or {}),
                    timeout=httpx.USE_CLIENT_DEFAULT if self._timeout is None else self._timeout,
                )
                break
            except _STALE_CONNECTION as exc:
                # A pooled keep-alive connection the server had just closed: these lookups have no side
                # effects, so one retry on a fresh connection beats rescheduling the whole order.
                if attempt == 2:
                    raise DependencyError(f"{where} failed: {type(exc).__name__}") from exc
            except httpx.HTTPError as exc:
                raise DependencyError(f"{where} failed: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DependencyError(f"{where} failed with status code {response.status_code}")
        try:
            return response.json()
        except ValueError as exc:
            raise DependencyError(f"{where} answered malformed JSON") from exc

    def unexpected(self, operation: str) -> DependencyError:
        return DependencyError(f"{self._service} {operation} answered an unexpected shape")


# --- lenient readers of the answers (property names case-insensitive, as System.Text.Json there) ---


def _get(obj: Any, name: str) -> Any:
    if not isinstance(obj, dict):
        raise _UnexpectedAnswer(f"expected an object holding {name!r}")
    if name in obj:
        return obj[name]
    lowered = name.lower()
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() == lowered:
            return value
    return None


def _objects(obj: Any, name: str) -> list[Any]:
    value = _get(obj, name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _UnexpectedAnswer(f"{name!r} is not a list")
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _UnexpectedAnswer("expected a string")


def _texts(obj: Any, name: str) -> list[str]:
    return [text for text in (_text(v) for v in _objects(obj, name)) if text is not None]


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise _UnexpectedAnswer("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise _UnexpectedAnswer("expected an integer")


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise _UnexpectedAnswer("expected a boolean")


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values if v and v.strip()))


def _user(entry: Any) -> UserContactPoints | None:
    user_id = _integer(_get(entry, "userId"))
    if user_id is None:
        return None  # a user contact point cannot be authorised without its user id
    return UserContactPoints(
        user_id=user_id,
        national_identity_number=_text(_get(entry, "nationalIdentityNumber")),
        email=_text(_get(entry, "email")),
        mobile_number=_text(_get(entry, "mobileNumber")),
        is_reserved=_flag(_get(entry, "isReserved")),
    )


def _organizations(answer: Any, *, official: bool, users: bool) -> list[OrganizationContactPoints]:
    result: list[OrganizationContactPoints] = []
    for entry in _objects(answer, "contactPointsList"):
        number = _text(_get(entry, "organizationNumber"))
        if not number or not number.strip():
            continue
        result.append(
            OrganizationContactPoints(
                organization_number=number.strip(),
                party_id=_integer(_get(entry, "partyId")),
                emails=_texts(entry, "emailList") if official else [],
                mobile_numbers=_texts(entry, "mobileNumberList") if official else [],
                user_contact_points=(
                    [u for u in (_user(e) for e in _objects(entry, "userContactPoints")) if u is not None]
                    if users
                    else []
                ),
            )
        )
    return result


# --- Profile ---


class AltinnProfileContactPoints:
    """`ContactPointsPort` over Altinn Profile (`{profile}` = e.g. `.../profile/api/v1/`).

    Profile calls carry no auth header (the reference calls it in-cluster); `headers` adds any the
    operator needs (an APIM subscription key, say). User contact points of organisations are passed
    through `authorization` (PDP `Permit` per user and organisation); without one they are used as
    Profile answers them (Profile applies the users' own per-service filters, not their rights).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        profile_base_url: str,
        authorization: AuthorizationPort | None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: BearerSource = None,
    ) -> None:
        self._api = _PlatformApi(client, profile_base_url, "Profile", timeout, bearer)
        self._authorization = authorization
        self._headers = dict(headers or {})

    async def person_contact_points(
        self, national_identity_numbers: list[str], *, use_stale_contact_info: bool
    ) -> list[PersonContactPoints]:
        nins = _unique(national_identity_numbers)
        if not nins:
            return []
        operation = "GetUserContactPoints"
        answer = await self._api.post(
            PROFILE_PERSONS_PATH,
            {"nationalIdentityNumbers": nins, "useStaleContactInfo": use_stale_contact_info},
            operation,
            self._headers,
        )
        try:
            result: list[PersonContactPoints] = []
            for entry in _objects(answer, "contactPointsList"):
                nin = _text(_get(entry, "nationalIdentityNumber"))
                if not nin or not nin.strip():
                    continue
                result.append(
                    PersonContactPoints(
                        national_identity_number=nin.strip(),
                        email=_text(_get(entry, "email")),
                        mobile_number=_text(_get(entry, "mobileNumber")),
                        is_reserved=_flag(_get(entry, "isReserved")),
                        user_id=_integer(_get(entry, "userId")),
                    )
                )
            return result
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc

    async def organization_contact_points(
        self, organization_numbers: list[str]
    ) -> list[OrganizationContactPoints]:
        orgs = _unique(organization_numbers)
        if not orgs:
            return []
        operation = "GetOrganizationContactPoints"
        answer = await self._api.post(
            PROFILE_ORGANIZATIONS_PATH, {"organizationNumbers": orgs}, operation, self._headers
        )
        try:
            return _organizations(answer, official=True, users=False)
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc

    async def organization_user_contact_points(
        self, organization_numbers: list[str], resource_id: str, *, action: str | None = None
    ) -> list[OrganizationContactPoints]:
        """Users' contact points for the resource, each kept only on a PDP `Permit` for `action` on the
        organisation's party (users of an organisation Profile gives no party id cannot be authorised
        and are dropped). Only organisations with at least one kept user are answered."""
        orgs = _unique(organization_numbers)
        resource = sanitize_resource_id(resource_id)
        if not orgs or not resource:
            return []
        operation = "GetUserRegisteredContactPoints"
        answer = await self._api.post(
            PROFILE_ORG_USERS_PATH,
            {"organizationNumbers": orgs, "resourceId": resource},
            operation,
            self._headers,
        )
        try:
            entries = [e for e in _organizations(answer, official=False, users=True) if e.user_contact_points]
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc
        if self._authorization is None or not entries:
            return entries

        pairs = [
            (user.user_id, entry.party_id)
            for entry in entries
            if entry.party_id is not None
            for user in entry.user_contact_points
        ]
        permitted = await self._authorization.authorized_users(pairs, resource, action) if pairs else set()
        kept: list[OrganizationContactPoints] = []
        for entry in entries:
            users = [u for u in entry.user_contact_points if (u.user_id, entry.party_id) in permitted]
            if users:
                kept.append(
                    OrganizationContactPoints(
                        organization_number=entry.organization_number,
                        party_id=entry.party_id,
                        user_contact_points=users,
                    )
                )
        return kept

    async def external_identity_contact_points(
        self, external_identities: list[str]
    ) -> list[ExternalIdentityContactPoints]:
        identities = _unique(external_identities)
        if not identities:
            return []
        operation = "GetExternalIdentityContactPoints"
        answer = await self._api.post(
            PROFILE_EXTERNAL_IDENTITIES_PATH, {"externalIdentities": identities}, operation, self._headers
        )
        try:
            result: list[ExternalIdentityContactPoints] = []
            for entry in _objects(answer, "contactPointsList"):
                identity = _text(_get(entry, "externalIdentity"))
                if not identity or not identity.strip():
                    continue
                result.append(
                    ExternalIdentityContactPoints(
                        external_identity=identity.strip(),
                        email=_text(_get(entry, "email")),
                        mobile_number=_text(_get(entry, "mobileNumber")),
                    )
                )
            return result
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc


# --- Register ---


class AltinnRegisterNames:
    """`PartyNamesPort` over Altinn Register (`{register}` = e.g. `.../register/api/v1/`).

    The body carries `parties` (`{"orgNo"}` / `{"ssn"}` items) and, as the reference sends them, the
    legacy `organizationNumbers` / `socialSecurityNumbers` lists. The reference authenticates with a
    Platform Access Token issued as `platform`/`notifications`: give one (a string, or a callable
    returning a fresh token per call) and it is sent in the `PlatformAccessToken` header.
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        register_base_url: str,
        platform_access_token: TokenSource = None,
        *,
        timeout: float | None = None,
        headers: Mapping[str, str] | None = None,
        bearer: BearerSource = None,
    ) -> None:
        self._api = _PlatformApi(client, register_base_url, "Register", timeout, bearer)
        self._token = platform_access_token
        self._headers = dict(headers or {})

    def _request_headers(self) -> dict[str, str]:
        headers = dict(self._headers)
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["PlatformAccessToken"] = token
        return headers

    async def party_names(
        self, organization_numbers: list[str], national_identity_numbers: list[str]
    ) -> dict[str, str]:
        orgs = _unique(organization_numbers)
        nins = _unique(national_identity_numbers)
        if not orgs and not nins:
            return {}
        operation = "GetPartyDetails"
        body = {
            "organizationNumbers": orgs,
            "socialSecurityNumbers": nins,
            "parties": [{"orgNo": org} for org in orgs] + [{"ssn": nin} for nin in nins],
        }
        answer = await self._api.post(REGISTER_NAMES_PATH, body, operation, self._request_headers())
        wanted_orgs, wanted_nins = set(orgs), set(nins)
        names: dict[str, str] = {}
        try:
            for entry in _objects(answer, "partyNames"):
                name = _text(_get(entry, "name"))
                if name is None or not name.strip():
                    continue
                org = (_text(_get(entry, "orgNo")) or "").strip()
                nin = (_text(_get(entry, "ssn")) or "").strip()
                if org in wanted_orgs:
                    names.setdefault(org, name)
                elif nin in wanted_nins:
                    names.setdefault(nin, name)
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc
        return names


# --- Authorization (PDP) ---


def _attribute(attribute_id: str, value: str, data_type: str, *, include: bool = False) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "AttributeId": attribute_id,
        "Value": value,
        "DataType": data_type,
        "Issuer": ISSUER,
    }
    if include:
        attribute["IncludeInResult"] = True
    return attribute


def resource_attributes(resource_id: str, party_id: int) -> list[dict[str, Any]]:
    """The resource category of one organisation: `urn:altinn:resource`, or for an app resource
    `app_{org}_{app}` the `urn:altinn:org` and `urn:altinn:app` attributes; then the party id.

    The app name is everything after the org (the reference takes only the next `_`-separated part,
    and fails on `app_{org}` without an app: that is treated here as an ordinary resource id)."""
    party = _attribute(PARTY_ID_URN, str(party_id), XACML_STRING, include=True)
    if resource_id.startswith("app_"):
        parts = resource_id.split("_", 2)
        if len(parts) == 3 and parts[1] and parts[2]:
            return [
                _attribute(ORG_URN, parts[1], XACML_STRING),
                _attribute(APP_URN, parts[2], XACML_STRING),
                party,
            ]
    return [_attribute(RESOURCE_URN, resource_id, XACML_STRING), party]


def decision_request(
    pairs: Sequence[tuple[int, int]], resource_id: str, action: str | None
) -> dict[str, Any]:
    """The XACML JSON multi-request of `Altinn.Common.PEP`: one subject per user, one resource per
    party, the one action, one reference per (user, party) pair."""
    chosen = (action or "").strip() or DEFAULT_ACTION
    subjects: dict[int, dict[str, Any]] = {}
    resources: dict[int, dict[str, Any]] = {}
    references: list[dict[str, Any]] = []
    for user_id, party_id in pairs:
        if party_id not in resources:
            resources[party_id] = {
                "Id": f"resource{party_id}",
                "Attribute": resource_attributes(resource_id, party_id),
            }
        if user_id not in subjects:
            subjects[user_id] = {
                "Id": f"subject{user_id}",
                "Attribute": [_attribute(USER_ID_URN, str(user_id), XACML_STRING, include=True)],
            }
        references.append({"ReferenceId": [f"subject{user_id}", "action", f"resource{party_id}"]})
    return {
        "Request": {
            "AccessSubject": list(subjects.values()),
            "Action": [{"Id": "action", "Attribute": [_attribute(ACTION_ID, chosen, "string")]}],
            "Resource": list(resources.values()),
            "MultiRequests": {"RequestReference": references},
        }
    }


def _category_value(result: Any, category_id: str, attribute_id: str) -> str | None:
    for category in _objects(result, "Category"):
        if _text(_get(category, "CategoryId")) != category_id:
            continue
        for attribute in _objects(category, "Attribute"):
            if _text(_get(attribute, "AttributeId")) == attribute_id:
                return _text(_get(attribute, "Value"))
    return None


def permitted_pairs(answer: Any) -> set[tuple[int, int]]:
    """(user id, party id) of every result whose `Decision` is `Permit`, read from the returned
    subject and resource attributes; results lacking either are ignored."""
    permitted: set[tuple[int, int]] = set()
    for result in _objects(answer, "Response"):
        if _text(_get(result, "Decision")) != "Permit":
            continue
        user = _category_value(result, SUBJECT_CATEGORY, USER_ID_URN)
        party = _category_value(result, RESOURCE_CATEGORY, PARTY_ID_URN)
        try:
            user_id, party_id = _integer(user), _integer(party)
        except _UnexpectedAnswer:
            continue
        if user_id is not None and party_id is not None:
            permitted.add((user_id, party_id))
    return permitted


class AltinnAuthorizationPdp:
    """`AuthorizationPort` over the Altinn Authorization PDP (`{authorization}` = e.g.
    `.../authorization/api/v1/`): `POST {authorization}decision`, `batch_size` pairs per call, at most
    `concurrency` calls of one lookup in flight (a 100,000-user organisation is 200 calls: unbounded,
    they would flood the PDP and wait in the HTTP pool, where their timeout already runs).
    `platform_access_token` (string or callable) is sent as the `PlatformAccessToken` header when given."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        authorization_base_url: str,
        batch_size: int = AUTHORIZATION_BATCH_SIZE,
        *,
        concurrency: int = AUTHORIZATION_CONCURRENCY,
        timeout: float | None = None,
        platform_access_token: TokenSource = None,
        headers: Mapping[str, str] | None = None,
        bearer: BearerSource = None,
    ) -> None:
        if batch_size <= 0 or concurrency <= 0:
            raise ValueError("batch_size and concurrency must be greater than zero")
        self._api = _PlatformApi(client, authorization_base_url, "Authorization", timeout, bearer)
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._token = platform_access_token
        self._headers = dict(headers or {})

    def _request_headers(self) -> dict[str, str]:
        headers = dict(self._headers)
        token = self._token() if callable(self._token) else self._token
        if token:
            headers["PlatformAccessToken"] = token
        return headers

    async def authorized_users(
        self, pairs: Sequence[tuple[int, int]], resource_id: str, action: str | None = None
    ) -> set[tuple[int, int]]:
        unique = list(dict.fromkeys(pairs))
        resource = sanitize_resource_id(resource_id)
        if not unique or not resource:
            return set()
        batches = [unique[i : i + self._batch_size] for i in range(0, len(unique), self._batch_size)]
        slots = asyncio.Semaphore(self._concurrency)

        async def decide(batch: list[tuple[int, int]]) -> set[tuple[int, int]]:
            async with slots:
                return await self._decide(batch, resource, action)

        try:  # a failed call cancels the others: the lookup has failed anyway
            async with asyncio.TaskGroup() as group:
                calls = [group.create_task(decide(batch)) for batch in batches]
        except ExceptionGroup as failed:
            raise failed.exceptions[0] from None
        answers = [call.result() for call in calls]
        permitted: set[tuple[int, int]] = set()
        for batch, answer in zip(batches, answers, strict=True):
            permitted |= answer & set(batch)  # never trust a pair that was not asked about
        return permitted

    async def _decide(
        self, batch: Sequence[tuple[int, int]], resource_id: str, action: str | None
    ) -> set[tuple[int, int]]:
        operation = "AuthorizeUserContactPointsForResource"
        answer = await self._api.post(
            PDP_DECISION_PATH,
            decision_request(batch, resource_id, action),
            operation,
            self._request_headers(),
        )
        try:
            return permitted_pairs(answer)
        except _UnexpectedAnswer as exc:
            raise self._api.unexpected(operation) from exc


# --- selection (called by the composition root) ---


def build_recipient_ports(
    client: httpx.AsyncClient,
    *,
    local_contact_points: ContactPointsPort,
    local_party_names: PartyNamesPort,
    profile_url: str | None = None,
    register_url: str | None = None,
    authorization_url: str | None = None,
    platform_access_token: TokenSource = None,
    timeout: float | None = None,
    authorization_batch_size: int = AUTHORIZATION_BATCH_SIZE,
    authorization_concurrency: int = AUTHORIZATION_CONCURRENCY,
    bearer: BearerSource = None,
) -> tuple[ContactPointsPort, PartyNamesPort]:
    """Contact points from Altinn Profile when `profile_url` is set (user contact points authorised by
    the PDP at `authorization_url` when set), else the local registry; names from Altinn Register when
    `register_url` is set, else the local registry. `platform_access_token` goes to Register and PDP;
    `bearer` (an exchanged Altinn token) to all three."""
    contact_points = local_contact_points
    if profile_url:
        pdp = (
            AltinnAuthorizationPdp(
                client,
                authorization_url,
                authorization_batch_size,
                concurrency=authorization_concurrency,
                timeout=timeout,
                platform_access_token=platform_access_token,
                bearer=bearer,
            )
            if authorization_url
            else None
        )
        contact_points = AltinnProfileContactPoints(client, profile_url, pdp, timeout=timeout, bearer=bearer)
    party_names = local_party_names
    if register_url:
        party_names = AltinnRegisterNames(
            client, register_url, platform_access_token, timeout=timeout, bearer=bearer
        )
    return contact_points, party_names
