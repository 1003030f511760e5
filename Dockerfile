# One Dockerfile, one image per app: build a target named after the app.
#
#   docker build --target vault -t authpipe/vault .
#   docker compose build          (docker-compose.yml builds all five)
#
# Targets: oauth-gateway, vault, refresher, health-monitor, query-api. Each image holds the production dependencies,
# the compiled shared libraries and its own app only (vault's image carries no gateway code, and so on), runs as the
# unprivileged `node` user from root-owned, read-only files, and checks its health by asking the app on its NATS
# health subject (deploy/compose/nats-healthcheck.js).
#
# Node 20 (>= 20.19: require() of the ESM-only oauth4webapi); the patch release is pinned, the same as the machines.
ARG NODE_VERSION=20.20.2

# ---- base: Node on Debian bookworm, slim -----------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# ---- deps: every dependency, dev ones included (TypeScript, tsc-alias) ----------------------------------------------
# --ignore-scripts: no install-time code runs; nothing here needs it (the scripts are banners, a version warning and
# an optional native module of a test-only dependency).
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts

# ---- build: tsc + tsc-alias into dist/ (providers.json is copied by tsc) ---------------------------------------------
FROM deps AS build
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY libs ./libs
COPY apps ./apps
RUN npm run build

# ---- prod-deps: runtime dependencies only ----------------------------------------------------------------------------
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

# ---- runtime: what every app image shares ----------------------------------------------------------------------------
# Files stay owned by root: the `node` user can read them, not change them.
FROM base AS runtime
ENV NODE_ENV=production
# Every app listens (HTTP API, or health and metrics on HEALTH_PORT) on every interface of the container; the
# default, 127.0.0.1, is for one-machine runs.
ENV AUTHPIPE_BIND_HOST=0.0.0.0
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/libs ./dist/libs
COPY deploy/compose/nats-healthcheck.js ./nats-healthcheck.js
USER node

# ---- the five apps ---------------------------------------------------------------------------------------------------
FROM runtime AS vault
COPY --from=build /app/dist/apps/vault ./dist/apps/vault
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "nats-healthcheck.js", "vault"]
CMD ["node", "dist/apps/vault/src/main.js"]

FROM runtime AS refresher
COPY --from=build /app/dist/apps/refresher ./dist/apps/refresher
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "nats-healthcheck.js", "refresher"]
CMD ["node", "dist/apps/refresher/src/main.js"]

FROM runtime AS health-monitor
COPY --from=build /app/dist/apps/health-monitor ./dist/apps/health-monitor
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "nats-healthcheck.js", "health-monitor"]
CMD ["node", "dist/apps/health-monitor/src/main.js"]

FROM runtime AS query-api
COPY --from=build /app/dist/apps/query-api ./dist/apps/query-api
EXPOSE 3001
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "nats-healthcheck.js", "query-api"]
CMD ["node", "dist/apps/query-api/src/main.js"]

FROM runtime AS oauth-gateway
COPY --from=build /app/dist/apps/oauth-gateway ./dist/apps/oauth-gateway
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "nats-healthcheck.js", "oauth-gateway"]
CMD ["node", "dist/apps/oauth-gateway/src/main.js"]
