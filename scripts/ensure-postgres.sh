#!/usr/bin/env bash
# Make sure the local PostgreSQL (127.0.0.1:5432, trust auth) answers; start the Debian cluster
# if it is down.
set -euo pipefail
up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
if ! up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL…"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 60); do up && break; sleep 1; done
  up || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
echo "PostgreSQL reachable at 127.0.0.1:5432"
