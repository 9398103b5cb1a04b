#!/usr/bin/env bash
# `npm run postgres`: a PostgreSQL on 127.0.0.1:5432, for the PostgreSQL recipe's tests
# (__test__/integration/postgres.test.js, which logs in as `postgres` with no password unless
# PGUSER / PGPASSWORD say otherwise). Starts the local cluster when one is installed (Debian/Ubuntu:
# apt-get install postgresql), as CI's .ci/run does, else Docker (postgres:16, trust
# authentication on 127.0.0.1 only). Returns once the server accepts connections; a server already
# answering is left as it is.
set -euo pipefail

HOST=127.0.0.1
PORT=5432

ready() {
  if command -v pg_isready >/dev/null 2>&1; then pg_isready -q -h "$HOST" -p "$PORT"
  else (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; fi
}
wait_ready() {
  for _ in $(seq 1 60); do ready && return 0; sleep 1; done
  echo "PostgreSQL did not accept connections on $HOST:$PORT within 60 s" >&2
  return 1
}

if ready; then
  echo "PostgreSQL already answers on $HOST:$PORT"
  exit 0
fi

if command -v pg_ctlcluster >/dev/null 2>&1 && [ -n "$(ls /etc/postgresql 2>/dev/null | head -1)" ]; then
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "starting the local PostgreSQL $version cluster 'main'"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_ready
  echo "the tests log in as 'postgres' with no password: allow that for $HOST in /etc/postgresql/$version/main/pg_hba.conf ('host all all 127.0.0.1/32 trust'), or set PGUSER and PGPASSWORD"
elif command -v docker >/dev/null 2>&1; then
  echo "starting PostgreSQL in Docker (postgres:16, trust authentication, $HOST:$PORT only)"
  docker run -d --rm --name aliyun-iot-amqp-postgres -p "$HOST:$PORT:5432" -e POSTGRES_HOST_AUTH_METHOD=trust postgres:16 >/dev/null
  # The image starts the server, stops it after its set-up, then starts it for good.
  for _ in $(seq 1 60); do docker exec aliyun-iot-amqp-postgres pg_isready -q -h 127.0.0.1 >/dev/null 2>&1 && break; sleep 1; done
  wait_ready
else
  echo "neither a local PostgreSQL (pg_ctlcluster) nor docker found: install PostgreSQL (e.g. apt-get install postgresql) and run this again" >&2
  exit 1
fi
echo "PostgreSQL on $HOST:$PORT"
