"""bench/bench_load.py's pure parts: its arguments, the figures it prints and the form it
reads back. The load itself runs only by hand (it starts the whole stack); no timing here."""
import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("bench_load", Path(__file__).resolve().parent.parent / "bench" / "bench_load.py")
bench_load = importlib.util.module_from_spec(_spec)
sys.modules["bench_load"] = bench_load  # its dataclasses look their module up there
_spec.loader.exec_module(bench_load)


def test_its_defaults_are_50_viewers_and_5_operators_for_60_seconds():
    args = bench_load.parse_args([])
    assert (args.seconds, args.viewers, args.operators, args.baseline_viewers, args.lab) == (60.0, 50, 5, 5, False)


def test_quick_shortens_the_run():
    args = bench_load.parse_args(["--quick"])
    assert (args.seconds, args.viewers, args.operators) == (10.0, 10, 2)


def test_the_last_line_has_the_exact_format():
    assert bench_load.last_line(1684, 0, 93.4) == "load: 1684 requests, 0 errors, p95 93 ms"


def test_percentiles_are_nearest_rank():
    values = list(range(1, 101))
    assert (bench_load.percentile(values, 50), bench_load.percentile(values, 95)) == (50, 95)
    assert bench_load.percentile([7.0], 95) == 7.0


def test_the_report_ends_with_the_total_and_the_errors_with_their_reason():
    tally = bench_load.Tally()
    for ms in (10, 20, 30):
        tally.add("live", ms)
    tally.add("toggle", 40, "HTTP 500")
    lines = bench_load.report(tally, ["web: sqlite3.OperationalError: database is locked"])
    assert lines[-3].split()[:2] == ["total", "4"] and lines[-3].split()[-1] == "1"
    assert lines[-2:] == ["error: toggle: HTTP 500 (x1)", "error: log: web: sqlite3.OperationalError: database is locked"]


def test_it_counts_ipvsadm_runs_by_kind():
    runs = ["-L -n --exact", "-L -n --exact --stats", "-L -n --exact --rate", "-S -n", "-R", "--version"]
    assert bench_load.count_reads(runs) == {"list": 3, "save": 1, "restore": 1, "other": 1, "polls done": 1}


def test_it_submits_the_edit_form_not_the_logout_form():
    page = """<body hx-headers='{"X-CSRFToken": "tok"}'>
    <form method="post" action="/accounts/logout/"><input type="hidden" name="csrfmiddlewaretoken" value="a"></form>
    <form method="post" class="edit"><input type="hidden" name="csrfmiddlewaretoken" value="b">
    <input type="hidden" name="_version" value="v1"><input name="name" value="web">
    <select name="scheduler"><option value="rr">rr</option><option value="wlc" selected>wlc</option></select>
    <input type="checkbox" name="quiesce_server"><input type="checkbox" name="directors" value="1" checked>
    <textarea name="notes">a &amp; b</textarea><button type="submit">ACCEPT</button></form></body>"""
    form = bench_load.FormValues(page)
    assert form.csrf_header == "tok"
    assert form.pairs == [("csrfmiddlewaretoken", "b"), ("_version", "v1"), ("name", "web"), ("scheduler", "wlc"),
                          ("directors", "1"), ("notes", "a & b")]
