"""The live snapshot's reader (orjson) gives what json gave for everything the poller writes."""
from __future__ import annotations

import json
import math

import pytest

from monitoring.live_poller import parse_snapshot


def test_it_reads_a_snapshot_exactly_as_json_does() -> None:
    snapshot = {"ok": True, "time": 1764650000.123456, "director": "lvs-ä\"1\\", "skipped": 0, "error": None,
                "services": [{"key": "TCP 10.0.0.1:443", "scheduler": "wlc", "persistent": 300,
                              "destinations": [{"id": "10.1.0.1:443", "weight": 1, "active": 2 ** 40,
                                                "rate": 0.5, "bytes_out": 12_345_678_901_234}]}],
                "table": "-A -t 10.0.0.1:443 -s wlc\n-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 1\n"}
    text = json.dumps(snapshot)
    assert parse_snapshot(text) == json.loads(text) == snapshot
    assert parse_snapshot(text.encode()) == snapshot


def test_a_snapshot_json_wrote_with_nan_or_infinity_is_still_read() -> None:
    parsed = parse_snapshot(json.dumps({"rate": float("nan"), "peak": float("inf")}))
    assert math.isnan(parsed["rate"]) and parsed["peak"] == float("inf")


@pytest.mark.parametrize("raw", ["", "{", "not json", b"\xff\xfe"])
def test_what_is_not_json_raises_value_error(raw: str | bytes) -> None:
    with pytest.raises(ValueError):
        parse_snapshot(raw)
