# syntax=docker/dockerfile:1
# One image for the operator (`scoutly operator run`) and the scrape Jobs (`scoutly scrape`).
# Build: make docker-build IMG=... (needs a container engine). The install steps of the final stage are
# tested without one by tests/integration/chart/test_image.py (wheel into a fresh venv, then --help).
ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS build
WORKDIR /src
# build is the only tool the wheel needs; it stays in this stage
RUN pip install --no-cache-dir "build>=1.3,<2"
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN python -m build --wheel --outdir /dist .

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="scoutly-operator" \
      org.opencontainers.image.description="Scoutly scrape operator and scrape Job workload" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/scoutly/scoutly-operator" \
      org.opencontainers.image.vendor="Scoutly"
# ca-certificates for HTTPS to job boards, MongoDB Atlas and the LLM endpoint
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/scoutly \
    PATH=/opt/scoutly/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# only the wheel: no sources, no build tools; pip is removed from the venv afterwards
COPY --from=build /dist/*.whl /tmp/wheels/
RUN python -m venv /opt/scoutly \
    && /opt/scoutly/bin/pip install --no-cache-dir /tmp/wheels/*.whl \
    && /opt/scoutly/bin/pip uninstall -y pip \
    && rm -rf /tmp/wheels \
    && groupadd --system --gid 65532 scoutly \
    && useradd --system --uid 65532 --gid 65532 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin scoutly
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["scoutly"]
CMD ["operator", "run"]
