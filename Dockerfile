# commhub production image: gunicorn for the web, the same image for workers and beat.
FROM python:3.11-slim

# MALLOC_ARENA_MAX: a worker's sender threads would each keep their own malloc arena (README, Production).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 MALLOC_ARENA_MAX=4 \
    COMMHUB_DATA_DIR=/var/lib/commhub STATIC_ROOT=/app/static

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY . .
# collectstatic needs settings to load; DEBUG=true only accepts the development key for this build step.
RUN DEBUG=true python manage.py collectstatic --noinput -v 0 \
    && useradd --system --home /var/lib/commhub commhub \
    && mkdir -p /var/lib/commhub && chown commhub /var/lib/commhub
USER commhub

EXPOSE 8000
CMD ["gunicorn", "commhub.wsgi", "-b", "0.0.0.0:8000", "-w", "4", "-k", "gthread", "--threads", "4", \
     "--keep-alive", "30", "--access-logfile", "-"]
