# syntax=docker/dockerfile:1
# The drs-operator image: `drs-operator run` as a non-root user (65532).
# Build: docker build -t drs-operator:0.1.0 .
# The chart runs it with a read-only root filesystem and an emptyDir at /tmp.

# ---- builder: a wheel of this repository plus the wheels of its dependencies
FROM python:3.12-slim AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the package needs (pyproject reads README.md); .dockerignore keeps the rest out.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip wheel --wheel-dir /wheels /wheels/drs_operator-*.whl

# ---- runtime: the wheels installed into a clean slim image, no build tools, no sources
FROM python:3.12-slim
LABEL org.opencontainers.image.title="drs-operator" \
      org.opencontainers.image.description="Mirrors Huawei Cloud DRS replication tasks into DrsJob resources" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/drs_operator-*.whl \
 && groupadd --system --gid 65532 nonroot \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin nonroot
USER 65532:65532
WORKDIR /tmp
# 8080: Prometheus /metrics; 8081: /healthz (liveness) and /readyz (readiness).
EXPOSE 8080 8081
ENTRYPOINT ["drs-operator", "run"]
