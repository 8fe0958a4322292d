"""Redis Cluster faults under load, on two `authd serve` replicas of this machine.

Each scenario starts from scratch: a fresh local Redis Cluster (tests/redis-cluster.sh: three
masters, three replicas, node timeout 2 s; every replica synced before anything else, or a killed
master would never be replaced), a fresh Postgres database, and two replicas sharing one master
key and one issuer, on that cluster under a key prefix of their own. The prefix is chosen so that
the invalidation channel (`{prefix}events`, sharded pub/sub) lives on the master that owns the
revocation mirror (`{revocations}`), in one of the slots just below its slot: the fault takes the
replicas' subscription away together with the mirror they then fall back on, and a reshard (which
moves slots in ascending order) moves the channel just before the mirror. Before the load, the
replicas are made to write the mirror's `loaded` marker (their subscriptions are cut once with
CLIENT KILL TYPE pubsub while a token is verified), as a deployment that has run a while has it:
otherwise every check through Redis after the fault would go on to Postgres and never trust the
mirror. `authd-load --scenario mixed` runs at 150 requests/s (open model) against both replicas
for 20 s, and about 5 s in, the scenario breaks the cluster:

  master-killed  `kill -9` of the master owning `{revocations}`; its replica takes over. Figure:
                 the failover window, from the kill until a node reports itself master of that
                 slot and cluster_state:ok (polled every 50 ms).
  resharded      every slot of that master moved to another master with
                 `redis-cli --cluster reshard` (keys migrated; clients meet MOVED and ASK).
                 Figures: how long the reshard took, and when the `{revocations}` slot moved.

Meanwhile a checker, alternating replicas, holds authd to this:
  revoked-accepted  20 tokens logged out before the load, and one more every ~300 ms during it
                    (POST /auth, GET /me on both replicas, POST /logout): once a logout is
                    acknowledged (204), GET /me with that token must be 401 on the replica that
                    revoked it at once, on the other from AUTHD_REVOCATION_MAX_LAG (250 ms) on,
                    and on both ever after. A logout that failed (5xx, no answer) is not checked.
  reuse-missed      every ~500 ms: a password grant, one refresh (must give a new refresh token),
                    then the old refresh token replayed on the other replica: the replay must be
                    refused (4xx); then the rotated-to refresh token must be refused too, and the
                    access token the refresh gave must be refused by GET /me like a revoked one
                    (reuse revokes the whole family, docs/api.md). An answer of 5xx or none is
                    counted as an error, not a violation.
The cycles start on schedule whatever the answers (each in a thread of its own), so some are in
flight during the fault. After the load, once the cluster is healthy and both replicas ready, the
login throttle must still be exact: for 12 fresh users, AUTHD_LOGIN_FAILURE_LIMIT (5) wrong
passwords alternating replicas are each 401 `invalid_credentials`, and the next attempt is 429
`rate_limited`.

What must hold: no revoked token accepted, no reuse missed, the throttle exact, the load's
errors (reported: how many, first to last, the last one relative to the fault) over within 15 s of
the fault, and, once the cluster has recovered, every token whose revocation answered 5xx during
the fault refused by both replicas too (the revocation reached Postgres; the replica that made
it announces it once Redis takes it). Reported without failing the run: such tokens accepted
during the fault, before Redis took the announcement; when each replica stopped and
started trusting its memory again (`authd_invalidation_lag_seconds`, sampled every 100 ms); what a
logout took before and after the fault; each replica's warnings by message. It prints one line of
figures per scenario, writes them all as JSON with --report, and exits 1 if anything did not hold.
Run from the repository root:

    python3 tests/redis_failover.py [--authd target/debug/authd] [--load target/debug/authd-load]
        [--report target/redis-failover.json] [master-killed] [resharded]

Needs redis-server and redis-cli (Debian's), psql, and Postgres at --postgres (trust auth). Honours
REDIS_CLUSTER_PORT and REDIS_CLUSTER_DIR as tests/redis-cluster.sh does. It leaves the cluster
healthy behind it (stopped and started afresh), and removes its databases even when it fails; a
failed scenario's replica logs stay in the directory its report names (--keep-logs: all).
"""

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_SCRIPT = ROOT / "tests" / "redis-cluster.sh"
BASE_PORT = int(os.environ.get("REDIS_CLUSTER_PORT", "7000"))
CLUSTER_DIR = Path(os.environ.get("REDIS_CLUSTER_DIR", "/tmp/authd-redis-cluster"))
PORTS = [BASE_PORT + i for i in range(6)]

RATE = 150  # requests/s: the 2-core machine carries it with room for the checker and the fault
USERS = 16
DURATION_S = 20
FAULT_AT_S = 5.0  # into the load
MAX_LAG_S = 0.250  # AUTHD_REVOCATION_MAX_LAG's default, which the replicas run with
FAILURE_LIMIT = 5  # AUTHD_LOGIN_FAILURE_LIMIT's default
RECOVERY_BOUND_S = 15.0
REVOKED_BEFORE_LOAD = 20
REVOKE_EVERY_S = 0.3
REUSE_EVERY_S = 0.5
MAX_IN_FLIGHT = 32  # cycles of each kind at once (in the fault, a cycle waits out Redis timeouts)
THROTTLE_USERS = 12
ISSUER = "http://authd.failover.test"  # both replicas: tokens of one verify on the other
HTTP_TIMEOUT_S = 5
REVOCATIONS_TAG = "{revocations}"


class Failed(Exception):
    """The scenario could not run (not a finding about authd)."""


# --- Redis: a few commands over a socket (RESP), and the cluster's layout ----------------------


class RedisError(Exception):
    pass


def _reply(stream):
    line = stream.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else stream.read(size + 2)[:-2].decode()
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [_reply(stream) for _ in range(size)]
    raise RedisError(f"unexpected reply {line!r}")


def redis(port: int, *args: str, timeout: float = 1.0):
    """One command to one node, its reply parsed."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        parts = [f"*{len(args)}\r\n"]
        for arg in args:
            parts.append(f"${len(arg.encode())}\r\n{arg}\r\n")
        sock.sendall("".join(parts).encode())
        return _reply(sock.makefile("rb"))


def crc16(data: bytes) -> int:
    """CRC16-CCITT (XMODEM), Redis Cluster's key hash."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def keyslot(key: str) -> int:
    raw = key.encode()
    start = raw.find(b"{")
    if start != -1:
        end = raw.find(b"}", start + 1)
        if end > start + 1:
            raw = raw[start + 1:end]
    return crc16(raw) % 16384


@dataclass
class Node:
    id: str
    port: int
    flags: set
    master_id: str
    slots: list  # (first, last) ranges

    @property
    def is_master(self) -> bool:
        return "master" in self.flags

    @property
    def failed(self) -> bool:
        return bool(self.flags & {"fail", "fail?", "noaddr"})

    def owns(self, slot: int) -> bool:
        return any(first <= slot <= last for first, last in self.slots)

    def slot_count(self) -> int:
        return sum(last - first + 1 for first, last in self.slots)


def cluster_nodes(port: int) -> list[Node]:
    """The cluster as the node on `port` sees it; `myself` marks that node."""
    nodes = []
    for line in redis(port, "CLUSTER", "NODES").splitlines():
        parts = line.split()
        if len(parts) < 8:
            continue
        node_id, address, flags, master_id = parts[:4]
        ranges = []
        for item in parts[8:]:
            if item.startswith("["):  # a slot being imported or migrated
                continue
            first, _, last = item.partition("-")
            ranges.append((int(first), int(last or first)))
        nodes.append(Node(node_id, int(address.split("@")[0].rsplit(":", 1)[1]),
                          set(flags.split(",")), master_id, ranges))
    return nodes


def cluster_ok(port: int) -> bool:
    return "cluster_state:ok" in redis(port, "CLUSTER", "INFO")


def myself(port: int) -> Node:
    return next(node for node in cluster_nodes(port) if "myself" in node.flags)


def pid_of(port: int) -> int:
    return int((CLUSTER_DIR / str(port) / "redis.pid").read_text().strip())


def cluster_script(command: str) -> str:
    done = subprocess.run(["bash", str(CLUSTER_SCRIPT), command], capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"tests/redis-cluster.sh {command} failed:\n{done.stdout}{done.stderr}")
    return done.stdout.strip()


def restart_cluster() -> None:
    """A fresh cluster, every replica's replication link up: a replica that has not synced yet
    refuses to take over (its data counts as too old), and the failover would never come."""
    cluster_script("stop")
    cluster_script("start")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            replicas = [node.port for node in cluster_nodes(BASE_PORT) if not node.is_master]
            if all("master_link_status:up" in redis(port, "INFO", "replication")
                   for port in replicas):
                return
        except (OSError, RedisError):
            pass
        time.sleep(0.1)
    raise Failed("the cluster's replicas did not sync with their masters within 30 s")


@dataclass
class Layout:
    """Where the revocation mirror lives when the scenario starts."""
    slot: int
    master: Node
    replica: Node
    others: list  # the other masters


def layout() -> Layout:
    slot = keyslot(REVOCATIONS_TAG)
    served = redis(BASE_PORT, "CLUSTER", "KEYSLOT", REVOCATIONS_TAG)
    if served != slot:
        raise Failed(f"CRC16 says slot {slot} for {REVOCATIONS_TAG}, Redis says {served}")
    nodes = cluster_nodes(BASE_PORT)
    master = next(n for n in nodes if n.is_master and n.owns(slot))
    replica = next(n for n in nodes if not n.is_master and n.master_id == master.id)
    others = [n for n in nodes if n.is_master and n.id != master.id]
    return Layout(slot, master, replica, others)


def choose_prefix(place: Layout) -> tuple[str, int]:
    """A key prefix whose `{prefix}events` channel hashes to a slot of the mirror's master, as
    close below the mirror's slot as a short search finds (or any slot of that master)."""
    below = [s for s in range(place.slot - 64, place.slot) if place.master.owns(s)]
    wanted = set(below) or {s for first, last in place.master.slots for s in range(first, last + 1)}
    for _ in range(200_000):
        prefix = f"authd-failover-{secrets.token_hex(4)}:"
        slot = keyslot(prefix + "events")
        if slot in wanted:
            served = redis(BASE_PORT, "CLUSTER", "KEYSLOT", prefix + "events")
            if served != slot:
                raise Failed(f"CRC16 says slot {slot} for {prefix}events, Redis says {served}")
            return prefix, slot
    raise Failed("no prefix found for the channel's slot")


# --- Postgres, replicas, the load ---------------------------------------------------------------


class Database:
    def __init__(self, server: str):
        self.server = server.rstrip("/")
        self.name = f"authd_redis_failover_{secrets.token_hex(4)}"
        self.url = f"{self.server}/{self.name}"
        self.created = False

    def psql(self, sql: str) -> None:
        done = subprocess.run(["psql", f"{self.server}/postgres", "-v", "ON_ERROR_STOP=1",
                               "-qc", sql], capture_output=True, text=True)
        if done.returncode != 0:
            raise Failed(f"psql {sql!r}: {done.stderr.strip()}")

    def create(self) -> None:
        self.psql(f"CREATE DATABASE {self.name}")
        self.created = True

    def drop(self) -> None:
        if self.created:
            self.psql(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            self.created = False


class Replica:
    def __init__(self, name: str, binary: str, env: dict, work: Path):
        self.name = name
        self.out = work / f"{name}.out"
        self.log = work / f"{name}.log"
        with open(self.out, "w") as out, open(self.log, "w") as log:
            self.proc = subprocess.Popen([binary, "serve"], env=env, stdout=out, stderr=log,
                                         stdin=subprocess.DEVNULL)
        self.url = ""

    def wait_listening(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.out.read_text().splitlines():
                if line.startswith("authd listening on "):
                    self.url = line.removeprefix("authd listening on ").strip()
                    return
            if self.proc.poll() is not None:
                raise Failed(f"{self.name} exited with {self.proc.returncode}:\n"
                             + self.tail(everything=True))
            time.sleep(0.1)
        raise Failed(f"{self.name} did not start listening:\n{self.tail(everything=True)}")

    def ready(self) -> bool:
        return status_of(requests.get, f"{self.url}/readyz")[0] == 200

    def metrics(self) -> dict:
        """A few counters from /metrics, summed over their labels."""
        wanted = ("authd_rate_limit_fallbacks_total", "authd_revocation_round_trips_total",
                  "authd_refresh_token_reuse_total")
        figures = dict.fromkeys(wanted, 0)
        try:
            text = requests.get(f"{self.url}/metrics", timeout=HTTP_TIMEOUT_S).text
        except requests.RequestException:
            return figures
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in figures:
                figures[name] += int(float(line.rsplit(" ", 1)[1]))
        return figures

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=35)  # drains in-flight requests for up to 30 s
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 30, everything: bool = False) -> str:
        """The last warnings and errors of the log, and what it said about the invalidation
        channel, without those this test causes on purpose (revoked tokens and reused refresh
        tokens presented, the throttle refusing), each cut short; `everything`: the last lines."""
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        if everything:
            return "\n".join(line[:400] for line in text[-lines:]) or "(empty log)"
        routine = ("revoked token presented", "refresh token reused", "rate limit exceeded")
        kept = [line[:400] for line in text
                if ('"level":"WARN"' in line or '"level":"ERROR"' in line
                    or "invalidation channel" in line)
                and not any(r in line for r in routine)]
        return "\n".join(kept[-lines:]) or "(no warnings)"

    def warnings(self) -> Counter:
        """Warning and error log lines, by level and message."""
        seen = Counter()
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return seen
        for line in text:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            level = str(entry.get("level", "")).upper()
            if level in ("WARN", "ERROR"):
                message = entry.get("fields", {}).get("message") or entry.get("message") or ""
                seen[f"{level} {message}"] += 1
        return seen


def status_of(method, url: str, session=None, **kwargs) -> tuple[int, str]:
    """(status, body) of one request; (0, the error) when no answer came."""
    call = getattr(session, method.__name__) if session is not None else method
    try:
        response = call(url, timeout=HTTP_TIMEOUT_S, **kwargs)
        return response.status_code, response.text
    except requests.RequestException as err:
        return 0, type(err).__name__


def memory_current(http, url: str) -> bool | None:
    """Whether the replica trusts its memory (its invalidation lag is within the max lag), from
    `authd_invalidation_lag_seconds` (-1 while it does not follow the channel); None if unknown."""
    status, text = status_of(requests.get, f"{url}/metrics", http)
    if status != 200:
        return None
    for line in text.splitlines():
        if line.startswith("authd_invalidation_lag_seconds "):
            lag = float(line.split()[1])
            return 0 <= lag <= MAX_LAG_S
    return None


def wait_memory_current(replicas: list["Replica"], timeout: float = 20) -> float:
    http = requests.Session()
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(memory_current(http, replica.url) for replica in replicas):
            return time.monotonic() - started
        time.sleep(0.1)
    return float("inf")


def create_client(binary: str, env: dict) -> str:
    """ID:SECRET of a confidential client for the load's introspection requests."""
    done = subprocess.run([binary, "clients", "create", "--name", "failover-load", "--scope", ""],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"authd clients create failed: {done.stderr.strip()}")
    client = json.loads(done.stdout)
    return f"{client['client_id']}:{client['client_secret']}"


class Load:
    """authd-load in the background; `started()` returns once it measures."""

    def __init__(self, binary: str, targets: list[str], client: str, work: Path, rate: float,
                 seconds: int):
        self.out = work / "load.json"
        self.stderr = work / "load.stderr"
        command = [binary, "--scenario", "mixed", "--rate", str(rate), "--duration",
                   f"{seconds}s", "--users", str(USERS), "--client", client, "--json",
                   str(self.out)]
        for target in targets:
            command += ["--target", target]
        with open(work / "load.stdout", "w") as out, open(self.stderr, "w") as err:
            self.proc = subprocess.Popen(command, stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL)
        self.measuring_since = 0.0  # Unix time

    def started(self, timeout: float = 120) -> None:
        # The first progress line comes one second into the measurement.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith("[") for line in self.stderr.read_text().splitlines()):
                self.measuring_since = time.time() - 1
                return
            if self.proc.poll() is not None:
                raise Failed("authd-load stopped before measuring:\n" + self.stderr.read_text())
            time.sleep(0.05)
        raise Failed("authd-load did not start measuring:\n" + self.stderr.read_text())

    def result(self) -> dict:
        if self.proc.wait() != 0:
            raise Failed("authd-load failed:\n" + self.stderr.read_text())
        return json.loads(self.out.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# --- The checker --------------------------------------------------------------------------------


@dataclass
class MustRefuse:
    """A token that must be refused (401 on GET /me): from `acked_at` on the replica that
    acknowledged its revocation, from `acked_at` + the max lag on the other."""
    token: str
    kind: str
    acked_at: float  # monotonic
    acked_unix: float
    by: int  # index of the replica that acknowledged
    checked: set = field(default_factory=set)  # replicas checked since due
    binding: bool = True  # False: watched and reported, not a violation if accepted

    def due(self, replica: int) -> float:
        return self.acked_at + (0.0 if replica == self.by else MAX_LAG_S)


class Checker:
    """Threads that revoke and replay against both replicas, and check the outcome."""

    def __init__(self, replicas: list[Replica]):
        self.urls = [replica.url for replica in replicas]
        self.names = [replica.name for replica in replicas]
        self.lock = threading.Lock()
        self.entries: list[MustRefuse] = []
        self.violations: list[dict] = []
        self.counts = Counter()
        self.errors = Counter()  # by check, then status
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.fault_unix: float | None = None
        self.crashed: list[str] = []
        self.trust: list[list] = [[], []]  # per replica: (unix time, trusts its memory)
        self.times: dict[str, list] = {"me_checks": [], "logouts": [],
                                       "logouts_acknowledged": [], "replays": []}  # (sent,
        # answered) Unix times, to count those in flight during the fault
        self.first_check_delays_ms: list[float] = []  # from when a check was due to when sent
        self.logout_ms: list[tuple] = []  # (unix time, status, milliseconds) of every logout
        self.observations: list[dict] = []  # tokens of revocations answered 5xx, accepted later
        self.started_at = float("inf")  # monotonic; checks due before it wait for the checker

    # Requests -----------------------------------------------------------------------------------

    def register(self, http, replica: int) -> tuple[str, str]:
        username = f"failover-{secrets.token_hex(5)}"
        status, body = status_of(requests.post, f"{self.urls[replica]}/register", http,
                                 json={"username": username,
                                       "email": f"{username}@failover.example"})
        if status != 201:
            raise Failed(f"register on {self.names[replica]}: {status} {body[:200]}")
        return username, json.loads(body)["password"]

    def me(self, http, replica: int, token: str) -> tuple[int, str]:
        return status_of(requests.get, f"{self.urls[replica]}/me", http,
                         headers={"Authorization": f"Bearer {token}"})

    def token_grant(self, http, replica: int, form: dict) -> tuple[int, str]:
        return status_of(requests.post, f"{self.urls[replica]}/oauth/token", http, data=form)

    def error(self, check: str, status: int) -> None:
        with self.lock:
            self.errors[f"{check} {status}"] += 1

    def violation(self, check: str, replica: int, status: int, body: str, **details) -> None:
        now = time.time()
        found = {"check": check, "replica": self.names[replica], "url": self.urls[replica],
                 "status": status, "body": body[:300], "unix": round(now, 3),
                 "since_fault_s": None if self.fault_unix is None
                 else round(now - self.fault_unix, 3), **details}
        with self.lock:
            self.violations.append(found)
            count = len(self.violations)
        if count <= 10:  # all of them are in the report
            print(f"  VIOLATION {json.dumps({**found, 'body': found['body'][:120]})}", flush=True)

    def observe(self, token: str, kind: str, replica: int, answered_by: int,
                since_answer_ms: float) -> None:
        """A token accepted after a revocation that answered 5xx: not held to anything (it was
        not acknowledged), but docs/api.md says such a logout "is already durable and
        enforced", so it is reported."""
        with self.lock:
            self.observations.append({
                "token": token, "kind": kind, "accepted_by": self.names[replica],
                "5xx_from": self.names[answered_by],
                "since_5xx_ms": round(since_answer_ms, 1),
                "since_fault_s": None if self.fault_unix is None
                else round(time.time() - self.fault_unix, 3)})

    # Revoked tokens -----------------------------------------------------------------------------

    def revoke_one(self, http, n: int, kind: str, username: str, password: str) -> bool:
        """Logs in, uses the token on both replicas, logs out; the token joins those that must
        be refused if the logout was acknowledged."""
        login_on, logout_on = n % 2, (n + 1) % 2
        status, body = status_of(requests.post, f"{self.urls[login_on]}/auth", http,
                                 json={"username": username, "password": password})
        if status != 200:
            self.error("login", status)
            return False
        token = json.loads(body)["token"]
        for replica in (0, 1):  # in use on both: each replica's verified-token cache holds it
            status, _ = self.me(http, replica, token)
            if status != 200:
                self.error("me-before-logout", status)
        sent, sent_unix = time.monotonic(), time.time()
        status, body = status_of(requests.post, f"{self.urls[logout_on]}/logout", http,
                                 headers={"Authorization": f"Bearer {token}"})
        acked_at, acked_unix = time.monotonic(), time.time()
        with self.lock:
            self.logout_ms.append((acked_unix, status, (acked_at - sent) * 1000))
            self.times["logouts"].append((sent_unix, acked_unix))
        if status != 204:
            self.error("logout", status)
            with self.lock:
                self.counts["logouts_unacknowledged"] += 1
                if status >= 500:
                    # Not acknowledged, so not held to anything; docs/api.md says such a logout
                    # is "already durable and enforced", so whether it is gets reported.
                    self.entries.append(MustRefuse(token, "unacknowledged-logout", acked_at,
                                                   acked_unix, logout_on, {0, 1}, False))
            return False
        with self.lock:
            self.counts["logouts_acknowledged"] += 1
            self.times["logouts_acknowledged"].append((sent_unix, acked_unix))
            self.entries.append(MustRefuse(token, kind, acked_at, acked_unix, logout_on))
        return True

    def prepare_revoked(self, count: int) -> None:
        http = requests.Session()
        for n in range(count):
            username, password = self.register(http, n % 2)
            if not self.revoke_one(http, n, "revoked-before-load", username, password):
                raise Failed(f"could not revoke a token before the load: {dict(self.errors)}")

    def every(self, period: float, action) -> None:
        """Starts `action(n)` every `period` seconds in a thread of its own (at most
        MAX_IN_FLIGHT at once), on schedule whatever the answers: a cycle stuck behind a Redis
        timeout during the fault does not hold the next ones back."""
        in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)
        threads = []

        def run(n: int) -> None:
            try:
                action(n)
            except Exception as err:  # noqa: BLE001 - reported, and fails the scenario
                self.crashed.append(f"{action.__name__}: {type(err).__name__}: {err}")
            finally:
                in_flight.release()

        next_at = time.monotonic()
        n = 0
        while not self.stopping.is_set():
            if in_flight.acquire(blocking=False):
                thread = threading.Thread(target=run, args=(n,), daemon=True)
                thread.start()
                threads.append(thread)
                n += 1
            else:
                with self.lock:
                    self.counts[f"{action.__name__}_skipped"] += 1
            next_at += period
            self.stopping.wait(max(0.0, next_at - time.monotonic()))
        for thread in threads:
            thread.join(timeout=30)

    def revoker(self) -> None:
        users = [self.register(requests.Session(), n % 2) for n in range(4)]

        def revoke_cycle(n: int) -> None:
            self.revoke_one(requests.Session(), n, "revoked-during-load", *users[n % len(users)])

        self.every(REVOKE_EVERY_S, revoke_cycle)

    def check(self, http, entry: MustRefuse, replica: int) -> None:
        sent, sent_unix = time.monotonic(), time.time()
        status, body = self.me(http, replica, entry.token)
        with self.lock:
            self.counts["me_checks"] += 1
            self.times["me_checks"].append((sent_unix, time.time()))
            if sent >= entry.due(replica) and replica not in entry.checked:
                entry.checked.add(replica)
                if entry.due(replica) >= self.started_at:
                    self.first_check_delays_ms.append((sent - entry.due(replica)) * 1000)
        if status == 200 and not entry.binding:
            with self.lock:
                number = self.entries.index(entry) + 1
            self.observe(f"token {number}", entry.kind, replica, entry.by,
                         (sent - entry.acked_at) * 1000)
        elif status == 200:
            check = "reuse-missed" if entry.kind == "reused-family-access" else "revoked-accepted"
            self.violation(check, replica, status, body, kind=entry.kind,
                           revoked_by=self.names[entry.by],
                           since_ack_ms=round((sent - entry.acked_at) * 1000, 1),
                           acked_unix=round(entry.acked_unix, 3))
        elif status != 401:
            self.error("me-revoked", status)

    def verifier(self) -> None:
        """Each newly due (token, replica) first, as soon as due; otherwise all of them round
        robin, so a revocation lost later (a failover, a migration) shows too."""
        http = requests.Session()
        turn = 0
        while not self.stopping.is_set():
            now = time.monotonic()
            with self.lock:
                fresh = [(entry.due(r), id(entry), entry, r) for entry in self.entries
                         for r in (0, 1) if r not in entry.checked and entry.due(r) <= now]
                settled = [entry for entry in self.entries if len(entry.checked) == 2]
            if fresh:
                _, _, entry, replica = min(fresh, key=lambda item: item[:2])
            elif settled:
                entry, replica = settled[turn % len(settled)], random.randrange(2)
                turn += 1
            else:
                self.stopping.wait(0.01)
                continue
            self.check(http, entry, replica)
            if not fresh:
                self.stopping.wait(0.02)

    def final_sweep(self) -> None:
        """Every token that must be refused, on both replicas, once more. By now Redis is back,
        so a revocation that answered 5xx is bound too: it reached Postgres, and the replica
        that made it keeps announcing it until Redis takes it (docs/high-availability.md)."""
        time.sleep(MAX_LAG_S)
        http = requests.Session()
        with self.lock:
            entries = list(self.entries)
            for entry in entries:
                entry.binding = True
        for entry in entries:
            for replica in (0, 1):
                self.check(http, entry, replica)

    # Refresh-token reuse ------------------------------------------------------------------------

    def reuse_once(self, http, n: int, username: str, password: str) -> None:
        a, b = n % 2, (n + 1) % 2
        status, body = self.token_grant(http, a, {"grant_type": "password", "username": username,
                                                  "password": password})
        if status != 200:
            self.error("password-grant", status)
            return
        first = json.loads(body)["refresh_token"]
        status, body = self.token_grant(http, a, {"grant_type": "refresh_token",
                                                  "refresh_token": first})
        if status != 200:
            # A 4xx here would be a valid token refused; 5xx or none: the fault.
            self.error("refresh", status)
            return
        rotated = json.loads(body)
        second, access = rotated["refresh_token"], rotated["access_token"]
        if second == first:
            self.violation("reuse-missed", a, status, "the refresh answered the same token",
                           step="refresh")
        status, _ = self.me(http, b, access)
        if status != 200:
            self.error("me-before-replay", status)
        sent_unix = time.time()
        status, body = self.token_grant(http, b, {"grant_type": "refresh_token",
                                                  "refresh_token": first})
        with self.lock:
            self.counts["replays"] += 1
            self.times["replays"].append((sent_unix, time.time()))
        if 200 <= status < 300:
            self.violation("reuse-missed", b, status, body, step="replay accepted")
            return
        if not 400 <= status < 500:
            self.error("replay", status)
            if status >= 500:
                # Not acknowledged: reported, not held (the reuse is detected in Postgres, so
                # the family should be over whatever Redis did).
                answered, answered_unix = time.monotonic(), time.time()
                with self.lock:
                    self.entries.append(MustRefuse(access, "unacknowledged-reuse-access",
                                                   answered, answered_unix, b, {0, 1}, False))
                status, _ = self.token_grant(http, a, {"grant_type": "refresh_token",
                                                       "refresh_token": second})
                if 200 <= status < 300:
                    self.observe(f"refresh token of cycle {n}", "unacknowledged-reuse-rotated",
                                 a, b, (time.monotonic() - answered) * 1000)
            return
        acked_at, acked_unix = time.monotonic(), time.time()
        with self.lock:
            self.counts["replays_refused"] += 1
            self.entries.append(MustRefuse(access, "reused-family-access", acked_at, acked_unix,
                                           b))
        status, body = self.token_grant(http, a, {"grant_type": "refresh_token",
                                                  "refresh_token": second})
        if 200 <= status < 300:
            self.violation("reuse-missed", a, status, body,
                           step="rotated-to token accepted after the replay was refused")
        elif not 400 <= status < 500:
            self.error("rotated-after-replay", status)

    def reuser(self) -> None:
        users = [self.register(requests.Session(), n % 2) for n in range(4)]

        def reuse_cycle(n: int) -> None:
            self.reuse_once(requests.Session(), n, *users[n % len(users)])

        self.every(REUSE_EVERY_S, reuse_cycle)

    # Freshness and figures ----------------------------------------------------------------------

    def watcher(self) -> None:
        """Samples each replica's invalidation lag every 100 ms, to tell when it stopped trusting
        its memory (verifying through Redis or Postgres instead) and when it trusted it again."""
        http = requests.Session()
        while not self.stopping.is_set():
            for replica in (0, 1):
                trusts = memory_current(http, self.urls[replica])
                with self.lock:
                    seen = self.trust[replica]
                    if trusts is not None and (not seen or seen[-1][1] != trusts):
                        seen.append((time.time(), trusts))
            self.stopping.wait(0.1)

    def logout_latency(self, start: float, end: float) -> dict:
        """Median and maximum milliseconds of the acknowledged logouts before `start` and after
        `end` (Unix times): what a revocation costs before the fault and after it."""
        def figures(values: list) -> dict:
            values = sorted(values)
            return {"count": len(values),
                    "p50": round(values[len(values) // 2], 1) if values else None,
                    "max": round(values[-1], 1) if values else None}
        with self.lock:
            done = [(at, ms) for at, status, ms in self.logout_ms if status == 204]
        return {"before_fault": figures([ms for at, ms in done if at < start]),
                "after_fault": figures([ms for at, ms in done if at > end])}

    def during(self, start: float, end: float) -> dict:
        """How many of each timed action were in flight at some time between `start` and `end`
        (Unix times): sent before the end, answered after the start."""
        with self.lock:
            return {name: sum(sent <= end and answered >= start for sent, answered in times)
                    for name, times in self.times.items()}

    def distrust_windows(self) -> dict:
        """Per replica, the spans (seconds from the fault) in which it did not trust its memory."""
        origin = self.fault_unix or 0.0
        windows = {}
        for replica in (0, 1):
            spans, opened = [], None
            for at, trusts in self.trust[replica]:
                if not trusts and opened is None:
                    opened = at
                elif trusts and opened is not None:
                    spans.append([round(opened - origin, 2), round(at - origin, 2)])
                    opened = None
            if opened is not None:
                spans.append([round(opened - origin, 2), None])
            windows[self.names[replica]] = spans
        return windows

    # Lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.monotonic()
        for target in (self.verifier, self.revoker, self.reuser, self.watcher):
            thread = threading.Thread(target=self.guarded, args=(target,), daemon=True)
            thread.start()
            self.threads.append(thread)

    def guarded(self, target) -> None:
        try:
            target()
        except Exception as err:  # noqa: BLE001 - reported, and fails the scenario
            self.crashed.append(f"{target.__name__}: {type(err).__name__}: {err}")
            self.stopping.set()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.threads = []


# --- Faults -------------------------------------------------------------------------------------


def kill_master(place: Layout, checker: Checker) -> dict:
    """kill -9 the mirror's master; the seconds until a node is master of the slot and ok."""
    survivors = [port for port in PORTS if port != place.master.port]
    pid = pid_of(place.master.port)
    killed_unix = time.time()
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    checker.fault_unix = killed_unix
    while time.monotonic() - killed < 60:
        for port in survivors:
            try:
                me = myself(port)
                if me.is_master and me.owns(place.slot) and cluster_ok(port):
                    return {"fault_unix": killed_unix, "killed_port": place.master.port,
                            "new_master_port": port,
                            "failover_s": round(time.monotonic() - killed, 3)}
            except (OSError, RedisError, StopIteration):
                pass
        time.sleep(0.05)
    raise Failed("no node took over the slot within 60 s")


def reshard(place: Layout, checker: Checker, work: Path) -> dict:
    """Moves every slot of the mirror's master to another master, while the load runs."""
    target = place.others[0]
    count = place.master.slot_count()
    command = ["redis-cli", "--cluster", "reshard", f"127.0.0.1:{place.master.port}",
               "--cluster-from", place.master.id, "--cluster-to", target.id,
               "--cluster-slots", str(count), "--cluster-yes"]
    log = work / "reshard.log"
    started_unix = time.time()
    started = time.monotonic()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    checker.fault_unix = started_unix
    slot_moved_s = None
    try:
        while proc.poll() is None and time.monotonic() - started < 300:
            if slot_moved_s is None:
                try:
                    if myself(target.port).owns(place.slot):
                        slot_moved_s = round(time.monotonic() - started, 3)
                except (OSError, RedisError, StopIteration):
                    pass
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            raise Failed("the reshard did not finish within 300 s")
    took = time.monotonic() - started
    if proc.returncode != 0:
        raise Failed(f"redis-cli --cluster reshard exited {proc.returncode}:\n"
                     + "\n".join(log.read_text().splitlines()[-15:]))
    if slot_moved_s is None and myself(target.port).owns(place.slot):
        slot_moved_s = round(took, 3)
    return {"fault_unix": started_unix, "from_port": place.master.port, "to_port": target.port,
            "slots_moved": count, "reshard_s": round(took, 3),
            "revocations_slot_moved_s": slot_moved_s}


def warm_mirror(checker: Checker, place: Layout, prefix: str) -> float:
    """Has the replicas write the mirror's `loaded` marker, as a deployment that has run for a
    while has it: without it, the first check through Redis after the fault would go to Postgres
    anyway, and the fault would never test the mirror. Their subscriptions are cut (CLIENT KILL
    TYPE pubsub), so they verify through Redis until they are back; a live token verified then
    (a revoked one is refused from memory before any round trip) finds no marker, and has them
    reload the list from Postgres into Redis and write it. Returns how long that took."""
    marker = f"{prefix}{REVOCATIONS_TAG}:loaded"
    http = requests.Session()
    username, password = checker.register(http, 0)
    status, body = status_of(requests.post, f"{checker.urls[0]}/auth", http,
                             json={"username": username, "password": password})
    if status != 200:
        raise Failed(f"login: {status} {body[:200]}")
    token = json.loads(body)["token"]
    started = time.monotonic()
    for port in PORTS:
        try:
            redis(port, "CLIENT", "KILL", "TYPE", "pubsub")
        except (OSError, RedisError):
            pass
    while time.monotonic() - started < 10:
        for replica in (0, 1):
            status, body = checker.me(http, replica, token)
            if status != 200:
                raise Failed(f"a live token got {status} on {checker.names[replica]}: {body}")
        if redis(place.master.port, "EXISTS", marker) == 1:
            time.sleep(1)  # the subscriptions come back 0.5 s after they dropped
            return time.monotonic() - started
        time.sleep(0.02)
    raise Failed(f"the replicas did not write {marker} within 10 s")


def wait_cluster_healthy(place: Layout, timeout: float = 60) -> float:
    """Seconds until every live node is ok and all agree on the master of the mirror's slot."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        live = []
        for port in PORTS:
            try:
                live.append((port, cluster_ok(port), cluster_nodes(port)))
            except (OSError, RedisError):
                continue
        owners = {next((n.port for n in nodes if n.is_master and not n.failed and
                        n.owns(place.slot)), None) for _, _, nodes in live}
        if live and all(ok for _, ok, _ in live) and len(owners) == 1 and None not in owners:
            return time.monotonic() - started
        time.sleep(0.1)
    raise Failed(f"the cluster was not healthy {timeout:.0f} s after the load")


def wait_ready(replicas: list[Replica], timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(replica.ready() for replica in replicas):
            return time.monotonic() - started
        time.sleep(0.2)
    return float("inf")


# --- After the load: the login throttle ---------------------------------------------------------


def throttle_exact(checker: Checker) -> dict:
    """Whether, for fresh users, exactly FAILURE_LIMIT wrong passwords are let through (401)
    before the next attempt is throttled (429), alternating replicas."""
    http = requests.Session()
    wrong = []
    for n in range(THROTTLE_USERS):
        username, _ = checker.register(http, n % 2)
        seen = []
        for attempt in range(FAILURE_LIMIT + 1):
            replica = (n + attempt) % 2
            status, body = status_of(requests.post, f"{checker.urls[replica]}/auth", http,
                                     json={"username": username, "password": "not-the-password"})
            try:
                code = json.loads(body).get("error")
            except ValueError:
                code = None
            seen.append(f"{status} {code} ({checker.names[replica]})")
            expected = (401, "invalid_credentials") if attempt < FAILURE_LIMIT else \
                (429, "rate_limited")
            if (status, code) != expected:
                wrong.append({"username": username, "attempt": attempt + 1, "seen": seen})
                break
    return {"exact": not wrong, "users": THROTTLE_USERS, "mismatches": wrong}


# --- Scenarios ----------------------------------------------------------------------------------


def error_figures(summary: dict, fault_unix: float, load_end_unix: float) -> dict:
    first, last = summary.get("first_error_unix_ms"), summary.get("last_error_unix_ms")
    by_second = {int(second): count
                 for second, count in summary.get("errors_by_unix_second", {}).items()}
    fault_ms = fault_unix * 1000
    before = sum(count for second, count in by_second.items() if second < int(fault_unix))
    return {
        "error_window_s": round((last - first) / 1000, 3) if first is not None else 0.0,
        "recovery_s": round(max(0.0, (last - fault_ms) / 1000), 3) if last is not None else 0.0,
        "errors_before_fault": before,
        "errors_in_last_2_s": sum(count for second, count in by_second.items()
                                  if second >= int(load_end_unix) - 2),
        "errors_by_second_since_fault": {str(second - int(fault_unix)): count
                                         for second, count in sorted(by_second.items())},
    }


def seconds(value: float) -> float | None:
    """Seconds for the report: None for never (JSON has no infinity)."""
    return None if value == float("inf") else round(value, 3)


def run_scenario(name: str, args) -> dict:
    work = Path(tempfile.mkdtemp(prefix=f"redis-failover-{name}-"))
    database = Database(args.postgres)
    replicas: list[Replica] = []
    load = None
    checker = None
    result: dict = {"scenario": name, "work_dir": str(work)}
    ok = False
    try:
        restart_cluster()
        place = layout()
        prefix, channel_slot = choose_prefix(place)
        result["layout"] = {"revocations_slot": place.slot, "master_port": place.master.port,
                            "replica_port": place.replica.port, "redis_prefix": prefix,
                            "events_channel_slot": channel_slot}
        database.create()
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("AUTHD_") and key not in ("DATABASE_URL", "REDIS_URL")}
        env.update({
            "DATABASE_URL": database.url,
            "REDIS_URL": cluster_script("url"),
            "AUTHD_REDIS_PREFIX": prefix,
            "AUTHD_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "AUTHD_RATE_LIMIT": "1000000",  # all the load comes from one address
            "AUTHD_ISSUER": ISSUER,  # and so the public URL DPoP proofs name
            "AUTHD_LISTEN": "127.0.0.1:0",
        })
        replicas = [Replica(f"authd-{i}", args.authd, env, work) for i in (1, 2)]
        for replica in replicas:
            replica.wait_listening()
        if wait_ready(replicas, timeout=60) == float("inf"):
            raise Failed("the replicas did not become ready")
        client = create_client(args.authd, env)

        checker = Checker(replicas)
        checker.prepare_revoked(REVOKED_BEFORE_LOAD)
        result["mirror_marker_written_s"] = round(warm_mirror(checker, place, prefix), 3)
        load = Load(args.load, [r.url for r in replicas], client, work, args.rate, args.duration)
        load.started()
        checker.start()
        time.sleep(max(0.0, load.measuring_since + args.fault_at - time.time()))
        if name == "master-killed":
            fault = kill_master(place, checker)
        else:
            fault = reshard(place, checker, work)
        summary = load.result()
        load_end_unix = time.time()
        checker.stop()
        checker.final_sweep()
        healthy_s = wait_cluster_healthy(place)
        ready_s = wait_ready(replicas)
        current_s = wait_memory_current(replicas)
        throttle = throttle_exact(checker) if ready_s != float("inf") else \
            {"exact": False, "users": 0, "mismatches": ["the replicas were not ready again"]}

        errors = error_figures(summary, fault["fault_unix"], load_end_unix)
        fault_s = fault.get("failover_s", fault.get("reshard_s", 0.0))
        delays = sorted(checker.first_check_delays_ms)
        by_check = Counter(v["check"] for v in checker.violations)
        result.update({
            "fault": fault,
            "load": {key: summary[key] for key in ("requests", "rps", "errors", "statuses",
                                                   "failures", "latency_ms")},
            **errors,
            "revoked_accepted": by_check["revoked-accepted"],
            "reuse_missed": by_check["reuse-missed"],
            "rate_limit_exact": throttle["exact"],
            "throttle": throttle,
            "checker": {**checker.counts, "errors": dict(checker.errors),
                        "must_refuse_tokens": len(checker.entries),
                        "during_fault": checker.during(fault["fault_unix"],
                                                       fault["fault_unix"] + fault_s),
                        "first_check_after_due_ms": {
                            "p50": round(delays[len(delays) // 2], 1) if delays else None,
                            "max": round(delays[-1], 1) if delays else None},
                        "logout_ms": checker.logout_latency(fault["fault_unix"],
                                                            fault["fault_unix"] + fault_s),
                        "crashed": checker.crashed},
            # Revocations answered 5xx (logouts, replays) are held only once the cluster has
            # recovered (the final sweep); these are their tokens a replica accepted before.
            "unacknowledged_revocations_accepted": {
                "tokens": len({seen["token"] for seen in checker.observations}),
                "revocations_5xx": sum(e.kind.startswith("unacknowledged")
                                       for e in checker.entries),
                "uses": len(checker.observations),
                "first_uses": checker.observations[:12]},
            "violations": checker.violations,
            "cluster_healthy_after_load_s": seconds(healthy_s),
            "replicas_ready_after_healthy_s": seconds(ready_s),
            # Not a pass/fail figure: a replica that never trusts its memory again is correct,
            # only slower (a round trip per verification).
            "memory_current_after_ready_s": seconds(current_s),
            "distrusted_memory_s_since_fault": checker.distrust_windows(),
            "replica_metrics": {r.name: r.metrics() for r in replicas},
        })
        problems = []
        if checker.violations:
            problems.append(f"{len(checker.violations)} violations")
        if not throttle["exact"]:
            problems.append("the login throttle is not exact")
        if errors["recovery_s"] > RECOVERY_BOUND_S:
            problems.append(f"errors went on {errors['recovery_s']:.1f} s after the fault")
        if ready_s == float("inf"):
            problems.append("the replicas were not ready again")
        if checker.crashed:
            problems.append(f"the checker crashed: {checker.crashed}")
        result["problems"] = problems
        ok = not problems
        return result
    except Failed as err:
        result["problems"] = [f"could not run: {err}"]
        return result
    finally:
        if load is not None:
            load.kill()
        if checker is not None:
            checker.stop()
        for replica in replicas:
            replica.stop()
        for replica in replicas:
            result.setdefault("log_warnings", {})[replica.name] = dict(replica.warnings())
        if not ok:
            for replica in replicas:
                print(f"--- {replica.name} ({replica.url}), last lines of {replica.log} ---")
                print(replica.tail())
        try:
            database.drop()
        except Failed as err:
            print(f"warning: {err}", file=sys.stderr)
        if ok and not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
            result["work_dir"] = None


def describe(result: dict) -> str:
    if "load" not in result:
        return f"{result['scenario']}: {'; '.join(result['problems'])}"
    fault = result["fault"]
    if "failover_s" in fault:
        fault_text = (f"failover {fault['failover_s']:.2f} s (:{fault['killed_port']} killed, "
                      f":{fault['new_master_port']} took over)")
    else:
        fault_text = (f"reshard {fault['reshard_s']:.2f} s ({fault['slots_moved']} slots "
                      f":{fault['from_port']} -> :{fault['to_port']}, {{revocations}} slot moved "
                      f"at +{fault['revocations_slot_moved_s']} s)")
    load = result["load"]
    checks = result["checker"]
    during = checks["during_fault"]
    acked = checks.get("logouts_acknowledged", 0)
    unacked = checks.get("logouts_unacknowledged", 0)
    unheld = result["unacknowledged_revocations_accepted"]
    return (f"{result['scenario']}: load {load['requests']} requests, {load['errors']} errors "
            f"(error window {result['error_window_s']:.2f} s, recovery "
            f"{result['recovery_s']:.2f} s after the fault); {fault_text}; revoked accepted "
            f"{result['revoked_accepted']} "
            f"({checks.get('me_checks', 0)} checks of {checks['must_refuse_tokens']} tokens, "
            f"{during['me_checks']} in the fault; {acked} of {acked + unacked} logouts "
            f"acknowledged, {during['logouts']} in the fault); reuse missed "
            f"{result['reuse_missed']} "
            f"({checks.get('replays', 0)} replays, {during['replays']} in the fault); "
            f"rate limit exact {str(result['rate_limit_exact']).lower()}"
            + (f"; note: of the tokens of {unheld['revocations_5xx']} revocations answered 5xx, "
               f"{unheld['tokens']} were accepted during the fault ({unheld['uses']} times, "
               f"before Redis took the announcement; all refused after it)"
               if unheld["uses"] else "")
            + (f"; FAILED: {'; '.join(result['problems'])}" if result["problems"] else ""))


SCENARIOS = ("master-killed", "resharded")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--authd", default="target/debug/authd")
    parser.add_argument("--load", default="target/debug/authd-load")
    parser.add_argument("--report", default="target/redis-failover.json")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="the Postgres server (trust auth); a database is made per scenario")
    parser.add_argument("--rate", type=float, default=RATE, help="the load's requests/s")
    parser.add_argument("--duration", type=int, default=DURATION_S, help="the load's seconds")
    parser.add_argument("--fault-at", type=float, default=FAULT_AT_S,
                        help="seconds into the load")
    parser.add_argument("--keep-logs", action="store_true",
                        help="keep each scenario's directory (replica logs, the load's JSON) "
                             "when it passes too; a failed scenario's is always kept")
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS), metavar="scenario",
                        help=f"any of {', '.join(SCENARIOS)} (default: both)")
    args = parser.parse_args()
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}: choose from {', '.join(SCENARIOS)}")
    for binary in (args.authd, args.load):
        if not os.access(binary, os.X_OK):
            sys.exit(f"{binary} is not an executable (cargo build --workspace first)")

    def interrupted(signum, frame):
        raise KeyboardInterrupt

    # SIGTERM ends the run like Ctrl-C: through every cleanup.
    signal.signal(signal.SIGTERM, interrupted)
    results = {}
    try:
        for name in args.scenarios:
            results[name] = run_scenario(name, args)
            print(describe(results[name]), flush=True)
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        try:
            restart_cluster()  # healthy, in its usual layout, for whoever comes next
        except Failed as err:
            print(f"warning: {err}", file=sys.stderr)
        if results:
            Path(args.report).parent.mkdir(parents=True, exist_ok=True)
            Path(args.report).write_text(json.dumps(results, indent=2))
    return 1 if any(result["problems"] for result in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
