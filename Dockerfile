# syntax=docker/dockerfile:1.7
#
# Worker image: `streams worker`, configured only through STREAMS_* environment variables
# (see docs/CONFIGURATION.md and docs/DEPLOYING.md). Build with BuildKit (the default builder
# of current Docker releases):
#
#   docker build -t REGISTRY/conversation-custom-data-streams:0.1.0 .
#
# For reproducible builds pin both FROM lines to the same digest
# (python:3.11-slim-trixie@sha256:...) in CI.
#
# No secret is baked in: the IM secret key and the Kafka SASL password come from a Kubernetes
# Secret at run time, and .dockerignore keeps everything but the package sources out of the
# build context.

# ---- builder: the locked wheels and a wheel of the project ----
FROM python:3.11-slim-trixie AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# The worker's lock (requirements/worker.lock, written by `make lock`): every runtime dependency
# pinned with the hashes of its published files. pip refuses a file whose hash differs and any
# dependency the lock lacks. --only-binary: every locked dependency ships manylinux wheels for
# CPython 3.11 (faust-streaming, aiokafka, rocksdict, orjson, pydantic-core, cramjam...), so
# nothing is compiled here.
# The build backend (setuptools) comes from its own lock, hashes checked too: building the
# project then runs without build isolation, which would fetch setuptools from the index unchecked.
COPY requirements/worker.lock requirements/build.lock ./requirements/
RUN pip wheel --require-hashes --only-binary=:all: --wheel-dir /wheels -r requirements/worker.lock \
    && pip install --require-hashes --only-binary=:all: -r requirements/build.lock
# Only what `pip wheel .` reads (pyproject.toml names README.md as the long description).
COPY pyproject.toml README.md ./
COPY streams ./streams
# The project alone: its dependencies are the locked wheels above, nothing is resolved.
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

# ---- runtime: the wheels installed into a venv, run as an unprivileged numeric user ----
FROM python:3.11-slim-trixie AS runtime

LABEL org.opencontainers.image.title="conversation-custom-data-streams" \
      org.opencontainers.image.description="Faust worker applying conversation custom-data changes through Tencent Cloud Chat"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    STREAMS_DATA_DIR=/var/lib/streams \
    STREAMS_WEB_HOST=0.0.0.0 \
    STREAMS_WEB_PORT=6066

# The wheels and the lock are bind-mounted from the builder, so they never become a layer of
# this image. --no-index: nothing but the builder's wheels; --require-hashes: the dependencies
# are installed from the lock, hashes checked a second time; the project with --no-deps; pip
# check fails the build if the lock does not satisfy the project's declared dependencies. No
# test tool and no development kit (embedded broker, emulator, demo, workload generator: the
# separate distribution in devkit/, outside the build context): the worker's lock holds neither.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,from=builder,source=/src/requirements,target=/requirements \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links=/wheels --require-hashes \
        -r /requirements/worker.lock \
    && /opt/venv/bin/pip install --no-index --no-deps \
        /wheels/conversation_custom_data_streams-*.whl \
    && /opt/venv/bin/pip check \
    && groupadd --system --gid 10001 streams \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin streams \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/streams

# Numeric UID:GID so Kubernetes can verify runAsNonRoot without looking up /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/streams

# Faust web: /metrics, /healthz, /readyz.
EXPOSE 6066

ENTRYPOINT ["streams"]
CMD ["worker"]
