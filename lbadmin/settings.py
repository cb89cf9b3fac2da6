"""lbadmin settings: everything that varies between machines comes from the environment."""
import datetime
import os
from pathlib import Path

import dj_database_url

from .envconfig import envbool, envchoice, envint, envlist, envnetworks, private_file, proxy_ssl_header, secret_key
from .tls import allowed_host_names, tls_enabled

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("LBADMIN_DATA_DIR", BASE_DIR / "data")).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # private: lbadmin.datafiles checks it

SECRET_KEY = secret_key(DATA_DIR)
DEBUG = envbool("LBADMIN_DEBUG", "0")
CSRF_TRUSTED_ORIGINS = envlist("LBADMIN_CSRF_TRUSTED_ORIGINS", "")

# HTTPS (README "HTTPS"). gunicorn serves TLS itself (lbadmin/gunicorn_conf.py) unless
# LBADMIN_TLS=off, where it listens on loopback behind a TLS proxy that says so in a header.
TLS = tls_enabled()
ALLOWED_HOSTS = envlist("LBADMIN_ALLOWED_HOSTS", "") or allowed_host_names()
SECURE_PROXY_SSL_HEADER = None if TLS else proxy_ssl_header(
    os.environ.get("LBADMIN_PROXY_SSL_HEADER", "X-Forwarded-Proto: https"))
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = envint("LBADMIN_HSTS_SECONDS", "31536000")  # 0: no HSTS header
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
# The preload list is for a public domain's port 443, submitted to the browser vendors:
# nothing an admin port does, so no `preload` promise in the header (and no W021 about it).
SECURE_HSTS_PRELOAD = False
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = CSRF_COOKIE_HTTPONLY = True  # HTMX sends the token from the page
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
MESSAGE_STORAGE = "lbadmin.messages.SentenceStorage"  # each message a sentence (lbadmin/messages.py)
# An idle timeout: lbadmin.middleware.IdleSessionMiddleware saves an active session once a
# minute, and Django expires a session this long after its last save.
SESSION_COOKIE_AGE = envint("LBADMIN_SESSION_IDLE", "28800")

INSTALLED_APPS = [
    # lbadmin first: its createsuperuser and changepassword (audited) replace Django's.
    "lbadmin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "virtualservers",
    "monitoring",
    "ninja",  # the API's docs page serves Swagger UI from ninja's static files, not a CDN
    "api",
]

MIDDLEWARE = [
    "lbadmin.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "lbadmin.middleware.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every view needs a login unless it is marked @login_not_required (only the
    # login page): one place, so a new view cannot forget it (Piranha's CVE-2013-6492).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "lbadmin.account_middleware.RequireTotpForAdmins",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the lockout page
]

ROOT_URLCONF = "lbadmin.urls"
WSGI_APPLICATION = "lbadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lbadmin.roles.role_context",
                "lbadmin.redis_client.redis_context",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'lbadmin.sqlite3'}"),
        conn_max_age=60,
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Tests use a file (one per test process), so a real Celery worker started
    # by an integration test can open the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")}
    # The worker, beat and web write concurrently: WAL and a busy timeout
    # turn "database is locked" into a short wait.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    _database = Path(DATABASES["default"]["NAME"])
    if _database.is_absolute() and not _database.exists():
        # Created private here, before SQLite would create it with the umask's mode.
        _database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            private_file(_database)
        except FileExistsError:
            pass  # web, worker and beat start together

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Logins (lbadmin/login_throttle.py): django-axes refuses a (user name, address) after
# AXES_FAILURE_LIMIT failures and an address after LBADMIN_LOGIN_IP_FAILURE_LIMIT, for
# AXES_COOLOFF_TIME after the last failure; an admin lifts it on USERS. Storage stays
# bounded: no access log, failures during a lockout are not stored, expired rows go.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "lbadmin.login_throttle.LoginThrottle"
AXES_LOCKOUT_CALLABLE = "lbadmin.account_views.locked_out"
AXES_FAILURE_LIMIT = envint("LBADMIN_LOGIN_FAILURE_LIMIT", "5")
LBADMIN_LOGIN_IP_FAILURE_LIMIT = envint("LBADMIN_LOGIN_IP_FAILURE_LIMIT", "20")
AXES_COOLOFF_TIME = datetime.timedelta(minutes=envint("LBADMIN_LOGIN_COOLOFF_MINUTES", "15"))
AXES_CLIENT_IP_CALLABLE = "lbadmin.middleware.client_ip"  # the address the audit log records
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False  # no banner on every start: it would land in the CLI commands' output
# TOTP second factor (django-otp); when set, an admin without a device enrols first.
LBADMIN_REQUIRE_TOTP_FOR_ADMINS = envbool("LBADMIN_REQUIRE_TOTP_FOR_ADMINS", "0")
OTP_TOTP_ISSUER = "lbadmin"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "control"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("LBADMIN_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = envint("LBADMIN_TASK_TIME_LIMIT", "600")
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The live poll has a queue and a worker process of its own (the Procfile's poller), so a
# poll never waits behind an apply nor takes a worker slot an apply needs.
LIVE_POLL_QUEUE = "live"
CELERY_TASK_ROUTES = {"monitoring.tasks.poll_live": {"queue": LIVE_POLL_QUEUE}}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {
    "heartbeat": {"task": "monitoring.tasks.heartbeat", "schedule": 5.0},
}

AUDIT_PAGE_SIZE = 50

# Logs an operator can read: one line per apply, transition and failure (our own loggers),
# not one per 1-s health tick, 2-s poll or SSH login. LBADMIN_LOG_LEVEL=DEBUG brings the
# chatter back.
_CHATTY = "DEBUG" if os.environ.get("LBADMIN_LOG_LEVEL", "INFO").upper() == "DEBUG" else "WARNING"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LBADMIN_LOG_LEVEL", "INFO")},
    "loggers": {
        "paramiko": {"level": _CHATTY},  # "Connected (version 2.0 ...)", "Authentication ... successful"
        "celery.beat": {"level": _CHATTY},  # "Scheduler: Sending due task" every second
        "celery.app.trace": {"level": _CHATTY},  # "Task ... succeeded in 0.002 s"
        "celery.worker.strategy": {"level": _CHATTY},  # "Task ... received"
    },
}

CELERY_BEAT_SCHEDULE.update({
    "live-table": {"task": "monitoring.tasks.poll_live", "schedule": 2.0},
    "reconcile-sweep": {"task": "virtualservers.tasks.sweep", "schedule": 30.0},
    # What a Redis outage left in the reconcile outbox is sent within seconds of its return.
    "reconcile-outbox": {"task": "virtualservers.tasks.drain", "schedule": 5.0},
})

CELERY_BEAT_SCHEDULE.update({
    # Health checks: the tick keeps one checker running in a worker (monitoring/checker.py).
    "health-tick": {"task": "monitoring.tasks.health_tick", "schedule": 1.0},
})

CELERY_BEAT_SCHEDULE.update({
    # Failover rehearsals on each group's schedule (rehearse_every_days): due ones start
    # within the hour.
    "rehearsal-schedule": {"task": "virtualservers.tasks.rehearse_due", "schedule": 3600.0},
})

CELERY_BEAT_SCHEDULE.update({
    # History (monitoring/history.py): a slot every 10 s from the live snapshots; written
    # out, downsampled and pruned every minute.
    "history-sample": {"task": "monitoring.tasks.sample_history", "schedule": 10.0},
    "history-keep": {"task": "monitoring.tasks.keep_history", "schedule": 60.0},
})

# Content-Security-Policy (django-csp): scripts only from our own static files, no inline
# script, no eval (htmx is configured without it in base.html), no framing, forms post
# only here. Styles too come only from static files (htmx's own indicator style is off).
from csp.constants import NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware")

# Program checks: only executables in this root-owned directory may be named, and a root
# worker runs them as this unprivileged user (monitoring/checks/program_check.py).
LBADMIN_CHECK_PROGRAM_DIR = os.environ.get("LBADMIN_CHECK_PROGRAM_DIR", "/usr/local/lib/lbadmin/checks")
LBADMIN_CHECK_PROGRAM_USER = os.environ.get("LBADMIN_CHECK_PROGRAM_USER", "nobody")

# /metrics (monitoring/metrics_views.py): a client from these networks may scrape without a
# token. The address is REMOTE_ADDR only, never X-Forwarded-For (anyone can send that).
# Behind a TLS proxy (LBADMIN_TLS=off) every request comes from the proxy's own loopback
# address, so loopback proves nothing there: the default is then no network (tokens only).
LBADMIN_METRICS_ALLOW = envnetworks("LBADMIN_METRICS_ALLOW", "127.0.0.1/32,::1/128" if TLS else "")

# Alerts (monitoring/alerts_*.py): the SMTP server mail destinations use, and the window
# within which events for one destination become one message.
ALERT_SMTP = {
    "host": os.environ.get("LBADMIN_SMTP_HOST", "localhost"),
    "port": envint("LBADMIN_SMTP_PORT", "25"),
    "security": envchoice("LBADMIN_SMTP_SECURITY", "none", ("none", "starttls", "ssl")),
    "user": os.environ.get("LBADMIN_SMTP_USER", ""),
    "password": os.environ.get("LBADMIN_SMTP_PASSWORD", ""),
    "from": os.environ.get("LBADMIN_SMTP_FROM", "lbadmin@localhost"),
}
ALERT_WINDOW = envint("LBADMIN_ALERT_WINDOW", "30")
ALERT_KEEP_DAYS = envint("LBADMIN_ALERT_KEEP_DAYS", "90")
CELERY_BEAT_SCHEDULE.update({
    # Routes new events to destinations, sends the batches that came due and retries.
    "alerts": {"task": "monitoring.tasks.alerts_tick", "schedule": 2.0},
    "alerts-prune": {"task": "monitoring.tasks.alerts_prune", "schedule": 3600.0},
})
