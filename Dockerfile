# lbadmin image: web, worker and beat all run from it (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LBADMIN_DATA_DIR=/data \
    LBADMIN_LAB_DIR=/data/lab

WORKDIR /app

# Requirements first: this layer is rebuilt only when they change, not on every edit.
COPY requirements.txt ./
RUN pip install -r requirements.txt

RUN useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin lbadmin \
    && mkdir -p -m 700 /data \
    && chown lbadmin /data

# Everything .dockerignore lets through: the apps, templates, static and lab/ (which
# `manage.py lab up` imports; its working files go to LBADMIN_LAB_DIR, as /app is read-only
# to the lbadmin user).
COPY . .

USER lbadmin
# A throwaway key and database, so the build neither needs nor bakes a real one into the
# image (without them, settings would create a key and an empty SQLite file in /data).
RUN DJANGO_SECRET_KEY=collectstatic-at-build-time DATABASE_URL=sqlite://:memory: python manage.py collectstatic --noinput --verbosity 0

EXPOSE 3636
CMD ["sh", "-c", "exec gunicorn lbadmin.wsgi:application --config python:lbadmin.gunicorn_conf --workers 2 --threads 4 --access-logfile - --no-control-socket"]
