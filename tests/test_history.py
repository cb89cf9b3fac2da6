"""History of connections and traffic: sampled from the live snapshot into Redis, written out
to the database, downsampled and pruned within a known bound, and drawn as SVG with its gaps
(monitoring/history.py, history_store.py, graphs.py)."""
import math
import time

import pytest

from lbadmin.redis_client import get_redis
from monitoring import graphs, history
from monitoring.history_store import (COARSE_CHUNK, COARSE_COLUMNS, COARSE_MAX_CHUNKS, COARSE_STEP, FIELDS,
                                      FINE_CHUNK, FINE_CHUNK_BYTES, FINE_MAX_CHUNKS, FINE_SLOTS, FINE_STEP, NAN,
                                      SERIES_MAX_BYTES, bucket_avg, bucket_max, chunk_start, decode,
                                      downsample_fine, empty, encode)
from monitoring.live_poller import SNAPSHOT_KEY
from monitoring.models import HistoryChunk
from tests import factories
from tests.metrics_kernel import Dest, Service, poll

# Pure parts ------------------------------------------------------------------------------


def test_a_chunk_keeps_its_numbers_and_its_gaps():
    columns = empty(FINE_SLOTS, FIELDS)
    columns["active"][3], columns["inbps"][3] = 12, 1_234_567.0
    data = encode(columns, FIELDS)
    back = decode(data, FIELDS)
    assert back["active"][3] == 12 and back["inbps"][3] == 1_234_567.0
    assert math.isnan(back["active"][2]) and math.isnan(back["cps"][3])
    assert len(data) <= FINE_CHUNK_BYTES + 1  # never more than raw and its flag byte
    assert len(encode({n: [0.0] * FINE_SLOTS for n in FIELDS}, FIELDS)) < 40  # an idle chunk is nearly free


def test_the_bound_per_series_is_the_one_the_module_states():
    assert FINE_MAX_CHUNKS == 313 and COARSE_MAX_CHUNKS == 31
    assert SERIES_MAX_BYTES == 313 * 600 + 31 * 11_520 == 544_920
    assert 9_000 * SERIES_MAX_BYTES < 4.91e9  # 1,000 virtual servers of 8 real servers


def test_downsampling_averages_the_readings_keeps_the_peaks_and_the_gaps():
    avg = bucket_avg([1, 3, 5, NAN, NAN, NAN], 2)
    assert avg[0] == 2 and avg[1] == 5 and math.isnan(avg[2])
    assert bucket_max([1, 3, 5, NAN, NAN, NAN], 2)[:2] == [3, 5]
    fine = empty(60, FIELDS)
    fine["active"][:30] = [10] * 29 + [100]
    coarse = downsample_fine(fine)
    assert coarse["active"][0] == pytest.approx(13) and coarse["max_active"][0] == 100
    assert math.isnan(coarse["active"][1]) and math.isnan(coarse["max_active"][1])


def frame(buckets, now_bucket=None, step=10.0):
    end = buckets * step
    return graphs.Frame(0, end, step, now=(now_bucket if now_bucket is not None else buckets) * step,
                        ticks=[(0, "12:00"), (end / 2, "12:30")], gap_words=lambda a, b: f"no data from {a:g} to {b:g}")


def test_a_chart_stops_its_line_at_a_gap_and_shades_it():
    values = [1, 2, 3, NAN, NAN, 4, 5, 6]
    svg = graphs.line_chart("Connections", "", [graphs.Line("active", "active", values)], frame(len(values)))
    assert svg.count('<polyline class="line active"') == 2  # never one line across the gap
    assert '<rect class="gap"' in svg and "<title>no data from 30 to 50</title>" in svg
    assert ">12:30</text>" in svg


def test_the_future_is_blank_not_a_gap():
    values = [1, 2, NAN, NAN]
    svg = graphs.line_chart("c", "", [graphs.Line("active", "active", values)], frame(4, now_bucket=2))
    assert '<rect class="gap"' not in svg


def test_the_y_axis_is_round_and_says_its_unit():
    assert graphs.nice_top(37) == (40, 10) and graphs.nice_top(0) == (1.0, 0.25)
    assert graphs.nice_top(1_900_000)[0] == 2_000_000
    assert graphs.si(1500, "B/s") == "1.5 kB/s" and graphs.si(2e6, "B/s") == "2 MB/s" and graphs.si(7) == "7"
    assert graphs.si(7, "/s") == "7/s" and graphs.si(1500, "/s") == "1.5 k/s"
    svg = graphs.line_chart("Traffic", "B/s", [graphs.Line("in", "in", [1_900_000, 100])], frame(2))
    assert ">2 MB/s</text>" in svg and ">0 B/s</text>" in svg


def test_the_timeline_draws_each_state_with_its_reason_escaped():
    segments = [graphs.Segment(0, 30, "up", "up from 12:00"),
                graphs.Segment(30, 80, "down", "down since 12:00:30: <script>x</script> refused")]
    svg = graphs.timeline([("rs1", segments)], frame(8))
    assert '<rect class="h-up"' in svg and '<rect class="h-down"' in svg
    assert "<script>" not in svg and "&lt;script&gt;x&lt;/script&gt; refused" in svg


# Sampling, writing out, reading back: real Redis, both databases --------------------------


@pytest.fixture
def world(db, empty_redis, monkeypatch):
    monkeypatch.setattr(history, "_mapping", None)  # the mapping cache belongs to one configuration
    vs = factories.virtual_server(name="web", address="192.0.2.50", port=80, persistent=0, pmask="", active=True)
    rs1 = factories.real_server(vs, name="web1", address="10.0.0.1")
    rs2 = factories.real_server(vs, name="web2", address="10.0.0.2")
    kernel = [Service("192.0.2.50", 80, rates=(7, 70, 60, 9000, 120000),
                      dests=[Dest("10.0.0.1", 80, active=12, inactive=3, rates=(4, 40, 30, 5000, 70000)),
                             Dest("10.0.0.2", 80, active=1, inactive=40, rates=(3, 30, 30, 4000, 50000))])]
    return vs, rs1, rs2, kernel


def latest(grid, name):
    present = [v for v in grid.columns[name] if not math.isnan(v)]
    return present[-1] if present else None


def test_a_sample_is_read_back_from_redis_then_from_the_database(world, monkeypatch):
    vs, rs1, rs2, kernel = world
    poll(monkeypatch, factories.director("lb1"), kernel)
    now = time.time()
    assert history.sample(now) == 3  # the virtual server and its two real servers
    window = (int(now) - 600, int(now) + 10)
    v = history.read_fine(history.SeriesRef.of_virtual(vs), *window)
    assert [latest(v, n) for n in FIELDS] == [13, 43, 7, 9000, 120000]
    assert [latest(history.read_fine(history.SeriesRef.of_real(rs1), *window), n) for n in FIELDS] == [12, 3, 4, 5000, 70000]
    assert HistoryChunk.objects.count() == 0  # the current 5 minutes are in Redis only
    assert history.flush(now) == 0  # not complete yet
    assert history.flush(chunk_start(now, FINE_CHUNK) + FINE_CHUNK + history.FLUSH_GRACE) == 3
    assert not get_redis().exists(history.BUFFER_KEY.format(chunk_start(now, FINE_CHUNK)))
    assert HistoryChunk.objects.filter(step=FINE_STEP).count() == 3
    again = history.read_fine(history.SeriesRef.of_real(rs2), *window)
    assert [latest(again, n) for n in FIELDS] == [1, 40, 3, 4000, 50000]
    assert again.last_reading() == chunk_start(now, FINE_STEP) + FINE_STEP


def test_two_directors_give_the_larger_connections_and_the_summed_traffic(world, monkeypatch):
    vs, rs1, _, kernel = world
    poll(monkeypatch, factories.director("lb1"), kernel)
    backup = [Service("192.0.2.50", 80, dests=[Dest("10.0.0.1", 80, active=10, inactive=1, rates=(1, 1, 1, 100, 200)),
                                               Dest("10.0.0.2", 80)])]
    poll(monkeypatch, factories.director("lb2"), backup)
    now = time.time()
    history.sample(now)
    grid = history.read_fine(history.SeriesRef.of_real(rs1), int(now) - 60, int(now) + 10)
    assert [latest(grid, n) for n in FIELDS] == [12, 3, 5, 5100, 70200]


def test_without_a_current_snapshot_nothing_is_written(world, monkeypatch):
    vs, *_, kernel = world
    director = factories.director("lb1")
    poll(monkeypatch, director, kernel)
    assert history.sample(time.time() + 60) == 0  # the snapshot is a minute old by then
    get_redis().delete(SNAPSHOT_KEY.format(director.pk))
    assert history.sample() == 0
    assert get_redis().zcard(history.PENDING_KEY) == 0


def fine_chunk(kind, pk, start, active):
    columns = {name: [float(active)] * FINE_SLOTS for name in FIELDS}
    return HistoryChunk(kind=kind, object_id=pk, step=FINE_STEP, start=start, data=encode(columns, FIELDS))


def test_a_finished_day_is_downsampled_to_averages_and_peaks(world):
    vs, *_ = world
    day = chunk_start(time.time(), COARSE_CHUNK) - COARSE_CHUNK
    rows = [fine_chunk("v", vs.pk, day + k * FINE_CHUNK, 10) for k in range(12)]  # the first hour
    rows[1] = fine_chunk("v", vs.pk, day + FINE_CHUNK, 100)
    HistoryChunk.objects.bulk_create(rows)
    assert history.downsample(day + COARSE_CHUNK + 60) == 0  # too soon: its last minutes may still come
    assert history.downsample(day + COARSE_CHUNK + history.DOWNSAMPLE_DELAY) == 1
    assert history.downsample(day + COARSE_CHUNK + history.DOWNSAMPLE_DELAY + 60) == 0  # once
    coarse = decode(HistoryChunk.objects.get(step=COARSE_STEP).data, COARSE_COLUMNS)
    assert coarse["active"][:3] == [10, 100, 10] and coarse["max_active"][1] == 100
    assert math.isnan(coarse["active"][12])  # after the hour: no data, not zero
    # Read back over 7 days: the day from its 5-minute chunk.
    now = day + COARSE_CHUNK + 3600
    grid = history.read_coarse(history.SeriesRef.of_virtual(vs), now - 7 * 86400, now, now)
    assert latest(grid, "active") == 10 and max(v for v in grid.columns["max_active"] if not math.isnan(v)) == 100


def test_pruning_keeps_each_series_within_its_bound(world):
    vs, *_ = world
    now = chunk_start(time.time(), FINE_CHUNK)
    HistoryChunk.objects.bulk_create([fine_chunk("v", vs.pk, now - k * FINE_CHUNK, 1) for k in range(1, 30 * 12)])
    HistoryChunk.objects.bulk_create([
        HistoryChunk(kind="v", object_id=vs.pk, step=COARSE_STEP, start=chunk_start(now, COARSE_CHUNK) - d * COARSE_CHUNK,
                     data=encode(empty(288, COARSE_COLUMNS), COARSE_COLUMNS)) for d in range(1, 41)])
    history.prune(now)
    fine = HistoryChunk.objects.filter(step=FINE_STEP)
    assert fine.count() <= FINE_MAX_CHUNKS and min(fine.values_list("start", flat=True)) >= now - 26 * 3600
    assert fine.count() >= 24 * 12  # 24 h are kept
    assert HistoryChunk.objects.filter(step=COARSE_STEP).count() == 30 <= COARSE_MAX_CHUNKS


def test_a_deleted_servers_history_goes_with_the_days_downsampling(world):
    vs, rs1, *_ = world
    day = chunk_start(time.time(), COARSE_CHUNK) - COARSE_CHUNK
    HistoryChunk.objects.bulk_create([fine_chunk("r", rs1.pk, day, 5), fine_chunk("v", vs.pk, day, 5)])
    rs1.delete()
    history.downsample(day + COARSE_CHUNK + history.DOWNSAMPLE_DELAY)
    assert not HistoryChunk.objects.filter(kind="r", object_id=rs1.pk).exists()
    assert HistoryChunk.objects.filter(kind="v", object_id=vs.pk).count() == 2


def test_a_day_is_downsampled_a_batch_a_run_until_done(world, monkeypatch):
    vs, rs1, rs2, _ = world
    monkeypatch.setattr(history, "DOWNSAMPLE_BATCH", 2)
    day = chunk_start(time.time(), COARSE_CHUNK) - COARSE_CHUNK
    HistoryChunk.objects.bulk_create([fine_chunk(kind, pk, day, 3) for kind, pk in (("v", vs.pk), ("r", rs1.pk), ("r", rs2.pk))])
    later = day + COARSE_CHUNK + history.DOWNSAMPLE_DELAY
    assert history.downsample(later) == 2  # the virtual server and rs1
    assert get_redis().get(history.DOWNSAMPLED_KEY.format(day)) == "2"
    assert history.downsample(later + 60) == 1  # rs2: the day is done
    assert history.downsample(later + 120) == 0
    assert HistoryChunk.objects.filter(step=COARSE_STEP).count() == 3


def test_the_tasks_are_scheduled_every_10_s_and_every_minute(settings):
    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["monitoring.tasks.sample_history"] == FINE_STEP
    assert schedule["monitoring.tasks.keep_history"] == 60.0
