#!/usr/bin/env bash
# Make sure the Postgres server on 127.0.0.1:5432 is up (the multi-replica tests need it).
set -u
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then exit 0; fi
echo "postgres is down: starting it" >&2
if command -v pg_ctlcluster >/dev/null 2>&1; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && exit 0
  sleep 1
done
echo "postgres did not come up on 127.0.0.1:5432; postgres tests will be skipped" >&2
exit 0
