#!/bin/bash
# Fills the password placeholders of definitions.json from the environment, then starts the
# broker, which loads the result at boot (rabbitmq.conf: load_definitions). Used by
# docker-compose.yml and by the dev overlay's in-cluster broker; the passwords never touch disk
# outside the container.
set -euo pipefail
shopt -u patsub_replacement 2>/dev/null || true  # bash 5.2: '&' in a replacement is literal

json_escape() {
    local s=${1//\\/\\\\}
    printf '%s' "${s//\"/\\\"}"
}

definitions=$(</etc/helpdesk/rabbitmq/definitions.json)
for name in ADMIN AUTH TICKETS TRIAGE NOTIFIER GATEWAY MONITOR; do
    var="${name}_RABBITMQ_PASSWORD"
    if [ -z "${!var:-}" ]; then
        echo "entrypoint: $var must be set" >&2
        exit 1
    fi
    definitions=${definitions//"\${$var}"/"$(json_escape "${!var}")"}
done
umask 077
printf '%s\n' "$definitions" > /tmp/helpdesk-definitions.json
exec docker-entrypoint.sh rabbitmq-server
