"""The web port's certificate (lbadmin/tls.py): created once, private, named for this host;
an operator's pair checked before gunicorn starts; plain HTTP answered with a redirect."""
import ipaddress
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from lbadmin.tls import TLSConfigError, certificate_files, check_pair, ensure_certificate, plain_http_answer

ROOT = Path(__file__).resolve().parent.parent


def sans(cert_file: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_first_start_creates_a_self_signed_pair_with_a_private_key(tmp_path):
    certificate = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})

    assert certificate.created and not certificate.own
    assert certificate.cert_file == tmp_path / "tls" / "cert.pem"
    assert mode(certificate.key_file) == 0o600
    assert mode(tmp_path / "tls") == 0o700
    assert len(certificate.fingerprint.split(":")) == 32


def test_it_names_localhost_loopback_this_host_and_the_allowed_hosts(tmp_path):
    environ = {"LBADMIN_DATA_DIR": str(tmp_path), "LBADMIN_ALLOWED_HOSTS": "lb.example.com, .lbs.example, 192.0.2.9"}

    dns, ips = sans(ensure_certificate(environ).cert_file)

    assert {"localhost", socket.gethostname(), "lb.example.com", "*.lbs.example"} <= dns
    assert {"127.0.0.1", "::1", "192.0.2.9"} <= ips
    assert all(ipaddress.ip_address(ip) for ip in ips)


def test_the_next_start_reuses_the_same_certificate(tmp_path):
    first = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})
    second = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})

    assert not second.created and second.fingerprint == first.fingerprint


def test_the_fingerprint_is_the_sha256_openssl_prints(tmp_path):
    certificate = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})
    openssl = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(certificate.cert_file)],
                             capture_output=True, text=True, check=True)

    assert openssl.stdout.strip().split("=", 1)[1] == certificate.fingerprint


def test_it_uses_the_operators_pair_when_both_are_set(tmp_path):
    own = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "elsewhere")})
    environ = {"LBADMIN_DATA_DIR": str(tmp_path / "data"), "LBADMIN_TLS_CERT": str(own.cert_file),
               "LBADMIN_TLS_KEY": str(own.key_file)}

    certificate = ensure_certificate(environ)

    assert certificate.own and certificate.fingerprint == own.fingerprint
    assert not (tmp_path / "data" / "tls").exists()


def test_it_refuses_a_key_that_is_not_the_certificates(tmp_path):
    a = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "a")})
    b = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path / "b")})

    with pytest.raises(TLSConfigError, match="LBADMIN_TLS_KEY: .* is not the key of the certificate"):
        check_pair(a.cert_file, b.key_file)


def test_it_refuses_a_missing_or_unreadable_file_with_its_name(tmp_path):
    a = ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})

    with pytest.raises(TLSConfigError, match=r"LBADMIN_TLS_CERT: cannot read the certificate .*nope\.pem"):
        check_pair(tmp_path / "nope.pem", a.key_file)
    with pytest.raises(TLSConfigError, match="LBADMIN_TLS_KEY: .* is not a PEM private key"):
        check_pair(a.cert_file, a.cert_file)
    with pytest.raises(TLSConfigError, match="LBADMIN_TLS_CERT: .* is not a PEM certificate"):
        check_pair(a.key_file, a.key_file)


def test_it_refuses_one_of_the_two_variables_alone(tmp_path):
    with pytest.raises(TLSConfigError, match="set both LBADMIN_TLS_CERT and LBADMIN_TLS_KEY"):
        certificate_files({"LBADMIN_TLS_CERT": str(tmp_path / "cert.pem")})


def test_it_refuses_a_self_signed_pair_with_one_half_missing(tmp_path):
    ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)}).key_file.unlink()

    with pytest.raises(TLSConfigError, match="delete that folder"):
        ensure_certificate({"LBADMIN_DATA_DIR": str(tmp_path)})


def test_python_m_lbadmin_tls_prints_the_fingerprint_or_one_error_line(tmp_path):
    env = {**os.environ, "LBADMIN_DATA_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    created = subprocess.run([sys.executable, "-m", "lbadmin.tls"], cwd=ROOT, env=env, capture_output=True, text=True)
    env["LBADMIN_TLS_CERT"] = str(tmp_path / "missing.pem")
    refused = subprocess.run([sys.executable, "-m", "lbadmin.tls"], cwd=ROOT, env=env, capture_output=True, text=True)

    assert created.returncode == 0 and "a new self-signed certificate" in created.stdout
    assert "SHA-256 fingerprint " in created.stdout
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: set both LBADMIN_TLS_CERT and LBADMIN_TLS_KEY (PEM files), or neither for a self-signed "
        "certificate in the data dir"]


def test_plain_http_gets_a_redirect_to_the_same_host_and_path():
    answer = plain_http_answer(b"GET /virtual/?page=2 HTTP/1.1\r\nHost: lb1.example:3636\r\nAccept: */*", 3636)

    assert answer.startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert b"\r\nLocation: https://lb1.example:3636/virtual/?page=2\r\n" in answer


def test_the_redirect_keeps_the_port_the_client_connected_to():
    answer = plain_http_answer(b"GET / HTTP/1.1\r\nHost: [2001:db8::1]", 3636)

    assert b"\r\nLocation: https://[2001:db8::1]:3636/\r\n" in answer


@pytest.mark.parametrize("head", [
    b"GET / HTTP/1.1\r\nHost: evil.example\r\nX: y\r\n".replace(b"evil.example", b"a\"b"),
    b"GET / HTTP/1.1\r\nHost: a.example/\\@evil",
    b"GET //evil.example/%0d%0aSet-Cookie:x HTTP/1.1\r\nHost: a.example".replace(b"//evil.example", b"/ x"),
    b"GET http://evil.example/ HTTP/1.1\r\nHost: a.example",
    b"GET / HTTP/1.1",
    b"\x00\x01garbage",
], ids=["quote-in-host", "path-in-host", "space-in-path", "absolute-form", "no-host", "garbage"])
def test_a_host_or_path_it_would_not_repeat_gets_400_without_a_location(head):
    answer = plain_http_answer(head, 3636)

    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Location" not in answer
