"""Schedules, names and secrets: small pieces every layer trusts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from urbanbrain.core.errors import ConfigurationError, SecretError, ValidationError
from urbanbrain.core.naming import dataset_name, sql_identifier, validate_code
from urbanbrain.core.schedule import parse_schedule
from urbanbrain.core.secrets import decrypt, encrypt, redact_text, redact_url, secret_values
from urbanbrain.core.settings import get_settings


def test_schedules() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_schedule("every 5m").next_after(now) == now + timedelta(minutes=5)
    assert parse_schedule("every 2h").next_after(now) == now + timedelta(hours=2)
    assert parse_schedule("*/15 * * * *").next_after(now) == now + timedelta(minutes=15)
    assert parse_schedule(None).next_after(now) is None
    for bad in ("every five minutes", "every 0m", "hourly-ish", "* * *", "every 5 fortnights"):
        with pytest.raises(ConfigurationError, match="schedule"):
            parse_schedule(bad)


def test_dataset_names_follow_the_documented_rule() -> None:
    assert dataset_name("market", "enterprise-registry", "Companies") == "market.enterprise_registry.companies"
    assert sql_identifier("2024 exports") == "t_2024_exports"
    with pytest.raises(ValidationError):
        validate_code("bad name; drop", "system name")


def test_secrets_round_trip_and_key_file_is_private() -> None:
    token = encrypt({"url": "postgresql://u:hunter2-secret@h/db", "password": "x"})
    assert "hunter2-secret" not in token
    assert decrypt(token)["password"] == "x"
    key = get_settings().home_dir / "secret.key"
    assert key.stat().st_mode & 0o077 == 0


def test_wrong_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    token = encrypt({"a": 1})
    from cryptography.fernet import Fernet

    monkeypatch.setenv("URBANBRAIN_SECRET_KEY", Fernet.generate_key().decode())
    get_settings.cache_clear()
    with pytest.raises(SecretError, match="URBANBRAIN_SECRET_KEY"):
        decrypt(token)


def test_redaction() -> None:
    assert redact_url("postgresql://bob:hunter2@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert redact_url("https://api.example/x?token=abc123&page=2") == "https://api.example/x?token=***&page=2"
    options = {"url": "mysql://a:pass-1@h/d", "auth": {"type": "bearer", "token": "tok-9"}}
    assert set(secret_values(options)) == {"pass-1", "tok-9"}
    assert "tok-9" not in redact_text("failed with tok-9 at mysql://a:pass-1@h/d", secret_values(options))
    assert "pass-1" not in redact_text("failed at mysql://a:pass-1@h/d", [])
