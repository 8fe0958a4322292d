#!/usr/bin/env python3
"""SCIM 2.0 conformance of authd's /scim/v2, checked by scim2-tester (PyPI), an independent
checker of RFC 7643/7644 server behaviour: discovery, CRUD, partial responses, PATCH.

    SCIM_URL=http://127.0.0.1:8080/scim/v2 SCIM_TOKEN=… python3 tests/scim_conformance.py

Prints every check's outcome; exits 1 if any check failed (an error, or a critical one).
"""

import os
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main():
    http = httpx2.Client(
        base_url=os.environ["SCIM_URL"].rstrip("/"),
        headers={"Authorization": f"Bearer {os.environ['SCIM_TOKEN']}"},
        timeout=30,
    )
    results = check_server(SyncSCIMClient(http))
    failed = [r for r in results if r.status in (Status.ERROR, Status.CRITICAL)]
    for result in results:
        kind = result.resource_type or "-"
        reason = f": {result.reason}" if result.reason else ""
        print(f"{result.status.name:8} {kind:6} {result.title}{reason}")
    print(f"{len(results)} checks, {len(failed)} failed")
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()
