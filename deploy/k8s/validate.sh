#!/usr/bin/env bash
# CI entry point for the Kubernetes manifests: renders base, overlays/dev and overlays/prod with
# kustomize, validates every object (Kubernetes schemas in strict mode, operators' CRs, our
# deployment rules), lints the alert rules with promtool and runs their unit tests.
#
#   deploy/k8s/install-tools.sh   # once (idempotent)
#   deploy/k8s/validate.sh        # exit 0 = all green
#
# Environment: PYTHON (as in install-tools.sh), ZHICHENG_K8S_VERSION (default 1.30.0),
# KUSTOMIZE (e.g. "kustomize build" to force a binary).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi
# promtool unpacked by install-tools.sh
export PATH="$PATH:$here/tools/bin"

# The dev overlay's Secret generator reads a generated key; create it if missing.
PYTHON="$PYTHON" "$here/overlays/dev/generate-dev-secrets.sh" >/dev/null

# Shell scripts: syntax at least (shellcheck when available).
for script in "$here"/*.sh "$here"/overlays/dev/*.sh; do
  bash -n "$script"
done
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck "$here"/*.sh "$here"/overlays/dev/*.sh
fi

exec "$PYTHON" "$here/check_manifests.py" "$@"
