#!/usr/bin/env python3
"""How long a revocation on one replica takes to be refused on another.

    bench/propagation.py http://replica-a http://replica-b [--samples 200] [--json out.json]

Registers a user and logs in `--samples` times on replica A; then, token by token: checks that B
accepts it (so B's verified-token cache holds it), logs it out on A, and polls B's `/me` until B
refuses it. The delay is measured from A's 204 to B's first 401, so it includes one poll's round
trip at most. Run it while the replicas are under load (bench/compare.sh runs `mixed` on both).
"""

import argparse
import json
import statistics
import time
import uuid

import requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first")
    parser.add_argument("second")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", help="where to write the figures")
    parser.add_argument("--give-up-after", type=float, default=5.0, help="seconds")
    args = parser.parse_args()

    a, b = requests.Session(), requests.Session()
    username = f"propagation-{uuid.uuid4().hex[:12]}"
    registered = a.post(
        f"{args.first}/register",
        json={"username": username, "email": f"{username}@bench.example"},
    )
    registered.raise_for_status()
    password = registered.json()["password"]
    tokens = []
    for _ in range(args.samples):
        answer = a.post(
            f"{args.first}/oauth/token",
            data={"grant_type": "password", "username": username, "password": password},
        )
        answer.raise_for_status()
        tokens.append(answer.json()["access_token"])

    delays_ms = []
    for token in tokens:
        bearer = {"Authorization": f"Bearer {token}"}
        if b.get(f"{args.second}/me", headers=bearer).status_code != 200:
            raise SystemExit("replica B refused a live token")
        logout = a.post(f"{args.first}/logout", headers=bearer)
        if logout.status_code != 204:
            raise SystemExit(f"logout on A answered {logout.status_code}")
        revoked_at = time.perf_counter()
        while b.get(f"{args.second}/me", headers=bearer).status_code != 401:
            if time.perf_counter() - revoked_at > args.give_up_after:
                raise SystemExit(f"B still accepts a token revoked {args.give_up_after} s ago")
        delays_ms.append((time.perf_counter() - revoked_at) * 1e3)

    delays_ms.sort()
    figures = {
        "samples": len(delays_ms),
        "p50_ms": statistics.median(delays_ms),
        "p99_ms": delays_ms[min(len(delays_ms) - 1, int(len(delays_ms) * 0.99))],
        "max_ms": delays_ms[-1],
    }
    print(
        f"{figures['samples']} revocations: p50 {figures['p50_ms']:.2f} ms, "
        f"p99 {figures['p99_ms']:.2f} ms, max {figures['max_ms']:.2f} ms"
    )
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out)


if __name__ == "__main__":
    main()
