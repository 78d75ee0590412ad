# syntax=docker/dockerfile:1
# The v11ops image: the wheel that `nox -s build` put in dist/ (the artifact the pipeline
# tested and scanned), installed into a virtualenv, run as an unprivileged user.
#   nox -s build image          # or: docker build --build-arg VERSION=... .
# The default command runs a node on port 9003 with SQLite in /var/lib/v11ops.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The virtualenv is copied whole into the runtime stage: no pip cache, no wheel file there.
RUN python -m venv /opt/v11ops
COPY dist/*.whl /tmp/dist/
# pip compiles the .pyc files here: the runtime stage sets PYTHONDONTWRITEBYTECODE.
RUN /opt/v11ops/bin/pip install --no-cache-dir /tmp/dist/*.whl

FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="v11ops" \
      org.opencontainers.image.description="The Aurigraph V11 node and the v11ops deploy tooling" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed uid/gid so volume ownership is the same on every host.
RUN groupadd --system --gid 10001 v11ops \
    && useradd --system --uid 10001 --gid v11ops --home-dir /var/lib/v11ops --create-home \
       --shell /usr/sbin/nologin v11ops
COPY --from=build /opt/v11ops /opt/v11ops
ENV PATH=/opt/v11ops/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/v11ops
USER 10001:10001
EXPOSE 9003
# Ready, not just live: the storage is open and recovered. The slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9003/q/health/ready', timeout=2)"]
ENTRYPOINT ["v11ops"]
CMD ["node", "run", "--host", "0.0.0.0", "--port", "9003", "--data-dir", "/var/lib/v11ops/node"]
