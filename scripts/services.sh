#!/usr/bin/env bash
# Make sure the local services the tests need are answering; start the ones that are not.
#
#   scripts/services.sh [postgres|mariadb|redis|mosquitto|nats|rabbitmq ...]   (default: postgres mariadb)
#
# A service that already answers is left alone. One that does not is started with the command for this
# machine kind (Debian 12, run as root), then polled for up to SERVICES_WAIT seconds (default 30).
# If it still does not answer, the script exits non-zero naming the service, the check and the start
# command it tried, with the start command's output. It never stops anything.
set -uo pipefail

WAIT=${SERVICES_WAIT:-30}
HOST=127.0.0.1

tcp_open() { # host port: does something accept a TCP connection?
  timeout 3 bash -c "exec 3<>/dev/tcp/$1/$2" >/dev/null 2>&1
}

check_postgres() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p 5432 -t 3 || return 1
  else
    tcp_open "$HOST" 5432 || return 1
  fi
  if command -v psql >/dev/null 2>&1; then
    PGCONNECT_TIMEOUT=3 psql -X -q -t -h "$HOST" -p 5432 -U postgres -c 'select 1' test >/dev/null 2>&1
  fi
}
check_mariadb() {
  if command -v mysqladmin >/dev/null 2>&1; then
    mysqladmin -h"$HOST" -P3306 -uroot --connect-timeout=3 ping >/dev/null 2>&1
  elif command -v mysql >/dev/null 2>&1; then
    mysql -h"$HOST" -P3306 -uroot --connect-timeout=3 -e 'select 1' >/dev/null 2>&1
  else
    tcp_open "$HOST" 3306
  fi
}
check_redis() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(timeout 3 redis-cli -h "$HOST" -p 6379 ping 2>/dev/null)" = "PONG" ]
  else
    tcp_open "$HOST" 6379
  fi
}
check_mosquitto() { tcp_open "$HOST" 1883; }
check_nats() { tcp_open "$HOST" 4222; }
check_rabbitmq() { tcp_open "$HOST" 5672; }

describe_check() {
  case $1 in
    postgres) echo "pg_isready -h $HOST -p 5432 && psql -h $HOST -U postgres -c 'select 1' test" ;;
    mariadb) echo "mysqladmin -h$HOST -uroot ping" ;;
    redis) echo "redis-cli -h $HOST ping" ;;
    mosquitto) echo "TCP connect to $HOST:1883" ;;
    nats) echo "TCP connect to $HOST:4222" ;;
    rabbitmq) echo "TCP connect to $HOST:5672" ;;
  esac
}

start_postgres() {
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "no cluster under /etc/postgresql"; return 1; }
  echo "+ pg_ctlcluster --skip-systemctl-redirect $version main start"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
}
start_mariadb() {
  # /run is a tmpfs on a fresh boot; mariadbd needs its socket/pid directory.
  if [ ! -d /run/mysqld ] && id mysql >/dev/null 2>&1; then
    install -d -o mysql -g mysql /run/mysqld
  fi
  echo "+ start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
}
start_redis() {
  mkdir -p /var/lib/redis /var/log/redis
  echo "+ redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no" \
    "--dir /var/lib/redis --logfile /var/log/redis/ci.log"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
}
start_mosquitto() {
  echo "+ mosquitto -d -c /etc/mosquitto/mosquitto.conf"
  mosquitto -d -c /etc/mosquitto/mosquitto.conf
}
start_nats() {
  mkdir -p /var/lib/nats-server
  echo "+ start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server --" \
    "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
}
start_rabbitmq() {
  echo "+ rabbitmq-server -detached"
  rabbitmq-server -detached
}

logs_hint() {
  case $1 in
    postgres) echo "/var/log/postgresql/" ;;
    mariadb) echo "/var/log/mysql/error.log" ;;
    redis) echo "/var/log/redis/ci.log" ;;
    mosquitto) echo "/var/log/mosquitto/" ;;
    nats) echo "/var/log/nats-server.log" ;;
    rabbitmq) echo "/var/log/rabbitmq/" ;;
  esac
}

ensure() {
  local name=$1 out deadline tmp start_rc=0
  if "check_$name"; then
    echo "services: $name is up"
    return 0
  fi
  echo "services: $name is not answering ($(describe_check "$name")); starting it" >&2
  if [ "$(id -u)" != 0 ]; then
    echo "services: warning: not root; starting $name will probably fail" >&2
  fi
  # Output goes to a file, not a pipe: a daemon that keeps the pipe open would block $(...) forever.
  tmp=$(mktemp "${TMPDIR:-/tmp}/urbanbrain-services.XXXXXX")
  "start_$name" </dev/null >"$tmp" 2>&1 || start_rc=$?
  out=$(cat "$tmp")
  rm -f "$tmp"
  deadline=$((SECONDS + WAIT))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "check_$name"; then
      echo "services: $name started and is up"
      return 0
    fi
    sleep 1
  done
  {
    echo "services: ERROR: $name is still not answering after ${WAIT}s."
    echo "  check:  $(describe_check "$name")"
    echo "  tried (exit $start_rc):"
    printf '%s\n' "$out" | sed 's/^/    /'
    echo "  logs:   $(logs_hint "$name")"
  } >&2
  return 1
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(postgres mariadb)

failed=()
for name in "${names[@]}"; do
  case $name in
    postgres | mariadb | redis | mosquitto | nats | rabbitmq) ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "services: unknown service '$name' (known: postgres mariadb redis mosquitto nats rabbitmq)" >&2
      exit 2
      ;;
  esac
  ensure "$name" || failed+=("$name")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "services: FAILED: ${failed[*]} not available; tests that need them cannot run." >&2
  exit 1
fi
