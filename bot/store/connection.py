"""Where Redis is: one server (`redis://`, `rediss://`, `unix://`) or a Sentinel-watched master.

`REDIS_URL=redis+sentinel://[:password@]host1:26379,host2:26379/mymaster/0` names
the sentinels, the master's service name and the database. The password, if
any, is the master's (and its replicas'); sentinels are asked without one.
Every process (web, workers, RQ's scheduler, the periodic tick) connects
through `connect()`, so all of them follow a failover: redis-py asks the
sentinels for the master's address on every new connection, and a connection
to a demoted master is dropped on its first READONLY answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlparse

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
# Sentinels answer in microseconds; a dead one must not hold a request for long.
SENTINEL_TIMEOUT = 0.5
CONNECT_TIMEOUT = 2
SOCKET_TIMEOUT = 5


class RedisUrlError(ValueError):
    """The URL cannot be used; str() says what was expected."""


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    password: str | None = None


def is_sentinel_url(url: str) -> bool:
    return url.startswith(SENTINEL_SCHEME + "://")


def parse_sentinel_url(url: str) -> SentinelTarget:
    parsed = urlparse(url)
    if parsed.scheme != SENTINEL_SCHEME:
        raise RedisUrlError(f"expected {SENTINEL_SCHEME}://...")
    netloc = parsed.netloc
    password = None
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[1] if ":" in auth else auth) or None
    sentinels = tuple(_host_port(part) for part in netloc.split(",") if part)
    if not sentinels:
        raise RedisUrlError("no sentinel host:port given")
    path = [p for p in parsed.path.split("/") if p]
    if not path or len(path) > 2:
        raise RedisUrlError("expected /MASTER_NAME or /MASTER_NAME/DB after the sentinels")
    db_text = path[1] if len(path) == 2 else "0"
    if not db_text.isdigit():
        raise RedisUrlError(f"database must be a number, got {db_text!r}")
    return SentinelTarget(sentinels, unquote(path[0]), int(db_text), password)


def sentinel_url(sentinels: str, master: str, db: int = 0) -> str:
    """The URL form of REDIS_SENTINELS ("host:port,host:port") and REDIS_SENTINEL_MASTER."""
    hosts = ",".join(part.strip() for part in sentinels.split(",") if part.strip())
    return f"{SENTINEL_SCHEME}://{hosts}/{master}/{db}"


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.strip().rpartition(":")
    if not host:
        host, port = port, "26379"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise RedisUrlError(f"expected host:port for each sentinel, got {text!r}")
    return host.strip("[]"), int(port)


def connect(url: str) -> redis.Redis:
    """A client for the URL; for Sentinel, one that always talks to the current master."""
    options = dict(socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=SOCKET_TIMEOUT,
                   health_check_interval=30)
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, decode_responses=False, **options)
    target = parse_sentinel_url(url)
    return sentinel_for(target).master_for(target.master, db=target.db,
                                           password=target.password, **options)


def sentinel_for(target: SentinelTarget) -> Sentinel:
    return Sentinel(list(target.sentinels), sentinel_kwargs={
        "socket_timeout": SENTINEL_TIMEOUT, "socket_connect_timeout": SENTINEL_TIMEOUT})


def rq_connection_settings(url: str) -> dict[str, object]:
    """What `rq worker -c bot.rq_settings` reads: REDIS_URL, or SENTINEL for a sentinel URL."""
    if not is_sentinel_url(url):
        return {"REDIS_URL": url}
    target = parse_sentinel_url(url)
    return {"REDIS_URL": None, "SENTINEL": {
        "INSTANCES": list(target.sentinels), "MASTER_NAME": target.master, "DB": target.db,
        "PASSWORD": target.password, "SOCKET_TIMEOUT": SOCKET_TIMEOUT,
        "CONNECTION_KWARGS": {"socket_connect_timeout": CONNECT_TIMEOUT},
        "SENTINEL_KWARGS": {"socket_timeout": SENTINEL_TIMEOUT,
                            "socket_connect_timeout": SENTINEL_TIMEOUT},
    }}
