# greenrow service image. The container runs one gunicorn master (PID 1, gets SIGTERM) with the
# gevent worker; DATABASE_URL must point at a real PostgreSQL (the embedded one is for dev and CI only).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1 \
    PYTHONMALLOC=malloc

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt \
    && useradd --system --uid 10001 --no-create-home greenrow

COPY wsgi.py ./
COPY config ./config
COPY service ./service
COPY greenlets ./greenlets

USER greenrow
EXPOSE 8000
# Give the container a stop grace longer than gunicorn's graceful_timeout (30 s), e.g.
# `docker stop -t 40` or `stop_grace_period: 40s` in compose, so leases are handed back cleanly.
STOPSIGNAL SIGTERM
CMD ["sh", "-c", "exec gunicorn -c config/gunicorn.conf.py wsgi:app"]
