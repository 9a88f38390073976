"""Provider selection by configuration; half-configured vendors stop the start-up naming what is missing."""

from __future__ import annotations

import base64

import pytest

from altinn_notifications.bootstrap import build_email_provider, build_sms_provider
from altinn_notifications.config import SettingsError, load_settings
from altinn_notifications.providers.email.acs import AcsEmailProvider
from altinn_notifications.providers.email.simulated import SimulatedEmailProvider
from altinn_notifications.providers.sms.linkmobility import LinkMobilitySmsProvider
from altinn_notifications.providers.sms.simulated import SimulatedSmsProvider

KEY = base64.b64encode(b"a-very-secret-acs-key").decode()
ACS = {
    "NOTIFICATIONS_EMAIL_PROVIDER": "acs",
    "NOTIFICATIONS_ACS_CONNECTION_STRING": f"endpoint=https://acs.communication.azure.com/;accesskey={KEY}",
    "NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY": "event-grid-secret",
}
LINK = {
    "NOTIFICATIONS_SMS_PROVIDER": "linkmobility",
    "NOTIFICATIONS_LINKMOBILITY_URL": "https://xml.pswin.com/",
    "NOTIFICATIONS_LINKMOBILITY_USERNAME": "altinn",
    "NOTIFICATIONS_LINKMOBILITY_PASSWORD": "gateway-secret",
    "NOTIFICATIONS_SMS_REPORTS_USERNAME": "reports",
    "NOTIFICATIONS_SMS_REPORTS_PASSWORD": "report-secret",
}
SECRETS = (KEY, "event-grid-secret", "gateway-secret", "report-secret")


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


async def test_vendors_are_selected_by_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**ACS, **LINK, "NOTIFICATIONS_LINKMOBILITY_RETRY_SCHEDULE_SECONDS": "[60, 120]"})
    settings = load_settings()
    email = build_email_provider(settings, None)
    sms = build_sms_provider(settings, None)
    try:
        assert isinstance(email, AcsEmailProvider)
        assert isinstance(sms, LinkMobilitySmsProvider)
        assert sms.retry_schedule.delays == (60.0, 120.0)
        for text in (repr(settings), str(settings), repr(email), repr(sms)):
            assert not any(secret in text for secret in SECRETS)
    finally:
        await email.close()
        await sms.close()


async def test_simulated_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NOTIFICATIONS_EMAIL_PROVIDER", "NOTIFICATIONS_SMS_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert isinstance(build_email_provider(settings, None), SimulatedEmailProvider)
    assert isinstance(build_sms_provider(settings, None), SimulatedSmsProvider)


@pytest.mark.parametrize(
    ("values", "missing"),
    [
        (
            {"NOTIFICATIONS_EMAIL_PROVIDER": "acs"},
            ["NOTIFICATIONS_ACS_CONNECTION_STRING", "NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY"],
        ),
        ({**ACS, "NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY": ""}, ["NOTIFICATIONS_ACS_REPORTS_ACCESS_KEY"]),
        ({**LINK, "NOTIFICATIONS_LINKMOBILITY_PASSWORD": ""}, ["NOTIFICATIONS_LINKMOBILITY_PASSWORD"]),
        (
            {
                "NOTIFICATIONS_SMS_PROVIDER": "linkmobility",
                "NOTIFICATIONS_LINKMOBILITY_URL": "https://gw.example/",
            },
            [
                "NOTIFICATIONS_LINKMOBILITY_USERNAME",
                "NOTIFICATIONS_LINKMOBILITY_PASSWORD",
                "NOTIFICATIONS_SMS_REPORTS_USERNAME",
                "NOTIFICATIONS_SMS_REPORTS_PASSWORD",
            ],
        ),
    ],
)
def test_half_configured_vendor_names_the_missing_settings(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], missing: list[str]
) -> None:
    for name in {**ACS, **LINK}:
        monkeypatch.delenv(name, raising=False)
    _env(monkeypatch, values)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    for name in missing:
        assert name in message
    assert not any(secret in message for secret in SECRETS)


def test_malformed_connection_string_is_named_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    _env(monkeypatch, {**ACS, "NOTIFICATIONS_ACS_CONNECTION_STRING": f"accesskey={KEY}"})
    with pytest.raises(
        SettingsError, match="NOTIFICATIONS_ACS_CONNECTION_STRING: the connection string has no endpoint"
    ) as info:
        load_settings()
    assert KEY not in str(info.value)


def test_unknown_provider_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_SMS_PROVIDER", "twilio")
    with pytest.raises(SettingsError, match="NOTIFICATIONS_SMS_PROVIDER"):
        load_settings()
