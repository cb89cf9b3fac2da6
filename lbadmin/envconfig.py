"""Strict helpers that read settings from the environment.

A malformed value stops the process with ImproperlyConfigured instead of
being silently replaced by a default.
"""
import ipaddress
import os
import re
import secrets
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def envbool(name: str, default: str = "0") -> bool:
    value = os.environ.get(name, default).strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0/true/false/yes/no, got {value!r}")


def envint(name: str, default: str) -> int:
    value = os.environ.get(name, default)
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def envnetworks(name: str, default: str) -> list:
    """A comma-separated list of networks (CIDR; a bare address is its own /32 or /128)."""
    networks = []
    for item in envlist(name, default):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not a network ({exc})") from None
    return networks


def private_file(path: Path, data: bytes = b"") -> None:
    """Create path with mode 0600 from the start (a chmod after would leave a moment when
    others can read it). Refuses to overwrite: FileExistsError."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def secret_key(data_dir: Path) -> str:
    """DJANGO_SECRET_KEY, else a key generated once and kept in the data dir (mode 0600)."""
    if os.environ.get("DJANGO_SECRET_KEY"):
        return os.environ["DJANGO_SECRET_KEY"]
    key_file = data_dir / "secret_key"
    if not key_file.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            private_file(key_file, secrets.token_urlsafe(50).encode())
        except FileExistsError:
            pass  # another process (web, worker, beat start together) wrote it first
    return key_file.read_text().strip()


def proxy_ssl_header(value: str) -> tuple[str, str]:
    """"X-Forwarded-Proto: https" -> ("HTTP_X_FORWARDED_PROTO", "https"), for SECURE_PROXY_SSL_HEADER."""
    name, sep, expected = value.partition(":")
    name, expected = name.strip(), expected.strip()
    if not (sep and expected and re.fullmatch(r"[A-Za-z0-9-]+", name)):
        raise ImproperlyConfigured(f"LBADMIN_PROXY_SSL_HEADER must read 'Header-Name: value', got {value!r}")
    return "HTTP_" + name.upper().replace("-", "_"), expected


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name, default).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {'/'.join(choices)}, got {value!r}")
    return value
