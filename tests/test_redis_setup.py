"""Where Redis is (plain or Sentinel URLs) and `atbat doctor`'s verdict on how it is set up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.doctor import check_config
from bot.settings import SettingsError, load_settings
from bot.store.connection import SentinelTarget, parse_sentinel_url, rq_connection_settings

GOOD = {"appendonly": "yes", "maxmemory-policy": "noeviction", "min-replicas-to-write": "1"}
MASTER = {"role": "master", "connected_slaves": 1}


def test_sentinel_url_names_sentinels_master_database_and_password() -> None:
    assert parse_sentinel_url("redis+sentinel://:s%40cret@h1:26379,h2:26380/mymaster/2") == \
        SentinelTarget((("h1", 26379), ("h2", 26380)), "mymaster", 2, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h1/mymaster") == \
        SentinelTarget((("h1", 26379),), "mymaster", 0, None)


def test_sentinels_and_master_variables_make_the_same_url() -> None:
    s = load_settings({"REDIS_SENTINELS": "h1:26379, h2:26379", "REDIS_SENTINEL_MASTER": "m"})
    assert s.redis_url == "redis+sentinel://h1:26379,h2:26379/m/0"
    assert rq_connection_settings(s.redis_url)["SENTINEL"]["INSTANCES"] == [
        ("h1", 26379), ("h2", 26379)]
    assert rq_connection_settings("redis://x:1/0") == {"REDIS_URL": "redis://x:1/0"}


@pytest.mark.parametrize(("env", "message"), [
    ({"REDIS_URL": "redis+sentinel://h1:port/m"}, "REDIS_URL: expected host:port for each"),
    ({"REDIS_URL": "redis+sentinel://h1:26379/"}, "REDIS_URL: expected /MASTER_NAME"),
    ({"REDIS_URL": "redis+sentinel://h1/m/zero"}, "REDIS_URL: database must be a number"),
    ({"REDIS_SENTINELS": "h1:26379"}, "REDIS_SENTINELS and REDIS_SENTINEL_MASTER go together"),
    ({"ATBAT_REDIS_MIN_REPLICAS": "one"}, "ATBAT_REDIS_MIN_REPLICAS: expected a whole number"),
])
def test_bad_redis_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert str(info.value).startswith(message)


def test_a_password_in_the_url_is_never_shown() -> None:
    assert "s3cret" not in repr(load_settings({"REDIS_URL": "redis+sentinel://:s3cret@h/m/0"}))
    assert "s3cret" not in repr(load_settings({"REDIS_URL": "redis://u:s3cret@h:1/0"}))


@pytest.mark.parametrize(("config", "replication", "min_replicas", "failing"), [
    (GOOD, MASTER, 1, []),
    ({**GOOD, "appendonly": "no"}, MASTER, 1, ["appendonly no"]),
    ({**GOOD, "maxmemory-policy": "allkeys-lru"}, MASTER, 0, ["maxmemory-policy allkeys-lru"]),
    ({**GOOD, "min-replicas-to-write": "0"}, MASTER, 1, ["min-replicas-to-write 0"]),
    (GOOD, {"role": "master", "connected_slaves": 0}, 1, ["0 replica(s) connected"]),
    (GOOD, {"role": "slave", "connected_slaves": 0}, 0, ["role slave"]),
])
def test_doctor_findings(config: dict[str, str], replication: dict[str, object],
                         min_replicas: int, failing: list[str]) -> None:
    found = [f.what for f in check_config(config, replication, min_replicas) if not f.ok]
    assert [what.split(":")[0].split(",")[0] for what in found] == failing


def test_doctor_says_appendonly_is_off(redis_server) -> None:  # noqa: ANN001
    env = {**os.environ, "REDIS_URL": redis_server.url}
    done = subprocess.run([str(Path(sys.executable).with_name("atbat")), "doctor"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  appendonly no: a restart loses every write since the last snapshot" in done.stdout
    assert "ok    role master" in done.stdout
