"""gunicorn's configuration for the web process (Procfile, docker-compose.yml, Dockerfile:
`gunicorn --config python:lbadmin.gunicorn_conf`): where it listens, and its certificate.

LBADMIN_TLS on (the default): HTTPS on 0.0.0.0:LBADMIN_PORT, with certfile/keyfile the
operator's (LBADMIN_TLS_CERT / LBADMIN_TLS_KEY, checked here so a wrong file stops the
start with a clear message) or the self-signed pair in the data dir, created on first
start. LBADMIN_TLS=off: plain HTTP on 127.0.0.1 only, for a TLS proxy on this machine.
"""
import os
import sys

from django.core.exceptions import ImproperlyConfigured

from lbadmin.tls import RedirectPlainHttp, describe, ensure_certificate, tls_enabled

port = os.environ.get("LBADMIN_PORT", "3636")
# Live panels poll every 2 s over one kept-alive TLS connection. gunicorn's default of 2 s
# closed it just as the next poll went out ("server disconnected", 5 of 1,684 requests in
# bench/bench_load.py); 10 s keeps it across polls and saves a handshake per poll.
keepalive = 10
try:
    if tls_enabled():
        _certificate = ensure_certificate()
        bind = [f"0.0.0.0:{port}"]
        certfile = str(_certificate.cert_file)
        keyfile = str(_certificate.key_file)
        print(f"lbadmin: {describe(_certificate)}", flush=True)
    else:
        bind = [f"127.0.0.1:{port}"]
        print("lbadmin: LBADMIN_TLS=off: plain HTTP on 127.0.0.1 only, for a TLS proxy on this machine",
              flush=True)
except ImproperlyConfigured as exc:  # lbadmin.tls.TLSConfigError is one
    # gunicorn would print a traceback for an exception; the operator needs one line.
    print(f"error: {exc}", file=sys.stderr, flush=True)
    sys.exit(1)


def ssl_context(conf, default_ssl_context_factory):
    return RedirectPlainHttp(default_ssl_context_factory())


def when_ready(server):
    """Log, at every start, a data file that others than lbadmin's user can read."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "lbadmin.settings")
    import django

    django.setup()
    from lbadmin.datafiles import loose_permissions

    for problem in loose_permissions():
        server.log.warning("lbadmin: %s", problem)
