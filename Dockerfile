# DigitPad: the web app, the REST API and the shipped models in one image.
#
#   docker build -t digitpad .
#   docker run --rm -p 8000:8000 digitpad
#
# BASE_IMAGE lets a build without registry access use a local Debian image that has python3 and venv.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS builder

# A package index mirror for builds that cannot reach PyPI; pip ignores them while empty.
ARG PIP_INDEX_URL=""
ARG PIP_EXTRA_INDEX_URL=""
ARG PIP_TRUSTED_HOST=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python3 -m venv /opt/venv

# Dependencies first, from pyproject.toml alone, so a code change does not download them again.
COPY pyproject.toml ./
RUN python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
        > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt

COPY README.md ./
COPY app ./app
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools


FROM ${BASE_IMAGE}

# HOST and PORT are what the server binds; WEB_CONCURRENCY is its worker count. With several workers,
# each process writes its metrics under PROMETHEUS_MULTIPROC_DIR and /metrics adds them up.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/digitpad-metrics \
    DIGITPAD_MODEL_DIR=/srv/digitpad/model \
    DIGITPAD_TEMPLATES_DIR=/srv/digitpad/templates \
    DIGITPAD_STATIC_DIR=/srv/digitpad/static \
    DIGITPAD_DATA_DIR=/srv/digitpad/data

# The data folder is the only place the app writes besides /tmp (the training lab's jobs, cache and trained
# models): a volume, so it survives a read-only root filesystem, and the server's user owns it.
RUN groupadd --system --gid 10001 digitpad \
    && useradd --no-log-init --uid 10001 --gid digitpad --home-dir /srv/digitpad --no-create-home \
        --shell /usr/sbin/nologin digitpad \
    && mkdir -p /srv/digitpad/data \
    && chown 10001:10001 /srv/digitpad/data
VOLUME ["/srv/digitpad/data"]

COPY --from=builder /opt/venv /opt/venv
COPY model/*.npz model/SHA256SUMS /srv/digitpad/model/
COPY templates /srv/digitpad/templates
COPY static /srv/digitpad/static

WORKDIR /srv/digitpad
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
EXPOSE 8000

# Last, so that a new revision does not rebuild the layers above.
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="DigitPad" \
      org.opencontainers.image.description="Draw a digit, watch the network think: a NumPy neural network behind a FastAPI app." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

# The shell only expands the variables and clears metrics left by an earlier run, then execs the
# server: uvicorn is PID 1 and shuts down cleanly on SIGTERM.
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec digitpad serve --host \"$HOST\" --port \"$PORT\""]
