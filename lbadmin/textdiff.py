"""How the audit log shows a value that holds several lines (an IPVS table, a
keepalived.conf): line by line, the removed ones marked -, the added ones +, the rest as
context; not as one long line or a Python list."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Difference:
    """One field of an audit entry: its values, and for text of several lines the lines."""
    name: str
    before: object
    after: object
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)

    @property
    def removed(self) -> int:
        return sum(1 for sign, _ in self.lines if sign == "-")

    @property
    def added(self) -> int:
        return sum(1 for sign, _ in self.lines if sign == "+")


def as_lines(value) -> list[str] | None:
    """The lines of a list of strings or of a string of several lines; None for anything else."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    if isinstance(value, str) and "\n" in value.strip("\n"):
        return value.splitlines()
    return None


def line_difference(before, after) -> list[tuple[str, str]]:
    """Every line of both values, each marked removed (-), added (+) or kept ( )."""
    old, new = as_lines(before) or [], as_lines(after) or []
    rows: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        if tag == "equal":
            rows.extend((" ", line) for line in old[i1:i2])
        else:
            rows.extend(("-", line) for line in old[i1:i2])
            rows.extend(("+", line) for line in new[j1:j2])
    return rows


def differences(changes: list[tuple[str, object, object]]) -> list[Difference]:
    """(field, before, after) as Differences, with lines where a value is text of several lines."""
    out = []
    for name, before, after in changes:
        lined = (as_lines(before) is not None or before is None) and (as_lines(after) is not None or after is None)
        out.append(Difference(name, before, after, line_difference(before, after) if lined and
                              (before is not None or after is not None) else []))
    return out
