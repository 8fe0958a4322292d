#!/bin/sh
# `redis-server ARGS...` runs as the redis user with protected mode off (the official image
# builds it off: the container's network is the boundary); anything else runs as given.
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec setpriv --reuid=redis --regid=redis --init-groups redis-server --protected-mode no "$@"
fi
exec "$@"
