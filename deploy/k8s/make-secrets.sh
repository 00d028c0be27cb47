#!/usr/bin/env bash
# Creates (or updates) the Secrets the manifests reference, with fresh random passwords and an
# Ed25519 JWT key pair, in one namespace. Values already in the environment win.
#
#   deploy/k8s/make-secrets.sh helpdesk-dev --dev   # in-cluster Postgres, RabbitMQ, Mailpit
#   PG_HOST=... PG_ADMIN_DSN=... RABBITMQ_HOST=... deploy/k8s/make-secrets.sh helpdesk
#
# Production: also import the broker users (`--definitions FILE` writes
# deploy/rabbitmq/definitions.json with these passwords filled in, mode 600), or create the
# Secrets with your secret manager (External Secrets, Sealed Secrets) under the same names/keys:
#   helpdesk-jwt            JWT_PUBLIC_KEY JWT_PRIVATE_KEY
#   helpdesk-auth           RABBITMQ_URL AUTH_DATABASE_URL BOOTSTRAP_ADMIN_EMAIL BOOTSTRAP_ADMIN_PASSWORD
#   helpdesk-tickets        RABBITMQ_URL TICKETS_DATABASE_URL
#   helpdesk-triage         RABBITMQ_URL TRIAGE_DATABASE_URL [GEMINI_API_KEY]
#   helpdesk-notifier       RABBITMQ_URL NOTIFIER_DATABASE_URL [SMTP_USERNAME SMTP_PASSWORD]
#   helpdesk-pgbouncer      POSTGRES_HOST, <SERVICE>_DB_PASSWORD of the four services (its user list)
#   helpdesk-gateway        RABBITMQ_URL
#   helpdesk-db-admin       PG_ADMIN_DSN AUTH_DB_PASSWORD TICKETS_DB_PASSWORD TRIAGE_DB_PASSWORD NOTIFIER_DB_PASSWORD
#   helpdesk-keda-rabbitmq  host (management API URL with the read-only `monitor` user)
#   dev only: helpdesk-postgres (POSTGRES_PASSWORD), helpdesk-rabbitmq-users (<USER>_RABBITMQ_PASSWORD)
set -euo pipefail

namespace=${1:?usage: make-secrets.sh NAMESPACE [--dev] [--definitions FILE]}
shift
dev=0
definitions_out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --dev) dev=1 ;;
        --definitions) definitions_out=${2:?}; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
KUBECTL=${KUBECTL:-kubectl}
here=$(cd "$(dirname "$0")" && pwd)

secret() { openssl rand -hex 24; }
: "${AUTH_DB_PASSWORD:=$(secret)}" "${TICKETS_DB_PASSWORD:=$(secret)}"
: "${TRIAGE_DB_PASSWORD:=$(secret)}" "${NOTIFIER_DB_PASSWORD:=$(secret)}"
for user in ADMIN AUTH TICKETS TRIAGE NOTIFIER GATEWAY MONITOR; do
    var="${user}_RABBITMQ_PASSWORD"
    [ -n "${!var:-}" ] || printf -v "$var" '%s' "$(secret)"
done
: "${BOOTSTRAP_ADMIN_EMAIL:=admin@example.com}"
: "${BOOTSTRAP_ADMIN_PASSWORD:=$(openssl rand -base64 18 | tr -d '/+=')}"
if [ -z "${JWT_PRIVATE_KEY:-}" ]; then
    JWT_PRIVATE_KEY=$(openssl genpkey -algorithm ed25519)
    JWT_PUBLIC_KEY=$(printf '%s\n' "$JWT_PRIVATE_KEY" | openssl pkey -pubout)
fi

if [ "$dev" = 1 ]; then
    : "${POSTGRES_PASSWORD:=$(secret)}"
    PG_HOST=postgres
    RABBITMQ_HOST=rabbitmq
    PG_ADMIN_DSN="postgresql://postgres:${POSTGRES_PASSWORD}@postgres:5432/postgres"
else
    : "${PG_HOST:?set PG_HOST (your Postgres host)}"
    : "${PG_ADMIN_DSN:?set PG_ADMIN_DSN (a superuser DSN for dbsetup)}"
    : "${RABBITMQ_HOST:?set RABBITMQ_HOST (your RabbitMQ host)}"
fi
: "${RABBITMQ_MANAGEMENT_URL:=http://${RABBITMQ_HOST}:15672}"

apply() {  # name, then key=value pairs
    local name=$1; shift
    local args=()
    for pair in "$@"; do args+=("--from-literal=$pair"); done
    "$KUBECTL" -n "$namespace" create secret generic "$name" "${args[@]}" \
        --dry-run=client -o yaml | "$KUBECTL" apply -f -
}
amqp() { echo "amqp://$1:$2@${RABBITMQ_HOST}:5672/helpdesk"; }
# the services reach Postgres through PgBouncer (deploy/pgbouncer); dbsetup connects directly
pg() { echo "postgresql+asyncpg://helpdesk_$1:$2@pgbouncer:6432/helpdesk"; }

"$KUBECTL" get namespace "$namespace" >/dev/null 2>&1 || "$KUBECTL" create namespace "$namespace"
apply helpdesk-jwt "JWT_PRIVATE_KEY=$JWT_PRIVATE_KEY" "JWT_PUBLIC_KEY=$JWT_PUBLIC_KEY"
apply helpdesk-auth "RABBITMQ_URL=$(amqp auth "$AUTH_RABBITMQ_PASSWORD")" \
    "AUTH_DATABASE_URL=$(pg auth "$AUTH_DB_PASSWORD")" \
    "BOOTSTRAP_ADMIN_EMAIL=$BOOTSTRAP_ADMIN_EMAIL" "BOOTSTRAP_ADMIN_PASSWORD=$BOOTSTRAP_ADMIN_PASSWORD"
apply helpdesk-tickets "RABBITMQ_URL=$(amqp tickets "$TICKETS_RABBITMQ_PASSWORD")" \
    "TICKETS_DATABASE_URL=$(pg tickets "$TICKETS_DB_PASSWORD")"
triage=("RABBITMQ_URL=$(amqp triage "$TRIAGE_RABBITMQ_PASSWORD")"
        "TRIAGE_DATABASE_URL=$(pg triage "$TRIAGE_DB_PASSWORD")")
[ -z "${GEMINI_API_KEY:-}" ] || triage+=("GEMINI_API_KEY=$GEMINI_API_KEY")
apply helpdesk-triage "${triage[@]}"
notifier=("RABBITMQ_URL=$(amqp notifier "$NOTIFIER_RABBITMQ_PASSWORD")"
          "NOTIFIER_DATABASE_URL=$(pg notifier "$NOTIFIER_DB_PASSWORD")")
[ -z "${SMTP_USERNAME:-}" ] || notifier+=("SMTP_USERNAME=$SMTP_USERNAME" "SMTP_PASSWORD=${SMTP_PASSWORD:?}")
apply helpdesk-notifier "${notifier[@]}"
# signs reply addresses (notifier) and checks them on inbound mail (mail-in)
apply helpdesk-mail "MAIL_REPLY_SECRET=${MAIL_REPLY_SECRET:-$(secret)}"
apply helpdesk-gateway "RABBITMQ_URL=$(amqp gateway "$GATEWAY_RABBITMQ_PASSWORD")"
apply helpdesk-db-admin "PG_ADMIN_DSN=$PG_ADMIN_DSN" \
    "AUTH_DB_PASSWORD=$AUTH_DB_PASSWORD" "TICKETS_DB_PASSWORD=$TICKETS_DB_PASSWORD" \
    "TRIAGE_DB_PASSWORD=$TRIAGE_DB_PASSWORD" "NOTIFIER_DB_PASSWORD=$NOTIFIER_DB_PASSWORD"
apply helpdesk-pgbouncer "POSTGRES_HOST=$PG_HOST" \
    "AUTH_DB_PASSWORD=$AUTH_DB_PASSWORD" "TICKETS_DB_PASSWORD=$TICKETS_DB_PASSWORD" \
    "TRIAGE_DB_PASSWORD=$TRIAGE_DB_PASSWORD" "NOTIFIER_DB_PASSWORD=$NOTIFIER_DB_PASSWORD"
apply helpdesk-keda-rabbitmq \
    "host=${RABBITMQ_MANAGEMENT_URL/:\/\//://monitor:${MONITOR_RABBITMQ_PASSWORD}@}/"

if [ "$dev" = 1 ]; then
    apply helpdesk-postgres "POSTGRES_PASSWORD=$POSTGRES_PASSWORD"
    users=()
    for user in ADMIN AUTH TICKETS TRIAGE NOTIFIER GATEWAY MONITOR; do
        var="${user}_RABBITMQ_PASSWORD"; users+=("$var=${!var}")
    done
    apply helpdesk-rabbitmq-users "${users[@]}"
fi

if [ -n "$definitions_out" ]; then
    (
        umask 077
        export ADMIN_RABBITMQ_PASSWORD AUTH_RABBITMQ_PASSWORD TICKETS_RABBITMQ_PASSWORD \
            TRIAGE_RABBITMQ_PASSWORD NOTIFIER_RABBITMQ_PASSWORD GATEWAY_RABBITMQ_PASSWORD \
            MONITOR_RABBITMQ_PASSWORD
        sed -e "s#/etc/helpdesk/rabbitmq/definitions.json#$here/../rabbitmq/definitions.json#" \
            -e "s#/tmp/helpdesk-definitions.json#$definitions_out#" -e '/^exec /d' \
            "$here/../rabbitmq/entrypoint.sh" | bash
    )
    echo "broker users written to $definitions_out: rabbitmqctl import_definitions $definitions_out" >&2
fi
echo "secrets ready in namespace $namespace; first admin: $BOOTSTRAP_ADMIN_EMAIL" >&2
