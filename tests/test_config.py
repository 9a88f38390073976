"""Settings: environment variables with the NOTIFICATIONS_ prefix; malformed values name the setting."""

from __future__ import annotations

import pytest

from altinn_notifications.config import SettingsError, load_settings


def test_defaults_match_the_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "NOTIFICATIONS_PORT",
        "NOTIFICATIONS_BASE_URI",
        "NOTIFICATIONS_HOST",
        "NOTIFICATIONS_DATABASE_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.port == 5090
    assert settings.host == "127.0.0.1"
    assert settings.database_url is None
    assert settings.base_uri_str == "http://localhost:5090"
    assert settings.default_email_from_address == "noreply@altinn.no"
    assert settings.default_sms_sender_number == "Altinn"
    assert settings.uses_dev_key


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATIONS_PORT", "6000")
    monkeypatch.setenv("NOTIFICATIONS_BASE_URI", "https://platform.example.no/")
    monkeypatch.setenv("NOTIFICATIONS_DATABASE_URL", "postgresql://u@db:5432/n")
    monkeypatch.setenv("NOTIFICATIONS_DEFAULT_SMS_SENDER_NUMBER", "Etat")
    settings = load_settings()
    assert settings.port == 6000
    assert settings.base_uri_str == "https://platform.example.no"
    assert settings.database_url == "postgresql://u@db:5432/n"
    assert settings.default_sms_sender_number == "Etat"


def test_base_uri_follows_the_port_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFICATIONS_BASE_URI", raising=False)
    assert load_settings(port=8123).base_uri_str == "http://localhost:8123"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("NOTIFICATIONS_PORT", "not-a-number"),
        ("NOTIFICATIONS_PORT", "70000"),
        ("NOTIFICATIONS_DATABASE_URL", "mysql://x"),
        ("NOTIFICATIONS_BASE_URI", "not a url"),
        ("NOTIFICATIONS_JWKS_URL", "ftp:/x"),
    ],
)
def test_malformed_setting_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert variable in str(info.value)


def test_retention_and_outbox_settings_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings()
    assert (defaults.outbox_enabled, defaults.order_retention_days) == (None, None)
    assert (defaults.outbox_max_bytes, defaults.outbox_retention_days) == (50 * 1024 * 1024, 7.0)
    assert defaults.condition_timeout_seconds == 5.0
    for name in ("OUTBOX_ENABLED", "OUTBOX_MAX_BYTES", "OUTBOX_RETENTION_DAYS", "ORDER_RETENTION_DAYS"):
        monkeypatch.setenv(f"NOTIFICATIONS_{name}", "")
    emptied = load_settings()
    assert emptied.outbox_enabled is None
    assert emptied.outbox_max_bytes is None and emptied.outbox_retention_days is None
    assert emptied.order_retention_days is None
    monkeypatch.setenv("NOTIFICATIONS_ORDER_RETENTION_DAYS", "0")
    with pytest.raises(SettingsError, match="NOTIFICATIONS_ORDER_RETENTION_DAYS"):
        load_settings()
