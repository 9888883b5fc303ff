#!/usr/bin/env bash
# Starts the services the test suite runs against, installing them when
# missing: PostgreSQL on 127.0.0.1:5432 and an S3 server (s3s-fs) on
# 127.0.0.1:8014. Source it (`. scripts/services.sh`) to get the variables
# the tests read; a service that cannot be started is an error, not a skip.
set -euo pipefail

export PATH="$HOME/.cargo/bin:$PATH"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

export HANGAR_TEST_POSTGRES_URL="${HANGAR_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
export HANGAR_TEST_S3="${HANGAR_TEST_S3:-s3://hangar-test}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:8014}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-hangar}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-hangar-secret}"
S3_ROOT="${HANGAR_TEST_S3_ROOT:-${TMPDIR:-/tmp}/hangar-s3}"
S3_PORT="${AWS_ENDPOINT_URL##*:}"; S3_PORT="${S3_PORT%%/*}"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
  local port=$1 what=$2
  for _ in $(seq 1 100); do
    port_open "$port" && return 0
    sleep 0.3
  done
  echo "error: $what did not start listening on 127.0.0.1:$port" >&2
  return 1
}

if ! port_open 5432; then
  if [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    echo "== installing PostgreSQL"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq postgresql
  fi
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  echo "== starting PostgreSQL $version"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_for_port 5432 PostgreSQL
fi
# The tests connect as postgres without a password (trust on loopback, as
# the stock Debian cluster is set up for local development).
if ! psql "$HANGAR_TEST_POSTGRES_URL" -Atqc 'SELECT 1' >/dev/null 2>&1; then
  echo "error: cannot connect to $HANGAR_TEST_POSTGRES_URL; allow trust auth for 127.0.0.1 or set HANGAR_TEST_POSTGRES_URL" >&2
  exit 1
fi

if ! port_open "$S3_PORT"; then
  if ! command -v s3s-fs >/dev/null 2>&1; then
    echo "== installing s3s-fs (a small S3 server over a folder)"
    # 0.14 is the newest release that builds with the stable toolchain in use here.
    cargo install s3s-fs --version 0.14.1 --features binary --locked
  fi
  bucket="${HANGAR_TEST_S3#s3://}"; bucket="${bucket%%/*}"
  mkdir -p "$S3_ROOT/$bucket"
  echo "== starting s3s-fs on 127.0.0.1:$S3_PORT (data in $S3_ROOT)"
  # From `/`: s3s-fs resolves paths against its working directory on every
  # request, and a checkout it was started in may be deleted while it runs.
  (cd / && nohup s3s-fs --host 127.0.0.1 --port "$S3_PORT" \
    --access-key "$AWS_ACCESS_KEY_ID" --secret-key "$AWS_SECRET_ACCESS_KEY" "$S3_ROOT" \
    >"$S3_ROOT.log" 2>&1 &)
  wait_for_port "$S3_PORT" s3s-fs
fi
