#!/bin/sh
# Prints fresh secrets for docker-compose.yml, one VAR=value a line:
#   deploy/compose/generate-env.sh > .env && chmod 600 .env
# Keep .env out of version control (.dockerignore already keeps it out of the build context). Losing
# AUTHPIPE_MASTER_KEYS makes every stored secret unreadable: back it up somewhere safe. To rotate, prepend a new
# version (v2:<base64>,v1:<old>); never drop a version that still wraps data keys.
set -eu

random_base64() { head -c "$1" /dev/urandom | base64 | tr -d '\n'; }
# NATS passwords: letters and digits only, starting with a letter. nats.conf reads them through variable
# references, and nats-server parses such a value as a config token (digits become numbers, '#' starts a comment).
nats_password() { printf 'n%s' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

echo "AUTHPIPE_MASTER_KEYS=v1:$(random_base64 32)"
echo "AUTHPIPE_ADMIN_TOKEN=$(random_base64 36 | tr '+/' '-_')"
# One per app, and one for the `integrations` user (outside subscribers of the integration events).
for app in OAUTH_GATEWAY VAULT QUERY_API REFRESHER HEALTH_MONITOR INTEGRATIONS; do
  echo "AUTHPIPE_NATS_PASSWORD_${app}=$(nats_password)"
done
