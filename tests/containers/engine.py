"""What smoke.py and faults.py both ask the container engine."""

import subprocess
import sys


def container(project: str, service: str) -> str:
    """The id of a compose service's one container, running or not (compose v1 and v2 name
    containers differently; their labels are the same)."""
    out = subprocess.run(
        ["docker", "ps", "-aq",
         "--filter", f"label=com.docker.compose.project={project}",
         "--filter", f"label=com.docker.compose.service={service}"],
        check=True, capture_output=True, text=True,
    ).stdout.split()
    if len(out) != 1:
        sys.exit(f"expected one container for {service}, found {out}")
    return out[0]
