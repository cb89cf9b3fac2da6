"""A director's kernel as text for the live poller (bench/fake_kernel.py) and one poll of it
through the product's poller, for tests."""
from __future__ import annotations

from bench.fake_kernel import Dest, FakeKernel, Service, save_text

__all__ = ["Dest", "FakeKernel", "Service", "poll", "save_text"]


def poll(monkeypatch, director, services: list[Service]) -> dict:
    """One live poll of `director` whose kernel holds `services`: the snapshot in Redis."""
    from monitoring import live_poller

    monkeypatch.setattr(live_poller, "executor_for", lambda d: FakeKernel(services))
    return live_poller.poll_director(director)
