"""The layers import downwards only: domain < store < services < Slack adapter and web < RQ entry points.

- `bot/domain` is pure: no store, no Slack, no RQ, no Redis, no HTTP.
- `bot/store` owns Redis and knows nothing of Slack or the services.
- Only `bot/store` issues Redis commands and builds key names.
- `workers/` is imported by RQ alone (its settings module, `bot/rq_settings.py`).
- Services do not reach up into the Slack listeners or the web routes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# Development tools that start and probe a redis-server process, not parts of atbat.
TOOLS = ("bot/sandbox/", "bot/devrun.py", "bot/fakeslack/", "bot/fakephone/")

REDIS_COMMANDS = frozenset({
    "append", "bitcount", "blpop", "brpop", "decr", "decrby", "delete", "eval", "evalsha",
    "execute", "exists", "expire", "expireat", "get", "getdel", "getex", "getset", "hdel",
    "hexists", "hget", "hgetall", "hincrby", "hincrbyfloat", "hkeys", "hlen", "hmget", "hset",
    "hsetnx", "hvals", "incr", "incrby", "incrbyfloat", "keys", "lindex", "llen", "lock",
    "lpop", "lpush", "lrange", "lrem", "ltrim", "mget", "mset", "multi", "persist", "pexpire",
    "pfadd", "ping", "pipeline", "publish", "register_script", "rpop", "rpush", "sadd", "scan",
    "scard", "set", "setex", "setnx", "sismember", "smembers", "spop", "srem", "ttl", "type",
    "unlink", "unwatch", "watch", "xadd", "xlen", "xrange", "xrevrange", "xtrim", "zadd",
    "zcard", "zcount", "zincrby", "zrange", "zrangebyscore", "zrem", "zremrangebyscore",
    "zrevrange", "zscore", "flushall", "flushdb",
})
# Names a Redis connection or pipeline goes by in this code base.
REDIS_HOLDERS = frozenset({"redis", "r", "pipe", "pipeline", "client", "conn"})


def modules(*roots: str) -> Iterator[tuple[str, ast.Module]]:
    for root in roots:
        for path in sorted((ROOT / root).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(), rel)


def imported(tree: ast.Module) -> set[str]:
    """Every module name imported, at any depth (imports inside functions count too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(roots: tuple[str, ...], forbidden: tuple[str, ...],
               allowed: tuple[str, ...] = ()) -> list[str]:
    found = []
    for rel, tree in modules(*roots):
        if rel.startswith(allowed):
            continue
        for name in sorted(imported(tree)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{rel} imports {name}")
    return found


def test_the_domain_is_pure() -> None:
    assert violations(("bot/domain",), ("bot.store", "bot.slack", "bot.services", "bot.runtime",
                                        "bot.config", "yaml",
                                        "bot.web", "workers", "rq", "redis", "slack_bolt",
                                        "slack_sdk", "requests", "flask")) == []


def test_the_store_knows_no_slack_and_no_service() -> None:
    assert violations(("bot/store",), ("bot.slack", "bot.services", "bot.web", "workers",
                                       "slack_bolt", "slack_sdk", "flask")) == []


def test_services_do_not_reach_up_into_listeners_or_web() -> None:
    assert violations(("bot/services",), ("bot.slack.listeners", "bot.slack.app", "bot.slack.clicks",
                                          "bot.slack.commands", "bot.web", "workers",
                                          "slack_bolt", "flask")) == []


def test_workers_are_imported_by_rq_alone() -> None:
    assert violations(("bot", "tests", "bench", "workers"), ("workers",),
                      allowed=("bot/rq_settings.py",)) == []


def test_rq_settings_preloads_every_job_module() -> None:
    preloaded = (ROOT / "bot" / "rq_settings.py").read_text()
    missing = [p.stem for p in sorted((ROOT / "workers").glob("*.py"))
               if p.stem != "__init__" and f"import workers.{p.stem}  " not in preloaded]
    assert missing == []


def test_only_the_store_builds_key_names() -> None:
    assert violations(("bot", "workers"), ("bot.store.keys",), allowed=("bot/store/",)) == []


def redis_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        holder = node.func.value
        name = holder.attr if isinstance(holder, ast.Attribute) else getattr(holder, "id", "")
        if node.func.attr in REDIS_COMMANDS and name in REDIS_HOLDERS:
            yield node.lineno, f"{ast.unparse(holder)}.{node.func.attr}"


def test_only_the_store_issues_redis_commands() -> None:
    found = [f"{rel}:{line} {call}" for rel, tree in modules("bot", "workers")
             if not rel.startswith(("bot/store/", *TOOLS))
             for line, call in redis_calls(tree)]
    assert found == []


@pytest.mark.parametrize("source, expected", [
    ("rt.redis.get('k')", ["rt.redis.get"]),
    ("r.hset('k', 'f', 1)", ["r.hset"]),
    ("with runtime.redis.pipeline() as p: pass", ["runtime.redis.pipeline"]),
    ("store.get(rt.redis, 'k')", []),
    ("requests.post(url)", []),
])
def test_the_redis_call_finder_sees_what_it_should(source: str, expected: list[str]) -> None:
    assert [call for _, call in redis_calls(ast.parse(source))] == expected
