"""Redis the way a team runs it past one machine: a master, a replica and three sentinels.

Every process is Debian's redis-server / redis-sentinel on a free local port,
started and stopped by the test. Sentinel's timeouts are short (a master is
down after 1 s: shorter ones see a busy test machine's master as down) so a
failover takes a few seconds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import redis

from bot.sandbox.processes import free_port, redis_binary

MASTER_NAME = "atbat-test"
DOWN_AFTER_MS = 1000


def _wait(predicate, what: str, timeout: float = 15.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except redis.exceptions.RedisError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class SentinelSetup:
    def __init__(self, base: Path, sentinels: int = 3) -> None:
        self.base = base
        self.ports = {"a": free_port(), "b": free_port()}  # the two data nodes
        self.sentinel_ports = [free_port() for _ in range(sentinels)]
        self.procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{MASTER_NAME}/0"

    # ------------------------------------------------------------ processes

    def _server(self, port: int, *extra: str) -> None:
        data = self.base / f"redis-{port}"
        data.mkdir(parents=True, exist_ok=True)
        log = (self.base / f"redis-{port}.log").open("ab")
        self.procs[port] = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--repl-diskless-sync-delay", "0", "--dir", str(data),
             *extra],
            stdout=log, stderr=subprocess.STDOUT)
        _wait(lambda: redis.Redis(port=port).ping(), f"redis-server on {port}")

    def _sentinel(self, port: int, master_port: int) -> None:
        conf = self.base / f"sentinel-{port}.conf"
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.base}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {MASTER_NAME} 3000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n")
        log = (self.base / f"sentinel-{port}.log").open("ab")
        sentinel = Path(redis_binary()).with_name("redis-sentinel")
        command = [str(sentinel), str(conf)] if sentinel.exists() else [
            redis_binary(), str(conf), "--sentinel"]
        self.procs[port] = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        master, replica = self.ports["a"], self.ports["b"]
        self._server(master)
        self._server(replica, "--replicaof", "127.0.0.1", str(master))
        _wait(lambda: self.replica_in_sync(replica), "the replica to sync")
        for port in self.sentinel_ports:
            self._sentinel(port, master)
        others = len(self.sentinel_ports) - 1
        for port in self.sentinel_ports:  # every sentinel knows the others and the replica
            s = redis.Redis(port=port, decode_responses=True)
            _wait(lambda s=s: len(s.sentinel_sentinels(MASTER_NAME)) == others
                  and len(s.sentinel_slaves(MASTER_NAME)) == 1, "the sentinels to meet")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    # ------------------------------------------------------------ failover

    def master_port(self) -> int:
        s = redis.Redis(port=self.sentinel_ports[0], decode_responses=True)
        return int(s.sentinel_get_master_addr_by_name(MASTER_NAME)[1])

    def replica_in_sync(self, port: int) -> bool:
        info = redis.Redis(port=port).info("replication")
        return info.get("role") == "slave" and info.get("master_link_status") == "up"

    def kill_master(self) -> int:
        port = self.master_port()
        proc = self.procs[port]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        return port

    def wait_for_new_master(self, old: int, timeout: float = 15.0) -> int:
        def promoted() -> bool:
            return all(int(redis.Redis(port=p, decode_responses=True)
                           .sentinel_get_master_addr_by_name(MASTER_NAME)[1]) != old
                       for p in self.sentinel_ports)
        _wait(promoted, "Sentinel to promote the replica", timeout)
        _wait(self.failover_done, "Sentinel to finish the failover", timeout)
        return self.master_port()

    def failover_done(self) -> bool:
        """Every sentinel sees a plain master (no failover under way) that says it is one."""
        for port in self.sentinel_ports:
            state = redis.Redis(port=port, decode_responses=True).sentinel_master(MASTER_NAME)
            flags = state["flags"]
            if (set(flags.split(",")) if isinstance(flags, str) else set(flags)) != {"master"}:
                return False
        return redis.Redis(port=self.master_port()).info("replication")["role"] == "master"

    def rejoin_as_replica(self, port: int) -> None:
        """The failed machine comes back, empty, as a replica of the new master."""
        self._server(port, "--replicaof", "127.0.0.1", str(self.master_port()))
        _wait(lambda: self.replica_in_sync(port), "the old master to rejoin as a replica")
