"""Escapes, expect matching and HTTP status lists."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitoring.checks import CheckSpec, decode_escapes, parse_status_codes, run_check, spec_from_fields
from monitoring.checks.matching import ExpectMatcher, Verdict, status_accepted


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        (r"GET / HTTP/1.0\r\n\r\n", "GET / HTTP/1.0\r\n\r\n"),
        (r"a\tb", "a\tb"),
        (r"back\\slash", "back\\slash"),
        (r"\\n", "\\n"),  # an escaped backslash, then a plain n
        (r"\d stays", r"\d stays"),
        ("trailing\\", "trailing\\"),
    ],
)
def test_it_decodes_piranha_escapes(text: str, decoded: str) -> None:
    assert decode_escapes(text) == decoded


@given(st.text())
def test_escaping_backslashes_then_decoding_gives_the_text_back(text: str) -> None:
    assert decode_escapes(text.replace("\\", "\\\\")) == text


@pytest.mark.parametrize(
    ("expect", "regex", "received", "verdict"),
    [
        ("HTTP/1.1 200", False, b"HTTP/1.1 200 OK", Verdict.MATCHED),
        ("HTTP/1.1 200", False, b"HTTP/1.1 2", Verdict.NEED_MORE),
        ("HTTP/1.1 200", False, b"HTTP/1.1 5", Verdict.FAILED),
        ("HTTP/1.1 200", False, b"", Verdict.NEED_MORE),
        (r"220\r\n", False, b"220\r\n", Verdict.MATCHED),
        ("*", False, b"", Verdict.NEED_MORE),
        ("*", False, b"anything", Verdict.MATCHED),
        (r"^\+OK", True, b"+OK hello", Verdict.MATCHED),
        (r"^\+OK", True, b"-ERR", Verdict.NEED_MORE),  # a regex may match later text
        ("ready", True, b"220 server ready", Verdict.MATCHED),
    ],
)
def test_it_judges_replies_against_expect(expect: str, regex: bool, received: bytes, verdict: Verdict) -> None:
    assert ExpectMatcher(expect, regex).verdict(received) is verdict


@pytest.mark.parametrize(
    ("text", "ranges"),
    [
        ("200", ((200, 200),)),
        ("200-399", ((200, 399),)),
        ("200,301-302", ((200, 200), (301, 302))),
        (" 200 , 404 ", ((200, 200), (404, 404))),
    ],
)
def test_it_parses_status_lists(text: str, ranges: tuple) -> None:
    assert parse_status_codes(text) == ranges


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty item in status list ''"),
        ("200,", "empty item in status list '200,'"),
        ("abc", "'abc' is not a status code or range like 200-399"),
        ("399-200", "status range '399-200' runs backwards"),
        ("200-700", "status '200-700' is outside 100-599"),
    ],
)
def test_it_rejects_bad_status_lists_with_a_message_for_the_form(text: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        parse_status_codes(text)
    assert str(error.value) == message


def test_it_accepts_a_status_inside_any_range() -> None:
    ranges = parse_status_codes("200,301-302")
    assert [status_accepted(s, ranges) for s in (200, 201, 301, 302, 303)] == [True, False, True, True, False]


def test_it_builds_a_spec_from_any_object_with_health_check_fields() -> None:
    row = SimpleNamespace(check_type="https", http_path="/owa", http_body="utlook", verify_tls=False,
                          timeout=30, interval=30, rise=2, fall=3, sni=None)
    spec = spec_from_fields(row, host="192.0.2.21", port=443)
    assert spec == CheckSpec("https", host="192.0.2.21", port=443, http_path="/owa", http_body="utlook",
                             verify_tls=False, timeout=30.0)


def test_an_unknown_check_type_is_down_not_an_exception() -> None:
    result = asyncio.run(run_check(CheckSpec("smtp", host="127.0.0.1", port=25)))
    assert (result.ok, result.reason) == (False, "unknown check type 'smtp'")


def test_check_type_none_is_always_up() -> None:
    result = asyncio.run(run_check(CheckSpec("none")))
    assert (result.ok, result.reason) == (True, "no health check configured")


@pytest.mark.parametrize("timeout", [0, -1])
def test_a_timeout_that_is_not_positive_is_down(timeout: float) -> None:
    result = asyncio.run(run_check(CheckSpec("tcp", host="127.0.0.1", port=1, timeout=timeout)))
    assert not result.ok
    assert result.reason.startswith("timeout must be above 0 s")


def test_the_package_imports_nothing_from_django() -> None:
    code = (
        "import sys, monitoring.checks, monitoring.checks.cli, monitoring.checks.engine;"
        "print(any(name == 'django' or name.startswith('django.') for name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "False"
