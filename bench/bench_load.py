"""Many people on the web at once, against the real stack: 50 viewers polling CONTROL's live
table every 2 s and 5 operators changing things, for 60 s.

The stack is the Procfile's (gunicorn with lbadmin/gunicorn_conf.py over TLS, a Celery
worker, the poller and beat), a real redis-server (lab.services) and a SQLite file in a throwaway
data dir, started as scripts/run starts them. Viewers log in and open CONTROL once, then
fetch the live partial every 2 s as htmx does (HX-Request). Operators log in and POST real
changes with the CSRF token read from the page: toggle a real server, edit a virtual
server (the form's `_version` sent back: optimistic locking), drain a real server.

Errors: any answer other than 2xx/3xx, a timeout or a broken connection, and every
"database is locked" line in the web, worker, poller and beat logs (scanned at the end).

Reads of the director's table: every ipvsadm run goes through a counting wrapper
(GLOBAL SETTINGS' ipvsadm path), so the director itself counts them. The load runs twice,
with 5 viewers and then with the full number (operators the same), and compares the reads
per minute: pages read Redis, never a director, so the ratio should be about 1.

Without --lab the director is `local` (ipvsadm
on this host); this host's kernel has no IPVS, so every read fails and the pages show that
(said in the figures). With --lab it is the QEMU lab director over SSH (3-5 minutes to
boot under TCG).

    .venv/bin/python bench/bench_load.py [--seconds 60] [--viewers 50] [--operators 5] [--lab]
    .venv/bin/python bench/bench_load.py --quick

The last line is exactly `load: <requests> requests, <errors> errors, p95 <ms> ms` (the
full-viewer run); the exit status is 1 when there was any error.
"""
from __future__ import annotations

import argparse
import html.parser
import os
import random
import re
import shlex
import shutil
import signal
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.services import free_port, start_redis  # noqa: E402

POLL_SECONDS = 2.0  # the live partial's hx-trigger="every 2s"
OPERATOR_PAUSE = (1.0, 3.0)  # seconds an operator thinks between two changes
TIMEOUT = 15.0  # per request; a slower answer counts as an error
PASSWORD = "bench-load-password-1"
PAGES = ("control", "live", "toggle", "edit form", "edit", "drain")
LOCKED = re.compile(r"database is locked", re.IGNORECASE)
STALE = "someone else saved this while you were editing"
# The ipvsadm wrapper logs its arguments, one run a line: "-L -n --exact --rate".
COUNTING_WRAPPER = '#!/bin/sh\necho "$*" >> {log}\nexec {ipvsadm} "$@"\n'


# Figures (pure: tests/test_bench_load.py) -----------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each run (default 60)")
    parser.add_argument("--viewers", type=int, default=50, help="viewers in the main run (default 50)")
    parser.add_argument("--operators", type=int, default=5, help="operators in both runs (default 5)")
    parser.add_argument("--baseline-viewers", type=int, default=5,
                        help="viewers in the first run, to compare the director's reads with (default 5)")
    parser.add_argument("--lab", action="store_true", help="the QEMU lab director instead of a local one")
    parser.add_argument("--quick", action="store_true", help="a short run: 10 s, 10 viewers, 2 operators")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.viewers, args.operators = 10.0, 10, 2
    if args.seconds <= 0 or args.viewers < 1 or args.operators < 0 or args.baseline_viewers < 1:
        parser.error("--seconds must be > 0, --viewers and --baseline-viewers >= 1, --operators >= 0")
    return args


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q % of the values at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def last_line(requests: int, errors: int, p95_ms: float) -> str:
    return f"load: {requests} requests, {errors} errors, p95 {p95_ms:.0f} ms"


def count_reads(lines: list[str]) -> Counter:
    """ipvsadm runs by kind: list (-L: the live poll's list, stats and rate; a reconcile's drain
    and timeout reads), save (-S: a reconcile's reads before and after), restore (-R: its writes)."""
    kinds: Counter = Counter()
    for line in lines:
        words = line.split()
        kind = {"-L": "list", "-S": "save", "-R": "restore"}.get(words[0] if words else "", "other")
        kinds[kind] += 1
        # The live poll reads list, stats, then rate: a rate read is one poll done in full.
        kinds["polls done"] += "--rate" in words
    return kinds


@dataclass
class Tally:
    """Latencies per page and the errors, from every client thread."""
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[tuple[str, str]] = field(default_factory=list)
    stale: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, page: str, ms: float, error: str = "") -> None:
        with self.lock:
            self.ms[page].append(ms)
            if error:
                self.errors.append((page, error))

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.ms.values())

    def all_ms(self) -> list[float]:
        return [ms for values in self.ms.values() for ms in values]


def report(tally: Tally, log_errors: list[str]) -> list[str]:
    lines = [f"{'page':<10} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}"]
    failed = Counter(page for page, _ in tally.errors)
    for page in [p for p in PAGES if p in tally.ms] + sorted(set(tally.ms) - set(PAGES)):
        values = tally.ms[page]
        lines.append(f"{page:<10} {len(values):>8} {percentile(values, 50):>8.0f} {percentile(values, 95):>8.0f} "
                     f"{max(values):>8.0f} {failed[page]:>6}")
    every = tally.all_ms()
    lines.append(f"{'total':<10} {len(every):>8} {percentile(every, 50):>8.0f} {percentile(every, 95):>8.0f} "
                 f"{max(every, default=0):>8.0f} {len(tally.errors):>6}")
    for (page, reason), times in Counter(tally.errors).most_common(10):
        lines.append(f"error: {page}: {reason} (x{times})")
    lines += [f"error: log: {line}" for line in log_errors[:10]]
    return lines


class FormValues(html.parser.HTMLParser):
    """The values a browser would submit from the page's edit form (the POST form holding
    `_version`; the header's logout form is one too), and the CSRF header htmx sends (the
    <body hx-headers> token)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self.csrf_header = ""
        self._form: list | None = None
        self._select: str | None = None
        self._textarea = False
        self.feed(text)
        self.pairs = next((f for f in self.forms if any(name == "_version" for name, _ in f)), [])

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body" and a.get("hx-headers"):
            match = re.search(r'"X-CSRFToken":\s*"([^"]+)"', a["hx-headers"])
            self.csrf_header = match.group(1) if match else ""
        elif tag == "form" and (a.get("method") or "").lower() == "post":
            self._form = []
            self.forms.append(self._form)
        if self._form is None:
            return
        if tag == "input" and "name" in a:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button", "file", "image", "reset"):
                self._form.append((a["name"], a.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and "name" in a:
            self._select = a["name"]
        elif tag == "option" and self._select and "selected" in a:
            self._form.append((self._select, a.get("value") or ""))
        elif tag == "textarea" and "name" in a:
            self._textarea = True
            self._form.append((a["name"], ""))

    def handle_data(self, data):
        if self._textarea and self._form:
            name, value = self._form[-1]
            self._form[-1] = (name, value + data)

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = False
        elif tag == "form":
            self._form = None


# The stack ------------------------------------------------------------------------------

@dataclass
class Stack:
    data_dir: Path
    env: dict
    url: str
    cert: str
    procs: dict = field(default_factory=dict)  # name -> Popen
    logs: dict = field(default_factory=dict)  # name -> Path

    def start(self, name: str, argv: list[str]) -> None:
        self.logs[name] = self.data_dir / f"{name}.log"
        with self.logs[name].open("wb") as log:
            # A session of its own, so stop() can end the process with its children
            # (gunicorn's and celery's workers) and nothing else.
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def dead(self) -> list[str]:
        return [f"{name} exited with {proc.returncode}" for name, proc in self.procs.items() if proc.poll() is not None]


def procfile_argv(name: str) -> list[str]:
    """The Procfile's line for `name` as an argv: the same program and options scripts/run runs."""
    from lbadmin.procfile import parse_procfile

    words = shlex.split(parse_procfile((ROOT / "Procfile").read_text())[name])
    return words[1:] if words[0] == "exec" else words


def manage(env: dict, *args: str) -> None:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def prepare(data_dir: Path, redis_url: str) -> Stack:
    """The data dir made as scripts/run makes it, and Django set up in this process on it."""
    port = free_port()
    env = {**os.environ, "LBADMIN_DATA_DIR": str(data_dir), "REDIS_URL": redis_url, "LBADMIN_PORT": str(port),
           "PYTHONUNBUFFERED": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LBADMIN_TLS"):
        env.pop(name, None)  # SQLite in the data dir, the product's settings, HTTPS
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    os.environ.update({k: env[k] for k in ("LBADMIN_DATA_DIR", "REDIS_URL", "LBADMIN_PORT")},
                      DJANGO_SETTINGS_MODULE="lbadmin.settings")
    os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from lbadmin.tls import ensure_certificate

    cert = ensure_certificate()  # as `python -m lbadmin.tls` in scripts/run; gunicorn then serves it
    return Stack(data_dir, env, f"https://127.0.0.1:{port}", str(cert.cert_file))


class _Listener(socketserver.ThreadingTCPServer):
    """Accepts and closes: what the TCP health checks of the local real servers reach."""
    daemon_threads = True
    allow_reuse_address = True


class _Close(socketserver.BaseRequestHandler):
    def handle(self):
        pass


@dataclass
class Setup:
    director: str  # what the figures say about it
    wrapper_log: object  # callable -> list of lines logged so far
    virtual: list  # [(vs pk, [rs pk, ...])], one per operator, reused round-robin


def populate(args, stack: Stack, vm=None) -> Setup:
    """Users, a director whose ipvsadm runs are counted, and virtual servers to change."""
    from django.contrib.auth.models import User

    from lbadmin.models import ClusterSettings
    from lbadmin.roles import ADMIN, VIEWER, set_role
    from lbadmin.models import Director
    from virtualservers.models import HealthCheck, RealServer, VirtualServer

    def add_virtual(**fields) -> VirtualServer:
        vs = VirtualServer(vip_nmask="255.255.255.255", protocol="tcp", scheduler="rr", **fields)
        vs.full_clean()
        vs.save()
        HealthCheck.objects.create(virtual_server=vs)
        return vs

    def add_real(vs: VirtualServer, **fields) -> RealServer:
        rs = RealServer(virtual_server=vs, **fields)
        rs.full_clean()
        rs.save()
        return rs

    for i in range(args.viewers):
        set_role(User.objects.create_user(f"viewer{i}", password=PASSWORD), VIEWER)
    # Editing a virtual server needs the admin role (the operator role only (de)activates and
    # drains), so these "operators" are admins: they do both.
    for i in range(args.operators):
        set_role(User.objects.create_user(f"operator{i}", password=PASSWORD), ADMIN)

    if vm is not None:
        from lab import topology
        from lbadmin.management.commands.lab import register_lab_director

        log = "/run/lbadmin-bench-ipvsadm.log"
        wrapper = "/usr/local/sbin/ipvsadm-counted"
        vm.check(["sh", "-c", f"mkdir -p /usr/local/sbin && cat > {wrapper} && chmod 755 {wrapper} && : > {log}"],
                 input=COUNTING_WRAPPER.format(log=log, ipvsadm="/sbin/ipvsadm"))
        register_lab_director(vm, "lab")
        wrapper_log = lambda: vm.check(["cat", log]).splitlines()  # noqa: E731
        vips, servers = topology.VIP_POOL_V4, list(topology.REAL_SERVERS.values())
        described = "the QEMU lab director over SSH (real IPVS, TCG)"
    else:
        log = stack.data_dir / "ipvsadm-calls.log"
        wrapper = stack.data_dir / "ipvsadm-counted"
        ipvsadm = shutil.which("ipvsadm") or "/sbin/ipvsadm"
        wrapper.write_text(COUNTING_WRAPPER.format(log=shlex.quote(str(log)), ipvsadm=shlex.quote(ipvsadm)))
        wrapper.chmod(0o755)
        log.touch()
        Director.objects.create(name="lab", address="127.0.0.1", transport="local")  # as the tests' director
        wrapper_log = lambda: log.read_text().splitlines()  # noqa: E731
        vips = [f"192.0.2.{50 + i}" for i in range(10)]
        servers = None
        described = ("local (ipvsadm on this host), whose kernel has "
                     f"{'IPVS' if Path('/proc/net/ip_vs').exists() else 'NO IPVS: every read fails, the pages say so'}")
    settings = ClusterSettings.load()
    settings.ipvsadm_path = str(wrapper)
    settings.full_clean()
    settings.save()

    listener = None
    if vm is None:
        listener = _Listener(("127.0.0.1", 0), _Close)
        threading.Thread(target=listener.serve_forever, daemon=True).start()
    virtual = []
    for i in range(max(1, args.operators)):
        vs = add_virtual(name=f"bench-{i}", address=vips[i % len(vips)], port=80, device="", forwarding="nat",
                         persistent=0, pmask="", active=True)
        rs_pks = []
        for j in range(3):
            if servers:
                rs = add_real(vs, name=servers[j].name, address=servers[j].ipv4, admin_state="enabled",
                              check_address="127.0.0.1", check_port=vm.check_endpoint(servers[j].name)[1])
            else:
                rs = add_real(vs, name=f"rs{j}", address=f"198.51.100.{10 * i + j + 1}", admin_state="enabled",
                              check_address="127.0.0.1", check_port=listener.server_address[1])
            rs_pks.append(rs.pk)
        if servers:  # the lab's forwarders accept every connection: check with HTTP (lab/vm.py)
            HealthCheck.objects.filter(virtual_server=vs).update(check_type="http", interval=2, timeout=2)
        virtual.append((vs.pk, rs_pks))
    return Setup(described, wrapper_log, virtual)


def wait_ready(stack: Stack, client_factory, timeout: float = 120) -> None:
    """The web answers its login page, and the poller (beat -> worker) wrote a snapshot."""
    from lbadmin.redis_client import get_redis
    from monitoring.live_poller import SNAPSHOT_KEY
    from lbadmin.models import Director

    deadline = time.monotonic() + timeout
    keys = [SNAPSHOT_KEY.format(pk) for pk in Director.objects.values_list("pk", flat=True)]
    with client_factory() as client:
        while True:
            if stack.dead():
                raise RuntimeError(f"{stack.dead()}; see {stack.data_dir}")
            try:
                web = client.get("/accounts/login/").status_code == 200
            except Exception:
                web = False
            if web and all(get_redis().exists(k) for k in keys):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack was not ready within {timeout:.0f} s (web answering: {web})")
            time.sleep(0.5)


# The clients ----------------------------------------------------------------------------

def login(client, username: str) -> str:
    """Log in through the login form; return the CSRF token htmx would send."""
    page = client.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    done = client.post("/accounts/login/", data={"username": username, "password": PASSWORD,
                                                 "csrfmiddlewaretoken": token},
                       headers={"Referer": f"{client.base_url}/accounts/login/"})
    if done.status_code != 302 or "/accounts/" in done.headers.get("location", ""):
        raise RuntimeError(f"login of {username} failed: {done.status_code} {done.headers.get('location')}")
    control = client.get("/control/")
    return FormValues(control.text).csrf_header


def timed(tally: Tally, page: str, call, ok=None):
    started = time.perf_counter()
    try:
        response = call()
    except Exception as exc:  # timeouts and broken connections count, with their reason
        tally.add(page, 1000 * (time.perf_counter() - started), f"{type(exc).__name__}: {exc}"[:160])
        return None
    ms = 1000 * (time.perf_counter() - started)
    error = "" if 200 <= response.status_code < 400 else f"HTTP {response.status_code}"
    if not error and ok is not None:
        error = ok(response)
    tally.add(page, ms, error)
    return response


def viewer(client, tally: Tally, until: float, offset: float) -> None:
    htmx = {"HX-Request": "true", "HX-Target": "live", "HX-Current-URL": f"{client.base_url}/control/"}
    time.sleep(offset)  # people open the page at different moments
    timed(tally, "control", lambda: client.get("/control/"))
    tick = time.monotonic()
    while True:
        tick += POLL_SECONDS
        if tick > until:
            return
        time.sleep(max(0.0, tick - time.monotonic()))
        timed(tally, "live", lambda: client.get("/control/live/", params={"interval": "2"}, headers=htmx),
              ok=lambda r: "" if 'id="live"' in r.text else "no live table in the answer")


def operator(client, csrf: str, tally: Tally, until: float, vs_pk: int, rs_pks: list[int], seed: int) -> None:
    rnd = random.Random(seed)
    base = client.base_url
    htmx = {"HX-Request": "true", "X-CSRFToken": csrf, "Referer": f"{base}/virtual/{vs_pk}/real/",
            "HX-Current-URL": f"{base}/virtual/{vs_pk}/real/"}
    persistent = ["0", "300"]
    step = 0
    while time.monotonic() + OPERATOR_PAUSE[1] < until:
        time.sleep(rnd.uniform(*OPERATOR_PAUSE))
        action = ("toggle", "edit", "drain")[step % 3]
        step += 1
        rs = rnd.choice(rs_pks)
        if action == "edit":
            form = timed(tally, "edit form", lambda: client.get(f"/virtual/{vs_pk}/"))
            if form is None or form.status_code != 200:
                continue
            values: dict[str, list[str]] = defaultdict(list)
            for name, value in FormValues(form.text).pairs:
                values[name].append(value)
            values["persistent"] = [persistent[step % 2]]
            timed(tally, "edit", lambda: client.post(f"/virtual/{vs_pk}/", data=values,
                                                     headers={"Referer": f"{base}/virtual/{vs_pk}/"}),
                  ok=lambda r: _stale(tally, r))
        else:
            timed(tally, action, lambda: client.post(f"/virtual/{vs_pk}/real/{rs}/{action}/", headers=htmx))


def _stale(tally: Tally, response) -> str:
    """A 302 saved; a 200 is the form again: refused as stale (counted, not an error) or invalid."""
    if response.status_code == 302:
        return ""
    if STALE in response.text:
        with tally.lock:
            tally.stale += 1
        return ""
    found = re.findall(r'class="error" id="id_(\w+)_error">([^<]*)<', response.text)
    return "the edit was refused: " + ("; ".join(f"{name}: {text}" for name, text in found)[:160] or "no reason shown")


def run_load(stack: Stack, setup: Setup, sessions: dict, viewers: int, operators: int, seconds: float) -> tuple:
    """One run; returns (tally, ipvsadm runs by kind, seconds measured)."""
    tally = Tally()
    before = len(setup.wrapper_log())
    started = time.monotonic()
    until = started + seconds
    threads = [threading.Thread(target=viewer, args=(sessions[f"viewer{i}"][0], tally, until,
                                                     POLL_SECONDS * i / viewers))
               for i in range(viewers)]
    for i in range(operators):
        vs_pk, rs_pks = setup.virtual[i % len(setup.virtual)]
        client, csrf = sessions[f"operator{i}"]
        threads.append(threading.Thread(target=operator, args=(client, csrf, tally, until, vs_pk, rs_pks, i)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    return tally, count_reads(setup.wrapper_log()[before:]), elapsed


def scan_logs(stack: Stack) -> tuple[list[str], list[str]]:
    """'database is locked' lines (errors) and the first line of each other traceback (shown)."""
    locked, tracebacks = [], []
    for name, path in stack.logs.items():
        lines = path.read_text(errors="replace").splitlines()
        locked += [f"{name}: {line.strip()[:200]}" for line in lines if LOCKED.search(line)]
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                cause = next((l for l in lines[i + 1:] if l and not l.startswith((" ", "\t"))), "?")
                tracebacks.append(f"{name}: {cause.strip()[:200]}")
    return locked, tracebacks


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import httpx

    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise (Django's logging)
    redis_url, stop_redis = start_redis()
    data_dir = Path(tempfile.mkdtemp(prefix="lbadmin-bench-load-"))
    vm = stack = None
    try:
        if args.lab:
            from lab.vm import LabVM

            logging.getLogger("paramiko").setLevel(logging.WARNING)
            vm = LabVM(name="bench-load")
            print("booting the lab director (3-5 minutes under TCG)...", file=sys.stderr, flush=True)
            vm.start()
            vm.reset()
        stack = prepare(data_dir, redis_url)
        setup = populate(args, stack, vm)
        stack.start("web", procfile_argv("web"))
        stack.start("worker", procfile_argv("worker"))
        stack.start("poller", procfile_argv("poller"))
        stack.start("beat", procfile_argv("beat"))
        tls = ssl.create_default_context(cafile=stack.cert)
        client_factory = lambda: httpx.Client(base_url=stack.url, verify=tls, timeout=TIMEOUT)  # noqa: E731
        print(f"stack: gunicorn {stack.url} (Procfile options), celery worker + poller + beat, redis {redis_url}, "
              f"SQLite in {data_dir}", file=sys.stderr, flush=True)
        wait_ready(stack, client_factory)

        sessions = {}
        names = [f"viewer{i}" for i in range(args.viewers)] + [f"operator{i}" for i in range(args.operators)]
        started = time.monotonic()
        lock = threading.Lock()

        def log_in(name: str) -> None:
            client = client_factory()
            csrf = login(client, name)
            with lock:
                sessions[name] = (client, csrf)

        logins = [threading.Thread(target=log_in, args=(n,)) for n in names]
        for chunk in range(0, len(logins), 8):  # 8 at once: gunicorn's 2 workers x 4 threads
            for t in logins[chunk:chunk + 8]:
                t.start()
            for t in logins[chunk:chunk + 8]:
                t.join()
        if len(sessions) != len(names):
            raise RuntimeError(f"only {len(sessions)} of {len(names)} logins worked; see {stack.logs['web']}")
        print(f"{len(names)} logins in {time.monotonic() - started:.1f} s (not measured below)", file=sys.stderr)

        runs = {}
        for viewers in dict.fromkeys((min(args.baseline_viewers, args.viewers), args.viewers)):
            print(f"running {args.seconds:.0f} s with {viewers} viewers and {args.operators} operators...",
                  file=sys.stderr, flush=True)
            runs[viewers] = run_load(stack, setup, sessions, viewers, args.operators, args.seconds)
        for client, _ in sessions.values():
            client.close()
        dead = stack.dead()
        stack.stop()
        locked, tracebacks = scan_logs(stack)
    finally:
        if stack is not None:
            stack.stop()
        if vm is not None:
            vm.stop()
        stop_redis()

    print()
    print(f"director: {setup.director}")
    tally, reads, elapsed = runs[args.viewers]
    for viewers, (t, kinds, secs) in runs.items():
        per_min = {k: 60 * v / secs for k, v in kinds.items()}
        print(f"{viewers:>3} viewers, {args.operators} operators, {secs:.0f} s: {t.requests} requests, "
              f"{len(t.errors)} errors; ipvsadm on the director: {sum(kinds.values()) - kinds['polls done']} runs "
              f"({', '.join(f'{k} {v} = {per_min[k]:.0f}/min' for k, v in sorted(kinds.items())) or 'none'})")
    if len(runs) == 2:
        (few, (_, k1, s1)), (many, (_, k2, s2)) = runs.items()
        reads1 = 60 * (k1["list"] + k1["save"]) / s1
        reads2 = 60 * (k2["list"] + k2["save"]) / s2
        lists1, lists2 = 60 * k1["list"] / s1, 60 * k2["list"] / s2
        print(f"table reads (-L and -S) per minute: {reads1:.0f} with {few} viewers, {reads2:.0f} with {many}: "
              f"ratio {_ratio(reads2, reads1)} for {many / few:.0f}x the viewers "
              f"(-L alone: {lists1:.0f} and {lists2:.0f}, ratio {_ratio(lists2, lists1)})")
    print(f"edits refused as stale (optimistic locking, not errors): {tally.stale}")
    print()
    print(f"{args.viewers} viewers (live partial every {POLL_SECONDS:.0f} s), {args.operators} operators, "
          f"{elapsed:.0f} s:")
    for line in report(tally, locked):
        print(line)
    if dead:
        print(f"error: a process died during the run: {dead}")
    if tracebacks:
        print(f"tracebacks in the logs (shown, not counted): {len(tracebacks)}")
        for line, times in Counter(tracebacks).most_common(5):
            print(f"  {line} (x{times})")
    errors = len(tally.errors) + len(locked) + len(dead)
    shutil.rmtree(data_dir, ignore_errors=True)
    print(last_line(tally.requests, errors, percentile(tally.all_ms(), 95)))
    # The 5-viewer run's errors are printed on its own line above; they fail the run too.
    return 1 if errors or any(t.errors for t, _, _ in runs.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
