"""The register behind each port is chosen in configuration; a half-configured choice stops the start with
the names of the settings it lacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization

from altinn_notifications.auth.maskinporten import build_maskinporten_tokens, maskinporten_config
from altinn_notifications.bootstrap import Container, build_registers, needs_maskinporten
from altinn_notifications.config import Settings, SettingsError, load_settings
from altinn_notifications.recipients.altinn_http import AltinnProfileContactPoints, AltinnRegisterNames
from altinn_notifications.recipients.brreg import BrregNames
from altinn_notifications.recipients.combined import CombinedContactPoints
from altinn_notifications.recipients.krr import KrrPersonContactPoints
from altinn_notifications.recipients.local import LocalRegistryContactPoints
from tests.fakes.registers import worker_key

ALTINN = {
    "profile_url": "https://platform.altinn.test/profile/api/v1/",
    "authorization_url": "https://platform.altinn.test/authorization/api/v1/",
    "register_url": "https://platform.altinn.test/register/api/v1/",
}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("maskinporten") / "client.pem"
    path.write_bytes(
        worker_key().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return path


def krr_settings(key_file: Path, **extra: Any) -> dict[str, Any]:
    return {
        "persons_source": "krr",
        "krr_url": "https://kontaktregisteret.test/rest/v2/personer",
        "maskinporten_issuer": "https://maskinporten.test/",
        "maskinporten_client_id": "our-client",
        "maskinporten_key_file": key_file,
        "maskinporten_key_id": "our-kid",
        **extra,
    }


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        (
            {"persons_source": "krr"},
            [
                "NOTIFICATIONS_KRR_URL",
                "NOTIFICATIONS_MASKINPORTEN_ISSUER",
                "NOTIFICATIONS_MASKINPORTEN_CLIENT_ID",
                "NOTIFICATIONS_MASKINPORTEN_KEY_FILE",
                "NOTIFICATIONS_MASKINPORTEN_KEY_ID or _CERTIFICATE_FILE",
            ],
        ),
        (
            {
                "persons_source": "krr",
                "krr_url": "https://krr.test/rest/v2/personer",
                "maskinporten_issuer": "x",
            },
            ["NOTIFICATIONS_MASKINPORTEN_CLIENT_ID", "NOTIFICATIONS_MASKINPORTEN_KEY_FILE"],
        ),
        ({"persons_source": "altinn"}, ["NOTIFICATIONS_PROFILE_URL", "NOTIFICATIONS_AUTHORIZATION_URL"]),
        ({"organizations_source": "altinn"}, ["NOTIFICATIONS_PROFILE_URL"]),
        ({"names_source": "altinn"}, ["NOTIFICATIONS_REGISTER_URL"]),
        (
            {
                "altinn_token_exchange_url": "https://platform.altinn.test/authentication/api/v1/exchange/maskinporten"
            },
            ["NOTIFICATIONS_MASKINPORTEN_CLIENT_ID", "NOTIFICATIONS_ALTINN_TOKEN_SCOPES"],
        ),
    ],
)
def test_a_half_configured_choice_names_what_is_missing(
    tmp_path: Path, settings: dict[str, Any], missing: list[str]
) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(data_dir=tmp_path, **settings)
    for name in missing:
        assert name in str(refused.value)


def test_choices_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key_file: Path
) -> None:
    for name, value in krr_settings(key_file, names_source="brreg").items():
        monkeypatch.setenv(f"NOTIFICATIONS_{name.upper()}", str(value))
    settings = load_settings(data_dir=tmp_path)
    assert (
        settings.chosen_persons_source,
        settings.chosen_organizations_source,
        settings.chosen_names_source,
    ) == (
        "krr",
        "local",
        "brreg",
    )
    monkeypatch.setenv("NOTIFICATIONS_PERSONS_SOURCE", "kontaktregisteret")
    with pytest.raises(SettingsError, match="NOTIFICATIONS_PERSONS_SOURCE"):
        load_settings(data_dir=tmp_path)


def test_a_key_and_a_certificate_are_not_both_given(tmp_path: Path, key_file: Path) -> None:
    with pytest.raises(SettingsError, match="not both"):
        load_settings(data_dir=tmp_path, **krr_settings(key_file, maskinporten_certificate_file=key_file))


def test_an_unreadable_key_stops_the_start(tmp_path: Path, key_file: Path) -> None:
    settings = load_settings(data_dir=tmp_path, **krr_settings(tmp_path / "absent.pem"))
    with pytest.raises(SettingsError, match="NOTIFICATIONS_MASKINPORTEN_KEY_FILE"):
        maskinporten_config(settings)
    config = maskinporten_config(load_settings(data_dir=tmp_path, **krr_settings(key_file)))
    assert (config.client_id, config.kid, config.environment.token_endpoint) == (
        "our-client",
        "our-kid",
        "https://maskinporten.test/token",
    )


async def _ports(container: Container, settings: Settings) -> tuple[Any, Any]:
    registry = LocalRegistryContactPoints(container.pool)
    async with httpx.AsyncClient() as http:
        tokens = build_maskinporten_tokens(settings, http) if needs_maskinporten(settings) else None
        return build_registers(settings, http, registry, tokens)


@pytest.mark.parametrize(
    ("choice", "persons", "organizations", "names"),
    [
        ({}, LocalRegistryContactPoints, LocalRegistryContactPoints, LocalRegistryContactPoints),
        (ALTINN, AltinnProfileContactPoints, AltinnProfileContactPoints, AltinnRegisterNames),
        (
            {"persons_source": "krr"},
            KrrPersonContactPoints,
            LocalRegistryContactPoints,
            LocalRegistryContactPoints,
        ),
        (
            {**ALTINN, "persons_source": "krr"},
            KrrPersonContactPoints,
            AltinnProfileContactPoints,
            AltinnRegisterNames,
        ),
        (
            {**ALTINN, "organizations_source": "local", "names_source": "brreg"},
            AltinnProfileContactPoints,
            LocalRegistryContactPoints,
            BrregNames,
        ),
        ({"names_source": "brreg"}, LocalRegistryContactPoints, LocalRegistryContactPoints, BrregNames),
    ],
)
async def test_each_port_gets_its_chosen_register(
    container: Container,
    tmp_path: Path,
    key_file: Path,
    choice: dict[str, Any],
    persons: type,
    organizations: type,
    names: type,
) -> None:
    extra = krr_settings(key_file) if choice.get("persons_source") == "krr" else {}
    settings = load_settings(data_dir=tmp_path, **{**extra, **choice})
    contact_points, party_names = await _ports(container, settings)
    if isinstance(contact_points, CombinedContactPoints):
        assert isinstance(contact_points.persons, persons)
        assert isinstance(contact_points.organizations, organizations)
    else:
        assert persons is organizations and isinstance(contact_points, persons)
    assert isinstance(party_names, names)
