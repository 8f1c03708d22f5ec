# kuflow-router: one image, three roles — `serve` (default), `worker`, or `run` (both).
#   docker build -t kuflow-router .
#   docker run --env-file .env -p 8000:8000 -v "$PWD/rules.yaml:/app/rules.yaml:ro" kuflow-router
# See compose.yaml for Redis, a receiver and a worker together.

# Base images by digest (docs/security.md, "Dependencies", says how to bump them).
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
WORKDIR /src
COPY pyproject.toml README.md requirements.image.txt ./
COPY common common
COPY contract contract
COPY store store
COPY receiver receiver
COPY handlers handlers
COPY authoring authoring
COPY console console
COPY kuflow_router kuflow_router
COPY demo demo
# Every dependency's file (and pip's), each checked against its hash in requirements.image.txt
# (scripts/lock), and the project's own wheel: the final stage needs no build tools and installs
# what CI tested, byte for byte.
RUN pip download --no-cache-dir --require-hashes --no-deps --dest /wheels \
        --requirement requirements.image.txt \
    && pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
# DL3013 asks to pin versions: the one package named is this project's own wheel, built above,
# and --no-index --no-deps means nothing else can be picked. setuptools and wheel are not needed
# to run, and the base image's may carry advisories: removed.
# hadolint ignore=DL3013
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/requirements.image.txt,target=/requirements.image.txt \
    pip install --no-cache-dir --no-index --find-links=/wheels --require-hashes \
        --requirement /requirements.image.txt \
    && pip install --no-cache-dir --no-index --no-deps /wheels/kuflow_router-*.whl \
    && pip uninstall --yes setuptools wheel \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin router
WORKDIR /app
COPY rules.yaml /app/rules.yaml
# A worker's /metrics (when ROUTER_WORKER_METRICS_PORT is set) faces Prometheus, from another
# pod: all interfaces here, with deploy/kubernetes's NetworkPolicy deciding who reaches it.
ENV ROUTER_RULES_FILE=/app/rules.yaml \
    ROUTER_WORKER_METRICS_HOST=0.0.0.0 \
    PYTHONUNBUFFERED=1
USER 10001
EXPOSE 8000
# The receiver's liveness; a `worker` container has no HTTP port, and is checked with
# `kuflow-router worker --check` instead (its heartbeat in Redis; see compose.yaml).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["kuflow-router"]
CMD ["serve"]
