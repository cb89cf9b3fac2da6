"""Matching replies: Piranha-style escapes, expect strings, HTTP status lists."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from .reasons import excerpt
from .spec import Outcome

# A reply is searched for expect within this many bytes; a server streaming more than
# this without matching is not going to match.
MAX_REPLY_BYTES = 64 * 1024

_ESCAPES = {"r": "\r", "n": "\n", "t": "\t", "\\": "\\"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def decode_escapes(text: str) -> str:
    r"""Turn \r \n \t \\ into their characters, as nanny did; any other backslash stays."""
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


class Verdict(Enum):
    MATCHED = "matched"
    FAILED = "failed"  # can never match, whatever arrives next
    NEED_MORE = "need more"  # might still match; keep reading


@dataclass(frozen=True)
class ExpectMatcher:
    """Decides, as bytes arrive, whether a reply meets `expect`.

    - '*' accepts any reply of at least one byte.
    - plain expect: the reply must start with it (after escapes). Decided as soon as the
      bytes seen differ from it, or it has arrived whole; so a slow server sending the
      expected string in pieces passes, unlike nanny's single read.
    - regex (use_regex): searched in everything received so far. The regex is used as
      written: the regex engine already reads \r \n \t, and decoding \\ first would
      change what the pattern means.
    """

    expect: str
    use_regex: bool = False
    _wanted: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.use_regex and self.expect != "*":
            compiled_regex(self.expect)  # raise re.error now, not per reply
        object.__setattr__(self, "_wanted", decode_escapes(self.expect).encode())

    @property
    def any_reply(self) -> bool:
        return self.expect == "*"

    def verdict(self, received: bytes) -> Verdict:
        if self.any_reply:
            return Verdict.MATCHED if received else Verdict.NEED_MORE
        if self.use_regex:
            return Verdict.MATCHED if compiled_regex(self.expect).search(received) else Verdict.NEED_MORE
        wanted = self._wanted
        if received[: len(wanted)] != wanted[: len(received)]:
            return Verdict.FAILED
        return Verdict.MATCHED if len(received) >= len(wanted) else Verdict.NEED_MORE

    def shown(self, received: bytes) -> str:
        """What to quote from a non-matching reply: for a prefix, the part compared with
        expect (so 'HTTP/1.1 200' against 'HTTP/1.1 500' reads clearly); otherwise the
        start of the reply."""
        if not self.use_regex and not self.any_reply:
            width = max(len(self._wanted), 1)
            return excerpt(received[:width], limit=max(width, 60))
        return excerpt(received)


def judge_reply(matcher: ExpectMatcher, received: bytes | bytearray) -> Outcome | None:
    """The outcome once the reply so far decides it; None to keep reading."""
    verdict = matcher.verdict(bytes(received))
    if verdict is Verdict.MATCHED:
        return True, "got a reply" if matcher.any_reply else "expect matched"
    if verdict is Verdict.FAILED:
        return False, f"expect not matched: got {matcher.shown(received)}"
    if len(received) >= MAX_REPLY_BYTES:
        return False, f"expect not matched in the first {MAX_REPLY_BYTES} bytes"
    return None


_REGEX_CACHE: dict[str, re.Pattern[bytes]] = {}


def compiled_regex(pattern: str) -> re.Pattern[bytes]:
    compiled = _REGEX_CACHE.get(pattern)
    if compiled is None:
        if len(_REGEX_CACHE) > 1024:
            _REGEX_CACHE.clear()
        compiled = _REGEX_CACHE[pattern] = re.compile(pattern.encode())
    return compiled


def regex_search(pattern: str, data: bytes) -> bool:
    return compiled_regex(pattern).search(data) is not None


# The accepted-status syntax is virtualservers.formats.validate.validate_http_status's:
# items split on ',', each stripped, three ASCII digits or two joined by '-', 100 to 599.
# This package imports nothing from the apps; tests/test_rules_single_source.py proves
# that both accept exactly the same lists.
_STATUS_ITEM_RE = re.compile(r"([0-9]{3})(?:-([0-9]{3}))?")


def parse_status_codes(text: str) -> tuple[tuple[int, int], ...]:
    """'200-399' or '200,301-302' -> ((200, 399),) or ((200, 200), (301, 302)).

    Raises ValueError with a message fit for a form field."""
    ranges: list[tuple[int, int]] = []
    for part in (item.strip() for item in text.split(",")):
        if not part:
            raise ValueError(f"empty item in status list {text!r}")
        match = _STATUS_ITEM_RE.fullmatch(part)
        if not match:
            raise ValueError(f"{part!r} is not a status code or range like 200-399")
        low = int(match.group(1))
        high = int(match.group(2) or match.group(1))
        if not (100 <= low <= 599 and 100 <= high <= 599):
            raise ValueError(f"status {part!r} is outside 100-599")
        if low > high:
            raise ValueError(f"status range {part!r} runs backwards")
        ranges.append((low, high))
    return tuple(ranges)


def status_accepted(status: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= status <= high for low, high in ranges)
