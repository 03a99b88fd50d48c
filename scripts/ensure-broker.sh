#!/usr/bin/env bash
# Make sure the RabbitMQ named by AMQP_URI is reachable: use it if it answers; else start a local
# rabbitmq-server if one is installed; else, as root on Debian, install it with apt and start it;
# else stop with a message saying what to do. With ZHICHENG_NEED_RABBIT_MGMT=1 also make sure the
# management plugin (which the tests use to create throw-away vhosts) is enabled.
set -euo pipefail
AMQP_URI="${AMQP_URI:-amqp://guest:guest@127.0.0.1:5672/}"
PY="${PYTHON:-python3}"
read -r HOST PORT < <("$PY" - "$AMQP_URI" <<'PY'
import sys
from urllib.parse import urlparse
u = urlparse(sys.argv[1])
print(u.hostname or "127.0.0.1", u.port or 5672)
PY
)
reachable() { "$PY" - "$1" "$2" <<'PY'
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
except OSError:
    sys.exit(1)
PY
}
wait_for() { for _ in $(seq 1 90); do reachable "$1" "$2" && return 0; sleep 1; done; return 1; }

if ! reachable "$HOST" "$PORT"; then
  case "$HOST" in 127.0.0.1|localhost|::1) ;; *)
    echo "RabbitMQ at $HOST:$PORT (AMQP_URI) is unreachable; start it or point AMQP_URI elsewhere." >&2
    exit 1 ;;
  esac
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "installing rabbitmq-server with apt…"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
    else
      echo "RabbitMQ is not running on $HOST:$PORT and is not installed. Install it" >&2
      echo "(Debian: sudo apt-get install rabbitmq-server) or set AMQP_URI to a broker you have." >&2
      exit 1
    fi
  fi
  echo "starting rabbitmq-server…"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  wait_for "$HOST" "$PORT" || { echo "rabbitmq-server did not come up on $HOST:$PORT" >&2; exit 1; }
fi
if [ "${ZHICHENG_NEED_RABBIT_MGMT:-0}" = 1 ] && ! reachable "$HOST" 15672; then
  if command -v rabbitmq-plugins >/dev/null 2>&1; then
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_for "$HOST" 15672 || { echo "RabbitMQ management API did not come up" >&2; exit 1; }
  else
    echo "the tests need RabbitMQ's management plugin on $HOST:15672 (rabbitmq-plugins enable rabbitmq_management)" >&2
    exit 1
  fi
fi
echo "RabbitMQ reachable at $HOST:$PORT"
