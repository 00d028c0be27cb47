#!/bin/sh
# PgBouncer in front of Postgres, transaction pooling: every service process keeps its own
# small pool of *client* connections here, and all of them share PGBOUNCER_POOL_SIZE server
# connections per service role, so triage can run 50 replicas against one Postgres.
# Writes the config and the user list (the services' database passwords, from the environment)
# into /tmp, then starts. Used by docker-compose.yml and the Kubernetes base (pgbouncer.yaml).
set -eu
: "${POSTGRES_HOST:=postgres}"
: "${POSTGRES_PORT:=5432}"
: "${PGBOUNCER_POOL_SIZE:=5}"
: "${PGBOUNCER_MAX_CLIENT_CONN:=2000}"
umask 077
: > /tmp/userlist.txt
for name in AUTH TICKETS TRIAGE NOTIFIER; do
    eval "password=\${${name}_DB_PASSWORD:-}"
    if [ -z "$password" ]; then
        echo "entrypoint: ${name}_DB_PASSWORD must be set" >&2
        exit 1
    fi
    role="helpdesk_$(echo "$name" | tr 'A-Z' 'a-z')"
    printf '"%s" "%s"\n' "$role" "$(printf '%s' "$password" | sed 's/"/""/g')" >> /tmp/userlist.txt
done
cat > /tmp/pgbouncer.ini <<INI
[databases]
helpdesk = host=${POSTGRES_HOST} port=${POSTGRES_PORT} dbname=helpdesk
[pgbouncer]
listen_addr = 0.0.0.0
listen_port = 6432
auth_type = scram-sha-256
auth_file = /tmp/userlist.txt
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN}
server_idle_timeout = 30
# asyncpg through a transaction pooler prepares each statement under a fresh name and never
# deallocates it (shared/shared/db.py): recycle server connections so that cannot pile up
server_lifetime = 300
ignore_startup_parameters = extra_float_digits
INI
exec pgbouncer /tmp/pgbouncer.ini
