# syntax=docker/dockerfile:1.7
# The one image recipe of every part. Build from the repository root, naming the part:
#   docker build --build-arg PART=tickets --build-arg PORT=8102 -t helpdesk/tickets .
#   docker build --build-arg PART=gateway --build-arg PART_DIR=gateway --build-arg PORT=8000 \
#       --build-arg WEB=web -t helpdesk/gateway .
# PART: the package (auth, tickets, triage, notifier, gateway), installed as helpdesk-${PART};
# PART_DIR: its folder; PORT: where it listens; WEB=web builds the web app into the image.
# docker-compose.yml passes these per image. The runtime stage mirrors the repository layout
# under /app, so the commands in deploy/processes.toml run unchanged (on 0.0.0.0).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG NODE_IMAGE=node:20-bookworm-slim
ARG WEB=no-web

FROM ${UV_IMAGE} AS uv

# --- the web app (Vite), for the gateway only: npm ci is cached on package-lock.json
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- no web app: an empty dist (BuildKit skips the web stage when nothing uses it)
FROM ${PYTHON_IMAGE} AS no-web
RUN mkdir -p /web/dist

FROM ${WEB} AS web-dist

# --- Python dependencies and code, installed into /app/.venv
FROM ${PYTHON_IMAGE} AS build
ARG PART=tickets
ARG PART_DIR=services/${PART}
COPY --from=uv /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Third-party dependencies first, from the lock alone: this layer is rebuilt only when
# uv.lock or a pyproject.toml changes, not on every code change. No dev dependencies (the
# workspace member testing/ is listed for the lock, never installed).
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY testing/pyproject.toml testing/
COPY services/auth/pyproject.toml services/auth/
COPY services/tickets/pyproject.toml services/tickets/
COPY services/triage/pyproject.toml services/triage/
COPY services/notifier/pyproject.toml services/notifier/
COPY gateway/pyproject.toml gateway/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package helpdesk-${PART}
# Then our own code, installed as wheels (not editable): the runtime needs no source tree.
COPY shared/ shared/
COPY ${PART_DIR}/ ${PART_DIR}/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package helpdesk-${PART}
# What the runtime reads from disk: the part's migrations, when it has a database
RUN mkdir -p /files/${PART_DIR} \
    && if [ -f ${PART_DIR}/alembic.ini ]; then cp -r ${PART_DIR}/alembic.ini ${PART_DIR}/migrations/ /files/${PART_DIR}/; fi

# --- runtime: the venv, what the commands read from disk, an unprivileged user
FROM ${PYTHON_IMAGE} AS runtime
ARG PART=tickets
ARG PORT=8102
RUN groupadd --system --gid 10001 helpdesk \
    && useradd --system --uid 10001 --gid helpdesk --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin helpdesk
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
# Alembic runs from /app as from the repository root: `alembic -c services/<svc>/alembic.ini upgrade head`
COPY --from=build /files/ /app/
COPY --from=web-dist /web/dist web/dist
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_WEB_DIR=/app/web/dist \
    PART=${PART} \
    PORT=${PORT}
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${PORT}/healthz', timeout=2)"
# uvicorn finishes in-flight requests on SIGTERM (exec: it is PID 1, the signal reaches it); the
# app's lifespan then stops its consumers and outbox relay cleanly (unacked messages go back).
CMD exec uvicorn ${PART}.app:create_app --factory --loop uvloop --http httptools --host 0.0.0.0 --port ${PORT}
