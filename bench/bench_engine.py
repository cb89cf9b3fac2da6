"""Reconcile's pure hot path at the size the design names: 1,000 services x 8
destinations. Prints its figures; asserts nothing about time (that is not a test).

    python bench/bench_engine.py
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import dataclasses
import time

from virtualservers.ipvs import Destination, Service, ServiceKey, Table, parse_save, plan, render
from virtualservers.ipvs import addresses


def build(services: int, per_service: int = 8) -> Table:
    return Table(
        Service(ServiceKey("tcp", f"192.0.{i // 250}.{i % 250 + 1}", 80),
                persistent=300 if i % 3 == 0 else None,
                netmask="255.255.255.0" if i % 6 == 0 else None,
                destinations=[Destination(f"10.{i // 200}.{i % 200}.{j + 1}", 80, "masq", j)
                              for j in range(per_service)])
        for i in range(services))


def best_ms(function, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        # Cold address caches, as for a reconcile that meets a table for the first time.
        addresses.normalize_address.cache_clear()
        addresses.address_order.cache_clear()
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return min(times)


def drifted(table: Table) -> Table:
    """Every 7th service loses a server, every 9th changes every weight."""
    changed = []
    for n, service in enumerate(table.sorted()):
        dests = service.destinations.sorted()
        if n % 7 == 0:
            dests = dests[:-1]
        if n % 9 == 0:
            dests = [dataclasses.replace(d, weight=d.weight + 1) for d in dests]
        changed.append(service.with_destinations(dests))
    return Table(changed)


def thousand_services():
    table = build(1000)
    text = render(table)
    assert text.count("\n") == 9000
    live = parse_save(text)
    desired = drifted(table)

    parse = best_ms(lambda: parse_save(text))
    same = best_ms(lambda: plan(live, table))
    drift = best_ms(lambda: plan(live, desired))
    full = best_ms(lambda: plan(Table(), table))
    print(f"\n1000x8: parse_save {parse:.0f} ms, plan unchanged {same:.0f} ms, "
          f"plan drift {drift:.0f} ms ({len(plan(live, desired))} commands), "
          f"plan from empty {full:.0f} ms")


def growth():
    small, large = build(500), build(2000)
    small_text, large_text = render(small), render(large)
    parse_ratio = best_ms(lambda: parse_save(large_text)) / best_ms(lambda: parse_save(small_text))
    plan_ratio = best_ms(lambda: plan(Table(), large)) / best_ms(lambda: plan(Table(), small))
    print(f"\n4x the table: parse x{parse_ratio:.1f}, plan x{plan_ratio:.1f}")
    print("(linear growth would be x4, quadratic x16)")


if __name__ == "__main__":
    thousand_services()
    growth()
