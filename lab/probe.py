"""lab-probe's output as data (the prober itself: lab/c/lab-probe.c, in the guest).

Each line is "<unix time with ms> ok|fail|end <detail>": for `http` the detail of an ok
line is the real server's body (its name), for `hold` the echo's round trip in ms; a
`hold` run ends with "end survived N" or "end broken N".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeLine:
    at: float  # unix time the attempt started, ms precision
    status: str  # "ok", "fail" or "end"
    detail: str

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class Outage:
    last_ok: float  # the last good attempt before the failures
    first_ok: float  # the first good attempt after them
    failures: int

    @property
    def seconds(self) -> float:
        """How long nothing answered, to within one probe interval."""
        return self.first_ok - self.last_ok


def parse_probe(text: str) -> list[ProbeLine]:
    lines = []
    for raw in text.splitlines():
        at, _, rest = raw.partition(" ")
        status, _, detail = rest.partition(" ")
        try:
            lines.append(ProbeLine(float(at), status, detail))
        except ValueError:
            raise ValueError(f"not a lab-probe line: {raw!r}") from None
    return lines


def outages(lines: list[ProbeLine]) -> list[Outage]:
    """Every run of failed attempts between two good ones, in order.

    Failures before the first good attempt or after the last one are not an outage that
    ended, so they are not counted: callers check that the run started and ended well.
    """
    found, last_ok, failures = [], None, 0
    for line in lines:
        if line.status == "ok":
            if last_ok is not None and failures:
                found.append(Outage(last_ok, line.at, failures))
            last_ok, failures = line.at, 0
        elif line.status == "fail":
            failures += 1
    return found
