#!/usr/bin/env bash
# Validates the deploy files' syntax without a container engine or a cluster (CI runs it first;
# deploy/compose-test.sh then builds and runs the compose file for real):
#   - docker-compose.yml, alone and with deploy/compose.standins.yml, with `docker-compose config`
#     (Debian's docker-compose);
#   - deploy/nginx.conf with `nginx -t`, its upstream names pointed at localhost (nginx resolves
#     them at load time, and the compose network's names do not exist here);
#   - deploy/k8s with `kubectl kustomize` (when kubectl is installed) and every manifest, the
#     secret template included, against the Kubernetes JSON schemas with kubernetes-validate
#     (PyPI), strictly, so an unknown or misspelt field fails.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "--> docker-compose.yml"
docker-compose -f docker-compose.yml config --quiet
docker-compose -f docker-compose.yml -f deploy/compose.standins.yml config --quiet
docker-compose -f docker-compose.yml --profile tracing config --services | sort | tr '\n' ' '
docker-compose -f docker-compose.yml -f deploy/compose.standins.yml --profile redis-cluster \
  config --services | sort | tr '\n' ' '
echo

echo "--> deploy/nginx.conf"
sed -E 's/server authd-[0-9]+:8080/server 127.0.0.1:8080/' deploy/nginx.conf > "$work/nginx.conf"
nginx -t -q -c "$work/nginx.conf" -p "$work" -e /dev/stderr

echo "--> deploy/k8s"
manifests=(deploy/k8s/*.yaml)
if command -v kubectl >/dev/null; then
  kubectl kustomize deploy/k8s > "$work/rendered.yaml"
  manifests+=("$work/rendered.yaml")
fi
for manifest in "${manifests[@]}"; do
  case "$manifest" in */kustomization.yaml) continue ;; esac
  kubernetes-validate --strict --quiet "$manifest"
done
echo "deploy files are valid"
