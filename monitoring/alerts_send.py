"""Sending one message: a webhook POST (JSON, HMAC-SHA256 signed, short timeout, no
redirects followed) or a mail through the SMTP server in settings.ALERT_SMTP (Django's
SMTP backend). Each returns a line for the delivery's log or raises with the reason."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

TIMEOUT = 5  # seconds: a slow receiver delays nothing else for long
SIGNATURE_HEADER = "X-Lbadmin-Signature"
TIMESTAMP_HEADER = "X-Lbadmin-Timestamp"


class SendError(Exception):
    """The receiver answered, but not with success (a 4xx/5xx, a redirect)."""


def url_problem(url: str) -> str:
    """Why url cannot be a webhook ("" when it can)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        return f"not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return "only http:// and https:// URLs"
    if not parts.hostname:
        return "the URL names no host"
    return ""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """sha256=<hex HMAC-SHA256 of "<timestamp>." + body>: the timestamp is signed too, so
    a receiver that refuses old timestamps refuses replays."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise SendError(f"HTTP {code}: redirected to {newurl}; alerts do not follow redirects")


_opener = urllib.request.build_opener(_NoRedirects)


def post_webhook(url: str, secret: str, payload: dict) -> str:
    problem = url_problem(url)
    if problem:
        raise SendError(problem)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "lbadmin-alerts",
        TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)})
    try:
        with _opener.open(request, timeout=TIMEOUT) as response:
            return f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        raise SendError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise SendError(f"cannot connect: {exc.reason}") from None


def send_mail(recipients: list[str], subject: str, body: str) -> str:
    smtp = settings.ALERT_SMTP
    if not recipients:
        raise SendError("no recipient addresses")
    connection = get_connection("django.core.mail.backends.smtp.EmailBackend", host=smtp["host"],
                                port=smtp["port"], username=smtp["user"] or None, password=smtp["password"] or None,
                                use_tls=smtp["security"] == "starttls", use_ssl=smtp["security"] == "ssl",
                                timeout=TIMEOUT, fail_silently=False)
    EmailMessage(subject, body, smtp["from"], recipients, connection=connection).send()
    return f"accepted by {smtp['host']}:{smtp['port']} for {len(recipients)} recipient(s)"
