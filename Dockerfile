# greenrow service image: one gunicorn master (PID 1, gets SIGTERM) with the gevent worker, every worker
# a node. DATABASE_URL must point at a real PostgreSQL (the embedded one is for dev and CI only).
#
#   docker build -t greenrow .           (podman build works the same)
#
# The base is pinned by digest: Python 3.11 on Debian 12. To move it, look the tag's digest up
# (`docker buildx imagetools inspect python:3.11.14-slim-bookworm`) and change this line.
# `make containers-test`, with no registry to pull from, builds with --build-arg PYTHON_IMAGE naming a
# local stand-in (README, "Containers").
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

# The dependencies, in a virtualenv built in a stage of its own: the final image copies the virtualenv
# only (no pip, no setuptools, no download cache), and a change to the code reuses this stage.
FROM ${PYTHON_IMAGE} AS dependencies
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements-service.txt /tmp/
RUN python -m venv /opt/greenrow \
    && /opt/greenrow/bin/pip install --quiet -r /tmp/requirements-service.txt \
    && /opt/greenrow/bin/pip uninstall --quiet --yes pip setuptools

FROM ${PYTHON_IMAGE}
# PYTHONMALLOC=malloc: the allocator the service runs with (config/gunicorn.conf.py says why; set here,
# gunicorn starts with it instead of running itself again to set it).
ENV PATH=/opt/greenrow/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONMALLOC=malloc \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1
RUN groupadd --system --gid 10001 greenrow \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin greenrow
COPY --from=dependencies /opt/greenrow /opt/greenrow

WORKDIR /app
COPY wsgi.py ./
COPY config ./config
COPY service ./service
COPY greenlets ./greenlets

USER 10001:10001
EXPOSE 8000
# Ready: the node runs, every worker of the container is up and the shards are balanced.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c 'import os, urllib.request; urllib.request.urlopen("http://127.0.0.1:%s/readyz" % os.environ.get("PORT", "8000"), timeout=2)'
# Give the container a stop grace longer than gunicorn's graceful_timeout (30 s), e.g.
# `docker stop -t 40` or `stop_grace_period: 40s` in compose, so leases are handed back cleanly.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "wsgi:app"]
