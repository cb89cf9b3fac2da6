"""`probe`: run one health check by hand and print one line, `UP <ms> <reason>` or
`DOWN <ms> <reason>`. Exit status 0 up, 1 down, 2 bad usage.

The Django project wraps it as `python manage.py probe`; it also runs alone:
    python -m monitoring.checks.cli https --host 127.0.0.1 --path /owa --expect utlook --no-verify
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import sys
from typing import TextIO

from .matching import compiled_regex, parse_status_codes
from .reasons import result_line
from .runner import run_check
from .spec import CheckSpec

EXIT_UP, EXIT_DOWN, EXIT_USAGE = 0, 1, 2

TYPES = ("tcp", "send-expect", "udp", "http", "https", "program", "dns", "icmp")
DEFAULT_PORTS = {"http": 80, "https": 443, "dns": 53}
DEFAULT_TIMEOUT = 6.0  # the HealthCheck model's default

# Which options mean something for which type; any other is a mistake worth reporting.
_OPTIONS_FOR = {
    "send": {"send-expect", "udp"},
    "expect": {"send-expect", "udp", "program", "http", "https", "dns"},
    "regex": {"send-expect", "udp", "program", "http", "https", "dns"},
    "path": {"http", "https"},
    "status": {"http", "https"},
    "host_header": {"http", "https"},
    "method": {"http", "https"},
    "no_verify": {"https"},
    "sni": {"https"},
    "ca_file": {"https"},
    "program": {"program"},
    "dns_name": {"dns"},
    "dns_type": {"dns"},
}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="probe",
        description="Run one health check and print UP or DOWN, the time taken in ms, and why.",
        epilog="--expect is the reply prefix (send-expect, udp), the output (program), "
        "a body substring (http, https) or an answer (dns); --regex makes it a regex.",
    )
    parser.add_argument("type", choices=TYPES, type=lambda text: text.replace("_", "-"),
                        metavar="TYPE", help=f"one of: {', '.join(TYPES)}")
    parser.add_argument("--host", default="", help="real server address or name")
    parser.add_argument("--port", type=int, help="port (http 80, https 443, dns 53 by default)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS")
    parser.add_argument("--send", help=r"bytes to send; \r \n \t \\ escapes")
    parser.add_argument("--expect", help="what the reply must hold (see below); '*' = any reply")
    parser.add_argument("--regex", action="store_true", help="treat --expect as a regular expression")
    parser.add_argument("--path", help="HTTP path (default /)")
    parser.add_argument("--status", help="accepted HTTP statuses, e.g. 200-399 or 200,301-302")
    parser.add_argument("--host-header", dest="host_header", help="HTTP Host header")
    parser.add_argument("--method", help="HTTP method (default GET)")
    parser.add_argument("--no-verify", dest="no_verify", action="store_true",
                        help="do not verify the TLS certificate")
    parser.add_argument("--sni", help="TLS server name to send (default: the Host header's)")
    parser.add_argument("--ca-file", dest="ca_file", help="CA bundle to verify the certificate with")
    parser.add_argument("--program", help="command to run, '%%h' host and '%%p' port, no shell")
    parser.add_argument("--dns-name", dest="dns_name", help="name to query")
    parser.add_argument("--dns-type", dest="dns_type", help="record type (default A)")
    return parser


def _spec_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> CheckSpec:
    """The CheckSpec for the arguments; parser.error (exit 2) for anything inconsistent."""
    kind = args.type
    for option, kinds in _OPTIONS_FOR.items():
        value = getattr(args, option)
        if value not in (None, False) and kind not in kinds:
            flag = "--" + option.replace("_", "-")
            parser.error(f"{flag} does not apply to {kind} checks")
    if kind != "program" and not args.host:
        parser.error(f"--host is required for {kind} checks")
    port = args.port if args.port is not None else DEFAULT_PORTS.get(kind)
    if kind in ("tcp", "send-expect", "udp") and port is None:
        parser.error(f"--port is required for {kind} checks")
    if port is not None and not 0 < port < 65536:
        parser.error(f"--port {port} is not 1-65535")
    if not args.timeout > 0:
        parser.error("--timeout must be above 0")
    if kind == "program":
        _check_program_args(parser, args)
    if kind == "dns" and not args.dns_name:
        parser.error("--dns-name is required for dns checks")
    if args.status is not None:
        try:
            parse_status_codes(args.status)
        except ValueError as exc:
            parser.error(f"--status: {exc}")
    if args.regex and args.expect:
        try:
            compiled_regex(args.expect)
        except re.error as exc:
            parser.error(f"--expect is not a valid regex: {exc}")

    expect = args.expect or ""
    values: dict[str, object] = dict(
        check_type=kind.replace("-", "_"),
        host=args.host,
        port=port or 0,
        timeout=args.timeout,
        use_regex=args.regex,
        send=args.send or "",
        send_program=args.program or "",
        verify_tls=not args.no_verify,
        sni=args.sni or "",
        ca_file=args.ca_file or "",
        http_method=args.method or "GET",
        http_path=args.path or "/",
        http_host=args.host_header or "",
        http_status=args.status or "200-399",
        dns_name=args.dns_name or "",
        dns_type=args.dns_type or "A",
        # Run by hand, by someone with a shell who could run the program directly: no
        # directory rule and no change of user. The clean environment, cwd /, umask and
        # timeout still apply. The checker's own rules are in program_check's docstring.
        program_dir=None,
        program_user=None,
    )
    if kind in ("http", "https"):
        values["http_body"] = expect
    elif kind == "dns":
        values["dns_expect"] = expect
    else:
        values["expect"] = expect
    return CheckSpec(**values)  # type: ignore[arg-type]


def _check_program_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not args.program:
        parser.error("--program is required for program checks")
    if "%h" in args.program and not args.host:
        parser.error("--program uses %h, so --host is required")
    if "%p" in args.program and args.port is None:
        parser.error("--program uses %p, so --port is required")


def probe_main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    parser = _build_parser()
    try:
        with contextlib.redirect_stderr(stderr or sys.stderr), contextlib.redirect_stdout(out):
            args = parser.parse_args(argv)
            spec = _spec_from_args(parser, args)
    except SystemExit as exc:  # argparse: usage errors exit 2, --help exits 0
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        result = asyncio.run(run_check(spec))
    except KeyboardInterrupt:
        return 130
    print(result_line(result.ok, result.latency_ms, result.reason), file=out)
    return EXIT_UP if result.ok else EXIT_DOWN


if __name__ == "__main__":
    sys.exit(probe_main(sys.argv[1:]))
