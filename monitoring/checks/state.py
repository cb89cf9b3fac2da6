"""Per-real-server health state: rise/fall hysteresis and slow start.

Pure and small so the worker can keep one per real server in memory, or store its four
fields anywhere, and so the rules can be tested without a clock or a network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

STATES = ("unknown", "up", "down")


@dataclass(frozen=True, slots=True)
class Transition:
    old: str
    new: str
    reason: str


@dataclass(slots=True)
class HealthState:
    """Consecutive-result counting, as HAProxy's rise/fall.

    - up: `fall` failures in a row take it down (nanny took a server out on one).
    - down: `rise` successes in a row bring it up.
    - unknown (a server never checked, when the operator chose neither 'up' nor 'down'
      as its initial state): the first result decides.
    A result that agrees with the state resets the opposite count.
    """

    rise: int = 2
    fall: int = 3
    state: str = "up"
    successes: int = 0  # in a row, while down
    failures: int = 0  # in a row, while up

    def __post_init__(self) -> None:
        if self.rise < 1 or self.fall < 1:
            raise ValueError(f"rise and fall must be at least 1 (got {self.rise}, {self.fall})")
        if self.state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {self.state!r}")

    def record(self, ok: bool, reason: str = "") -> Transition | None:
        """Count one check result; a Transition when the state flips, else None."""
        old = self.state
        if old == "unknown":
            self.successes = self.failures = 0
            self.state = "up" if ok else "down"
            return Transition(old, self.state, _why("first check", reason))
        if ok:
            self.failures = 0
            if old == "up":
                return None
            self.successes += 1
            if self.successes < self.rise:
                return None
            count = self.successes
            self.successes = 0
            self.state = "up"
            return Transition(old, "up", _why(_in_a_row(count, "success"), reason))
        self.successes = 0
        if old == "down":
            return None
        self.failures += 1
        if self.failures < self.fall:
            return None
        count = self.failures
        self.failures = 0
        self.state = "down"
        return Transition(old, "down", _why(_in_a_row(count, "failure"), reason))


def _in_a_row(count: int, word: str) -> str:
    plural = "es" if word.endswith("s") else "s"
    return f"{count} {word}{plural if count != 1 else ''} in a row"


def _why(counted: str, reason: str) -> str:
    return f"{counted}: {reason}" if reason else counted


def slow_start_weight(weight: int, seconds_up: float, slow_start: float) -> int:
    """The weight to give a server `seconds_up` after it came up, ramping linearly to its
    configured weight over `slow_start` seconds (0 = no slow start).

    Never below 1 while ramping, since IPVS weight 0 means "send nothing" (quiesced);
    a configured weight of 0 stays 0. Nanny doubled the weight instead, which sends a
    cold server half its share after two steps."""
    if weight <= 0 or slow_start <= 0 or seconds_up >= slow_start:
        return max(weight, 0)
    fraction = max(seconds_up, 0.0) / slow_start
    return max(1, min(weight, math.ceil(weight * fraction)))
