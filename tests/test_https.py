"""HTTPS as shipped: `check --deploy` clean under the production settings, Secure cookies,
HSTS, ALLOWED_HOSTS without `*`, an idle session timeout, and gunicorn itself serving
TLS on the web port as the Procfile starts it (a raw socket shows what plain HTTP gets;
Chromium logs in over HTTPS)."""
from __future__ import annotations

import hashlib
import http.client
import os
import socket
import ssl
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.test import override_settings
from django.urls import reverse

from lbadmin.procfile import parse_procfile

from tests.browser import browser  # noqa: F401  (fixture)
from tests.processes import stop_group, wait_for
from tests.services import free_port

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"


def production_env(data_dir: Path, **extra: str) -> dict:
    """The environment of scripts/run: lbadmin.settings (not the tests'), the venv first on PATH."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DJANGO_SECRET_KEY",
                          "DJANGO_ALLOW_ASYNC_UNSAFE")}  # the last one: set by tests/browser.py
    path = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return {**env, "PATH": path, "LBADMIN_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}


def python(env: dict, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


# --- the settings -----------------------------------------------------------------------

@pytest.mark.parametrize("extra", [{}, {"LBADMIN_TLS": "off"}], ids=["tls", "behind-a-proxy"])
def test_check_deploy_is_clean_under_the_production_settings(tmp_path, extra):
    result = python(production_env(tmp_path / "data", **extra), "manage.py", "check", "--deploy", "--fail-level",
                    "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def test_the_production_settings_redirect_to_https_and_trust_no_proxy_header(tmp_path):
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_AGE, '*' in s.ALLOWED_HOSTS)")
    env = production_env(tmp_path / "data", DJANGO_SETTINGS_MODULE="lbadmin.settings")
    shipped = python(env, "-c", code)
    proxied = python({**env, "LBADMIN_TLS": "off", "LBADMIN_PROXY_SSL_HEADER": "X-Scheme: https"}, "-c", code)

    assert shipped.stdout.split() == ["True", "None", "28800", "False"], shipped.stderr
    assert proxied.stdout.split() == ["True", "('HTTP_X_SCHEME',", "'https')", "28800", "False"], proxied.stderr


def test_allowed_hosts_come_from_the_environment_when_set(tmp_path):
    env = production_env(tmp_path / "data", DJANGO_SETTINGS_MODULE="lbadmin.settings",
                         LBADMIN_ALLOWED_HOSTS="lb.example.com, 192.0.2.9")
    result = python(env, "-c", "import django; django.setup(); from django.conf import settings; "
                               "print(settings.ALLOWED_HOSTS)")

    assert result.stdout.strip() == "['lb.example.com', '192.0.2.9']"


def test_the_default_allowed_hosts_are_this_machine_never_everyone(settings):
    assert "*" not in settings.ALLOWED_HOSTS
    assert {"localhost", "127.0.0.1", "[::1]", socket.gethostname()} <= set(settings.ALLOWED_HOSTS)


@pytest.mark.django_db
def test_a_request_for_another_host_name_is_refused(client):
    assert client.get(reverse("login"), HTTP_HOST="lbadmin.evil.example").status_code == 400


@pytest.mark.django_db
def test_session_and_csrf_cookies_are_secure_httponly_and_lax(client, make_user):
    make_user("viewer", username="dora", password=PASSWORD)
    page = client.get(reverse("login"))
    logged_in = client.post(reverse("login"), {"username": "dora", "password": PASSWORD})

    assert logged_in.status_code == 302
    for cookie in (page.cookies["csrftoken"], logged_in.cookies["sessionid"]):
        assert cookie["secure"] is True and cookie["httponly"] is True and cookie["samesite"] == "Lax"
    assert logged_in.cookies["sessionid"]["max-age"] == 28800


@pytest.mark.django_db
@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_sent_to_https_and_https_carries_hsts(client):
    plain = client.get("/accounts/login/?next=/virtual/")
    secure = client.get("/accounts/login/", secure=True)

    assert plain.status_code == 301 and plain["Location"] == "https://testserver/accounts/login/?next=/virtual/"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_a_session_expires_after_the_idle_time_but_not_while_in_use(client, make_user, settings, monkeypatch):
    from lbadmin.middleware import IdleSessionMiddleware

    settings.SESSION_COOKIE_AGE = 2
    monkeypatch.setattr(IdleSessionMiddleware, "TOUCH_EVERY", 0)
    client.force_login(make_user("viewer"))
    control = reverse("control")

    for _ in range(4):  # in use for 4 s, longer than the idle time
        assert client.get(control).status_code == 200
        time.sleep(1)
    time.sleep(2.5)  # idle

    assert client.get(control).status_code == 302


@pytest.mark.django_db
def test_a_session_is_saved_at_most_once_a_minute(client, make_user):
    from django.contrib.sessions.models import Session

    client.force_login(make_user("viewer"))
    client.get(reverse("control"))
    saved = Session.objects.get().expire_date
    time.sleep(1.1)
    client.get(reverse("control"))

    assert Session.objects.get().expire_date == saved


# --- gunicorn serving TLS, as the Procfile starts it ------------------------------------------

def procfile_web() -> str:
    return dict(parse_procfile((ROOT / "Procfile").read_text()))["web"]


@contextmanager
def web_process(env: dict, log: Path):
    with log.open("wb") as out:
        process = subprocess.Popen(["sh", "-c", procfile_web()], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process, grace=15)


def answers_tls(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
            unverified().wrap_socket(raw).close()
        return True
    except OSError:
        return False


def unverified() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def printed_fingerprint(log: Path) -> str:
    line = next(line for line in log.read_text().splitlines() if "SHA-256 fingerprint" in line)
    return line.rsplit(" ", 1)[1]


@pytest.fixture(scope="module")
def tls_web(tmp_path_factory, redis_url):
    """gunicorn on a free port with a migrated data dir and one admin, as scripts/run leaves it."""
    data_dir = tmp_path_factory.mktemp("tls-web") / "data"
    port = free_port()
    env = production_env(data_dir, REDIS_URL=redis_url, LBADMIN_PORT=str(port), LBADMIN_ADMIN_USER="erin",
                         LBADMIN_ADMIN_PASSWORD=PASSWORD)
    for step in (["manage.py", "migrate", "--noinput", "--verbosity", "0"], ["manage.py", "bootstrap_admin"]):
        assert python(env, *step).returncode == 0
    log = data_dir.parent / "web.log"
    with web_process(env, log) as process:
        wait_for(lambda: answers_tls(port) or process.poll() is not None, timeout=60, what="gunicorn on TLS")
        assert process.poll() is None, log.read_text()
        yield {"port": port, "url": f"https://127.0.0.1:{port}", "log": log, "data_dir": data_dir}


def test_gunicorn_serves_the_login_page_with_the_certificate_it_printed(tls_web):
    connection = http.client.HTTPSConnection("127.0.0.1", tls_web["port"], context=unverified(), timeout=10)
    connection.request("GET", "/accounts/login/")
    response = connection.getresponse()
    served = hashlib.sha256(connection.sock.getpeercert(binary_form=True)).hexdigest()

    assert response.status == 200 and b'name="password"' in response.read()
    assert served == printed_fingerprint(tls_web["log"]).replace(":", "").lower()
    assert response.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains"


def test_plain_http_on_the_tls_port_gets_a_redirect_not_the_login_form(tls_web):
    port = tls_web["port"]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(f"GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert f"\r\nLocation: https://127.0.0.1:{port}/accounts/login/\r\n".encode() in answer
    assert b"password" not in answer and b"<form" not in answer
    assert answers_tls(port), "HTTPS still served after a plain HTTP request"


def test_a_browser_logs_in_over_https_and_gets_a_secure_session_cookie(tls_web, browser):  # noqa: F811
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(tls_web["url"] + "/virtual/")
        assert "/accounts/login/" in page.url and page.url.startswith("https://")
        page.fill("[name=username]", "erin")
        page.fill("[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url("**/virtual/")
        session = next(c for c in context.cookies() if c["name"] == "sessionid")
    finally:
        context.close()

    assert session["secure"] is True and session["httpOnly"] is True and session["sameSite"] == "Lax"


def test_gunicorn_refuses_to_start_with_a_key_that_is_not_the_certificates(tmp_path):
    from lbadmin.tls import ensure_certificate

    a = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "a")})
    b = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "b")})
    env = production_env(tmp_path / "data", LBADMIN_PORT=str(free_port()), LBADMIN_TLS_CERT=str(a.cert_file),
                         LBADMIN_TLS_KEY=str(b.key_file))
    with web_process(env, tmp_path / "web.log") as process:
        process.wait(timeout=60)

    assert process.returncode == 1
    assert f"error: LBADMIN_TLS_KEY: {b.key_file} is not the key of the certificate {a.cert_file}" in \
        (tmp_path / "web.log").read_text()


def test_gunicorn_logs_a_loosened_data_file_at_start(tmp_path):
    data_dir = tmp_path / "data"
    port = free_port()
    env = production_env(data_dir, LBADMIN_PORT=str(port))
    assert python(env, "-m", "lbadmin.tls").returncode == 0
    (data_dir / "tls" / "key.pem").chmod(0o644)
    log = tmp_path / "web.log"
    with web_process(env, log) as process:
        wait_for(lambda: "other users can read it" in log.read_text() or process.poll() is not None, timeout=60,
                 what="the warning")

    assert f"[WARNING] lbadmin: {data_dir / 'tls' / 'key.pem'} has mode 0644" in log.read_text()


def test_with_tls_off_gunicorn_serves_plain_http_on_loopback_only(tmp_path):
    env = production_env(tmp_path / "data", LBADMIN_TLS="off", LBADMIN_PORT="3999")
    result = python(env, "-c", "import lbadmin.gunicorn_conf as c; print(c.bind, hasattr(c, 'certfile'))")

    assert result.stdout.split("\n")[-2] == "['127.0.0.1:3999'] False", result.stdout + result.stderr


def test_a_connection_is_kept_open_across_a_live_panels_poll_interval(tls_web):
    # htmx polls every 2 s; a server closing idle connections at 2 s drops some polls.
    connection = http.client.HTTPSConnection("127.0.0.1", tls_web["port"], context=unverified(), timeout=10)
    connection.request("GET", "/accounts/login/")
    first = connection.getresponse()
    first.read()
    socket_before = connection.sock
    time.sleep(3)
    connection.request("GET", "/accounts/login/")
    second = connection.getresponse()
    assert second.status == 200 and connection.sock is socket_before
