"""The web port's certificate: the operator's own (LBADMIN_TLS_CERT / LBADMIN_TLS_KEY), or
a self-signed one created once in the data dir. No app and no Django settings here:
gunicorn's configuration (lbadmin/gunicorn_conf.py) uses it before Django is set up.

`python -m lbadmin.tls` makes sure the certificate exists and prints its fingerprint
(scripts/run and docker-compose's migrate run it before the web process starts).
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import re
import socket
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.core.exceptions import ImproperlyConfigured

from lbadmin.envconfig import envbool, private_file

SELF_SIGNED_DAYS = 3650  # pinned by its fingerprint, not trusted through a CA: no yearly renewal


class TLSConfigError(ImproperlyConfigured):
    """A certificate or key the web process cannot serve; the message says what to do."""


@dataclass(frozen=True)
class Certificate:
    cert_file: Path
    key_file: Path
    fingerprint: str  # SHA-256 of the DER certificate, AB:CD:... as browsers and openssl show it
    created: bool  # generated just now
    own: bool  # the operator's (LBADMIN_TLS_CERT), not the self-signed one


def tls_enabled() -> bool:
    """LBADMIN_TLS, default on; off serves plain HTTP on loopback for a TLS proxy in front.
    settings.TLS reads it through this function too, so the two cannot disagree."""
    return envbool("LBADMIN_TLS", "on")


def data_dir(environ=os.environ) -> Path:
    return Path(environ.get("LBADMIN_DATA_DIR") or Path(__file__).resolve().parent.parent / "data").resolve()


def local_names() -> list[str]:
    """This machine as a browser may name it: loopback, its host names and its addresses."""
    names = ["localhost", "127.0.0.1", "::1"]
    for name in (socket.gethostname(), socket.getfqdn()):
        if name and name not in names:
            names.append(name)
    for address in local_addresses():
        if address not in names:
            names.append(address)
    return names


def allowed_host_names() -> list[str]:
    """local_names() as ALLOWED_HOSTS spells them (an IPv6 address in brackets)."""
    return [f"[{name}]" if ":" in name else name for name in local_names()]


def local_addresses() -> list[str]:
    import psutil

    found = []
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family in (socket.AF_INET, socket.AF_INET6) and "%" not in entry.address:
                found.append(entry.address)
    return found


def configured_names(environ=os.environ) -> list[str]:
    """LBADMIN_ALLOWED_HOSTS as written (Django's patterns: `.example.com` is a whole domain)."""
    return [item.strip() for item in environ.get("LBADMIN_ALLOWED_HOSTS", "").split(",") if item.strip()]


def subject_alt_names(names: list[str]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        name = name.strip("[]")
        if name in ("", "*"):
            continue
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName("*" + name if name.startswith(".") else name))
    return entries


def create_self_signed(cert_file: Path, key_file: Path, names: list[str]) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([
        x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname()[:64] or "localhost"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lbadmin (self-signed)"),
    ])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(subject_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Key first: a certificate without its key would be taken for a finished pair.
    private_file(key_file, key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _read(path: Path, what: str, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise TLSConfigError(f"{variable}: cannot read the {what} {path}: {exc.strerror}") from None


def check_pair(cert_file: Path, key_file: Path, cert_variable: str = "LBADMIN_TLS_CERT",
               key_variable: str = "LBADMIN_TLS_KEY") -> str:
    """The certificate's fingerprint if cert and key are readable PEM and belong together."""
    cert_pem = _read(cert_file, "certificate", cert_variable)
    key_pem = _read(key_file, "private key", key_variable)
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise TLSConfigError(f"{cert_variable}: {cert_file} is not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise TLSConfigError(f"{key_variable}: {key_file} is encrypted; give the key without a passphrase "
                             "(readable by lbadmin's user only, mode 0600)") from None
    except ValueError:
        raise TLSConfigError(f"{key_variable}: {key_file} is not a PEM private key") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
        raise TLSConfigError(f"{key_variable}: {key_file} is not the key of the certificate {cert_file}")
    return fingerprint(cert)


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex(":").upper()


def certificate_files(environ=os.environ) -> tuple[Path, Path, bool]:
    """(certificate, key, the operator's own?): LBADMIN_TLS_CERT / LBADMIN_TLS_KEY, else the
    self-signed pair's place in the data dir."""
    cert_env, key_env = environ.get("LBADMIN_TLS_CERT", ""), environ.get("LBADMIN_TLS_KEY", "")
    if cert_env or key_env:
        if not (cert_env and key_env):
            raise TLSConfigError("set both LBADMIN_TLS_CERT and LBADMIN_TLS_KEY (PEM files), or neither "
                                 "for a self-signed certificate in the data dir")
        return Path(cert_env), Path(key_env), True
    folder = data_dir(environ) / "tls"
    return folder / "cert.pem", folder / "key.pem", False


def ensure_certificate(environ=os.environ) -> Certificate:
    """The operator's certificate, checked; else the self-signed one, created on first use."""
    cert_file, key_file, own = certificate_files(environ)
    if own:
        return Certificate(cert_file, key_file, check_pair(cert_file, key_file), created=False, own=True)
    created = False
    if not key_file.exists() and not cert_file.exists():
        create_self_signed(cert_file, key_file, local_names() + configured_names(environ))
        created = True
    elif not (key_file.exists() and cert_file.exists()):
        raise TLSConfigError(f"{cert_file.parent} holds only one of {cert_file.name} and {key_file.name}: "
                             "delete that folder to create a new self-signed pair")
    found = check_pair(cert_file, key_file, "self-signed certificate", "self-signed key")
    return Certificate(cert_file, key_file, found, created=created, own=False)


def describe(certificate: Certificate) -> str:
    if certificate.own:
        origin = "the operator's certificate"
    elif certificate.created:
        origin = "a new self-signed certificate"
    else:
        origin = "the self-signed certificate"
    return f"HTTPS with {origin} {certificate.cert_file}, SHA-256 fingerprint {certificate.fingerprint}"


def main() -> int:
    try:
        if not tls_enabled():
            print("LBADMIN_TLS=off: plain HTTP on 127.0.0.1 only, for a TLS proxy on this machine")
            return 0
        print(describe(ensure_certificate()))
    except ImproperlyConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())


# A browser sent to http://host:3636/ would otherwise get an empty reply (gunicorn fails
# the TLS handshake and closes): answer plain HTTP on the TLS port with a redirect instead.
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")
_TARGET = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*")
TLS_HANDSHAKE = 0x16  # the first byte of every TLS connection (a handshake record)


def plain_http_answer(head: bytes, port: int) -> bytes:
    """The answer to a plain HTTP request head: a redirect to the same host and path over
    HTTPS, or 400 when the Host header or the path is not one to repeat back."""
    lines = head.split(b"\r\n")
    request_line = lines[0].decode("latin-1").split(" ")
    target = request_line[1] if len(request_line) == 3 else ""
    host = ""
    for line in lines[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        if name.strip().lower() == "host":
            host = value.strip()
    if _HOST.fullmatch(host) and _TARGET.fullmatch(target):
        if not re.search(r":[0-9]+$", host):
            host = f"{host}:{port}"
        location = f"https://{host}{target}"
        body = f"This port speaks HTTPS only: {location}\n"
        status = "301 Moved Permanently"
        headers = f"Location: {location}\r\n"
    else:
        body = "This port speaks HTTPS only: use https://\n"
        status = "400 Bad Request"
        headers = ""
    return (f"HTTP/1.1 {status}\r\n{headers}Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}").encode("latin-1")


class RedirectPlainHttp:
    """Wraps gunicorn's SSLContext: a connection whose first byte is not a TLS handshake gets
    plain_http_answer() and is closed; every other one is wrapped as before."""

    HEAD_LIMIT = 8192
    HEAD_TIMEOUT = 5.0

    def __init__(self, context: ssl.SSLContext):
        self.context = context

    def __getattr__(self, name):
        return getattr(self.context, name)

    def wrap_socket(self, sock: socket.socket, **kwargs):
        first = sock.recv(1, socket.MSG_PEEK)
        if first and first[0] != TLS_HANDSHAKE:
            self._answer(sock)
            # gunicorn closes quietly on this one (an EOF during the handshake).
            raise ssl.SSLError(ssl.SSL_ERROR_EOF, "plain HTTP on the HTTPS port: redirected")
        return self.context.wrap_socket(sock, **kwargs)

    def _answer(self, sock: socket.socket) -> None:
        head = b""
        sock.settimeout(self.HEAD_TIMEOUT)
        try:
            while b"\r\n\r\n" not in head and len(head) < self.HEAD_LIMIT:
                chunk = sock.recv(self.HEAD_LIMIT - len(head))
                if not chunk:
                    break
                head += chunk
            sock.sendall(plain_http_answer(head.split(b"\r\n\r\n", 1)[0], sock.getsockname()[1]))
        except OSError:
            pass  # the client went away or stalled: nothing to answer
