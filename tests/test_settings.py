"""Settings from the environment: defaults, and one clear line per bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings


def test_defaults() -> None:
    s = load_settings({})
    assert s.api_url == "https://slack.com/api/"
    assert s.redis_url == "redis://localhost:6379/0"
    assert s.config_path == "./atbat.yml"
    assert s.port == 3000
    assert not s.has_slack_credentials
    assert not s.local_providers_only
    assert load_settings({"ATBAT_LOCAL_PROVIDERS_ONLY": "1"}).local_providers_only
    assert s.message_update_ms == 1000
    assert load_settings({"ATBAT_MESSAGE_UPDATE_MS": "0"}).message_update_ms == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORT": "http"}, "PORT: expected a port number from 1 to 65535, got 'http'"),
        ({"PORT": "70000"}, "PORT: expected a port number"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL: expected redis://host:port/db"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN: expected a bot token starting with"),
        ({"SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN: expected an app-level token"),
        ({"SLACK_API_URL": "slack.com"}, "SLACK_API_URL: expected an http(s) URL"),
        ({"ATBAT_LOCAL_PROVIDERS_ONLY": "yes"}, "ATBAT_LOCAL_PROVIDERS_ONLY: expected 1 or 0"),
        ({"ATBAT_MESSAGE_UPDATE_MS": "1s"}, "ATBAT_MESSAGE_UPDATE_MS: expected a whole number"),
    ],
)
def test_malformed_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_http_mode_requires_token_and_secret() -> None:
    s = load_settings({"SLACK_BOT_TOKEN": "xoxb-1"})
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set"):
        s.require_http()


def test_secrets_never_in_repr() -> None:
    s = load_settings({"SLACK_BOT_TOKEN": "xoxb-secret-value", "SLACK_SIGNING_SECRET": "shh",
                       "REDIS_URL": "redis://:hunter2@redis:6379/0"})
    text = repr(s)
    assert "xoxb-secret-value" not in text and "shh" not in text and "hunter2" not in text


def test_web_command_stops_with_one_line_for_missing_token(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.setenv("PORT", "3000")
    assert main(["web"]) == 2
    assert capsys.readouterr().err.strip() == (
        "atbat: SLACK_BOT_TOKEN is not set: HTTP mode needs it (see README, Install)")


def test_socket_mode_without_app_token_stops_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("ATBAT_CONFIG", str(Path(__file__).parent / "fixtures" / "atbat.yml"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    assert main(["socket"]) == 2
    assert capsys.readouterr().err.strip() == (
        "atbat: SLACK_APP_TOKEN is not set: Socket Mode needs an xapp- token")


@pytest.mark.parametrize(("present", "missing"), [
    ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET"), ("SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN")])
def test_run_with_half_a_token_pair_stops_with_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], present: str,
        missing: str) -> None:
    from bot.cli import main

    monkeypatch.delenv(missing, raising=False)
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.setenv(present, "xoxb-half" if present == "SLACK_BOT_TOKEN" else "secret")
    assert main(["run"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"atbat: {missing} is not set but {present} is: set both to use Slack, or neither "
        "for the sandbox")


def test_a_redis_password_is_never_printed(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("ATBAT_CONFIG", str(Path(__file__).parent / "fixtures" / "atbat.yml"))
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2-secret@127.0.0.1:1/0")
    assert main(["worker", "--burst"]) == 2
    err = capsys.readouterr().err
    assert "Redis does not answer at redis://:***@127.0.0.1:1/0" in err
    assert "hunter2" not in err
