"""Faults on the real compose cluster, under a steady load through nginx.

Each scenario runs `authd-load --scenario mixed` at a fixed rate (open model, so a stall shows as
failures and latency rather than as a slower sender) while it breaks something with the container
engine, then checks what users would see. Run by deploy/compose-test.sh:

    python3 tests/containers/faults.py --base http://127.0.0.1:18080 --project authd-ci \
        --load target/debug/authd-load --compose "docker-compose -p authd-ci -f ... -f ..."

Scenarios and what must hold:
  restart-and-kill  `restart authd-2` (SIGTERM, drain) then `docker kill authd-3`: at most 0.1% of
                    requests fail.
  redis-paused      Redis paused 10 s: no 500s; a revoked token stays refused (fail closed);
                    readiness 503; everything answers again within 5 s of unpause.
  postgres-paused   Postgres paused 10 s: no 500s; the JWKS is served; readiness 503; recovery
                    within 5 s of unpause.
  replica-cut-off   one replica disconnected from the compose network: nginx stops sending to it
                    (its request count stands still) and requests keep succeeding.
It prints one line of figures per scenario, and writes them all as JSON with --report.
"""

import argparse
import json
import re
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from engine import container

RATE = 150  # requests/s: a steady load the 2-core machine carries with room for the faults
MAX_FAILED_RATIO = 0.001
RECOVERY_BOUND_S = 5.0


class Cluster:
    def __init__(self, args):
        self.base = args.base
        self.project = args.project
        self.compose_cmd = shlex.split(args.compose)
        self.load_bin = args.load
        self.http = requests.Session()
        self.client = args.client  # ID:SECRET of a confidential client, for introspection

    def compose(self, *args: str) -> str:
        return subprocess.run([*self.compose_cmd, *args], check=True,
                              capture_output=True, text=True).stdout

    def container(self, service: str) -> str:
        return container(self.project, service)

    def docker(self, *args: str) -> str:
        return subprocess.run(["docker", *args], check=True, capture_output=True,
                              text=True).stdout

    def status(self, path: str, **kwargs) -> int:
        """The status nginx answers for `path`, or 0 for no answer."""
        try:
            return self.http.get(f"{self.base}{path}", timeout=15, **kwargs).status_code
        except requests.RequestException:
            return 0

    def replica_status(self, service: str, path: str) -> int:
        out = subprocess.run(
            ["docker", "exec", self.container(service), "curl", "-s", "-o", "/dev/null",
             "-m", "5", "-w", "%{http_code}", f"http://127.0.0.1:8080{path}"],
            capture_output=True, text=True).stdout
        return int(out or 0)

    def served_requests(self, service: str) -> int:
        """Requests the replica has answered, health checks and scrapes left out."""
        text = self.docker("exec", self.container(service), "curl", "-s",
                           "http://127.0.0.1:8080/metrics")
        total = 0
        for line in text.splitlines():
            if not line.startswith("authd_http_requests_total{"):
                continue
            if re.search(r'route="/(healthz|readyz|metrics)"', line):
                continue
            total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def reload_nginx(self) -> None:
        """nginx resolves the replicas' names when it loads its configuration: a replica that
        came back on another address is reached again after a reload."""
        self.docker("kill", "--signal", "HUP", self.container("nginx"))
        time.sleep(1)

    def wait_all_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.replica_status(s, "/readyz") == 200 for s in ("authd-1", "authd-2", "authd-3")):
                return
            time.sleep(0.5)
        sys.exit("the replicas did not all become ready")

    def user_token(self) -> str:
        """A fresh user's access token, through nginx."""
        username = f"fault-{secrets.token_hex(4)}"
        registered = self.http.post(f"{self.base}/register", timeout=15, json={
            "username": username, "email": f"{username}@example.com"})
        registered.raise_for_status()
        token = self.http.post(f"{self.base}/oauth/token", timeout=15, data={
            "grant_type": "password", "username": username,
            "password": registered.json()["password"]})
        token.raise_for_status()
        return token.json()["access_token"]


class Load:
    """authd-load in the background; `started()` returns once it measures."""

    def __init__(self, cluster: Cluster, seconds: int):
        self.out = Path(tempfile.mkdtemp()) / "load.json"
        command = [cluster.load_bin, "--target", cluster.base, "--scenario", "mixed",
                   "--rate", str(RATE), "--duration", f"{seconds}s", "--users", "16",
                   "--json", str(self.out)]
        if cluster.client:
            command += ["--client", cluster.client]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.log: list[str] = []

    def started(self) -> None:
        # The first progress line comes one second into the measurement.
        for line in self.proc.stderr:
            self.log.append(line)
            if line.startswith("["):
                return
        sys.exit("authd-load stopped before measuring:\n" + "".join(self.log))

    def result(self) -> dict:
        rest = self.proc.stderr.read()
        if self.proc.wait() != 0:
            sys.exit("authd-load failed:\n" + "".join(self.log) + rest)
        return json.loads(self.out.read_text())


def failed(summary: dict) -> int:
    """Requests that got no answer or an error status."""
    statuses = sum(n for s, n in summary["statuses"].items() if int(s) >= 400)
    return statuses + sum(summary["failures"].values())


def describe(summary: dict) -> str:
    return (f"{summary['requests']} requests at {summary['rps']:.0f}/s, statuses "
            f"{summary['statuses']}, no answer {summary['failures'] or 0}, "
            f"p99 {summary['latency_ms']['p99']:.1f} ms, max {summary['latency_ms']['max']:.0f} ms")


def recover_after(cluster: Cluster, unpaused: float, token: str) -> float:
    """Seconds from `unpaused` until every replica is ready and a login and a verification
    succeed through nginx."""
    deadline = unpaused + 30
    while time.monotonic() < deadline:
        if (all(cluster.replica_status(s, "/readyz") == 200
                for s in ("authd-1", "authd-2", "authd-3"))
                and cluster.status("/me", headers={"Authorization": f"Bearer {token}"}) == 200):
            try:
                cluster.user_token()
                return time.monotonic() - unpaused
            except requests.RequestException:
                pass
        time.sleep(0.2)
    return float("inf")


def restart_and_kill(cluster: Cluster) -> dict:
    load = Load(cluster, 40)
    load.started()
    time.sleep(4)
    cluster.compose("restart", "authd-2")  # SIGTERM: the replica drains, then starts again
    time.sleep(8)
    cluster.docker("kill", cluster.container("authd-3"))  # SIGKILL: in-flight requests die
    summary = load.result()
    # A killed container counts as stopped by hand: its restart policy leaves it down.
    cluster.docker("start", cluster.container("authd-3"))
    cluster.wait_all_ready()
    cluster.reload_nginx()
    bad = failed(summary)
    ratio = bad / max(summary["requests"], 1)
    print(f"restart-and-kill: {bad} failed of {describe(summary)} ({ratio:.3%})")
    assert ratio <= MAX_FAILED_RATIO, f"{ratio:.3%} failed, more than {MAX_FAILED_RATIO:.1%}"
    return {"failed": bad, "ratio": ratio, **summary}


def paused(cluster: Cluster, service: str, during) -> dict:
    """Pauses `service` for 10 s under load, runs `during()` while it is paused, and measures
    the recovery after unpausing."""
    token = cluster.user_token()
    load = Load(cluster, 30)
    load.started()
    time.sleep(4)
    target = cluster.container(service)
    cluster.docker("pause", target)
    paused_at = time.monotonic()
    try:
        time.sleep(3)  # past Redis's 2 s command timeout, into the outage proper
        seen = during()
        time.sleep(max(0.0, 10 - (time.monotonic() - paused_at)))
    finally:
        cluster.docker("unpause", target)
    recovery = recover_after(cluster, time.monotonic(), token)
    summary = load.result()
    errors_500 = summary["statuses"].get("500", 0)
    print(f"{service}-paused: recovered {recovery:.1f} s after unpause; during the pause {seen}; "
          f"{describe(summary)}")
    assert errors_500 == 0, f"{errors_500} answers were 500"
    assert recovery <= RECOVERY_BOUND_S, f"recovery took {recovery:.1f} s"
    return {"recovery_s": recovery, "during": seen, **summary}


def redis_paused(cluster: Cluster) -> dict:
    revoked = cluster.user_token()
    response = cluster.http.post(f"{cluster.base}/logout", timeout=15,
                                 headers={"Authorization": f"Bearer {revoked}"})
    assert response.status_code in (200, 204), response.status_code

    def during():
        seen = {"readyz": cluster.status("/readyz"),
                "revoked_token": cluster.status(
                    "/me", headers={"Authorization": f"Bearer {revoked}"})}
        assert seen["readyz"] == 503, seen
        # Fail closed: the durable revocation table answers while Redis cannot.
        assert seen["revoked_token"] == 401, seen
        return seen

    return paused(cluster, "redis", during)


def postgres_paused(cluster: Cluster) -> dict:
    def during():
        seen = {"readyz": cluster.status("/readyz"),
                "jwks": cluster.status("/.well-known/jwks.json")}
        assert seen["readyz"] == 503, seen
        assert seen["jwks"] == 200, seen
        return seen

    return paused(cluster, "postgres", during)


def replica_cut_off(cluster: Cluster) -> dict:
    network = f"{cluster.project}_default"
    target = cluster.container("authd-1")
    load = Load(cluster, 20)
    load.started()
    time.sleep(3)
    cluster.docker("network", "disconnect", network, target)
    try:
        time.sleep(3)  # nginx's first attempt times out (1 s) and marks the replica failed
        before = cluster.served_requests("authd-1")
        time.sleep(10)
        after = cluster.served_requests("authd-1")
    finally:
        cluster.docker("network", "connect", "--alias", "authd-1", network, target)
    summary = load.result()
    cluster.wait_all_ready()
    cluster.reload_nginx()
    bad = failed(summary)
    print(f"replica-cut-off: authd-1 answered {after - before} requests in 10 s while cut off; "
          f"{bad} failed of {describe(summary)}")
    assert after == before, f"nginx still sent {after - before} requests to the cut-off replica"
    assert bad / max(summary["requests"], 1) <= MAX_FAILED_RATIO, f"{bad} failed"
    return {"served_while_cut_off": after - before, "failed": bad, **summary}


SCENARIOS = {
    "restart-and-kill": restart_and_kill,
    "redis-paused": redis_paused,
    "postgres-paused": postgres_paused,
    "replica-cut-off": replica_cut_off,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--compose", required=True, help="the compose command, as one string")
    parser.add_argument("--load", required=True, help="path to authd-load")
    parser.add_argument("--client", help="ID:SECRET of a confidential client (introspection)")
    parser.add_argument("--report", help="write the figures here as JSON")
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args()
    cluster = Cluster(args)
    results = {}
    for name in args.scenarios:
        results[name] = SCENARIOS[name](cluster)
    if args.report:
        Path(args.report).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
