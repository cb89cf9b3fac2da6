"""Start the product's own processes (Celery worker, beat) for tests, as
subprocesses against the test Redis, and stop them cleanly."""
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def celery_env(redis_url: str, data_dir: Path, **extra: str) -> dict:
    env = {**os.environ, "REDIS_URL": redis_url, "LBADMIN_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


@contextmanager
def celery_process(kind: str, redis_url: str, data_dir: Path, *args: str, prefork: bool = False, node: str = "",
                   hostname: str = "", **env: str):
    """kind is 'worker' or 'beat'; yields the Popen, output in data_dir/<kind>.log.

    A worker is one solo process unless prefork=True, which runs it as the
    Procfile does (prefork, two processes). hostname: the worker's node name (default
    test<node>-<pid>@%h)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / f"{kind}{node}.log", "wb")
    argv = [sys.executable, "-m", "celery", "-A", "lbadmin", kind, "--loglevel", "INFO", *args]
    if kind == "worker":
        pool = ["--concurrency", "2"] if prefork else ["--concurrency", "1", "--pool", "solo"]
        # Both queues: one test worker does what the Procfile's worker and poller do.
        argv += [*pool, "--queues", "celery,live", "--without-mingle", "--without-gossip", "--hostname",
                 hostname or f"test{node}-{os.getpid()}@%h"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=celery_env(redis_url, data_dir, **env), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc, grace=15)
        log.close()


def stop_group(process: subprocess.Popen, grace: float = 5) -> None:
    """What supervisord does to each of its programs: SIGTERM to the process group, then,
    after `grace` seconds, SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            return
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def wait_for(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def manage(env: dict, *args: str) -> None:
    """Run manage.py in a subprocess with env (the workers' database and Redis)."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def isolated_worker_stack(redis_url: str, tmp_path: Path, redis_db: int) -> tuple[str, object, dict, dict]:
    """For tests that start real workers: a Redis database of their own (no other test's
    queued tasks or keys in the way, flushed here) and a migrated SQLite file the workers
    share. Returns (redis url, redis client, extra env for celery_process, manage() env)."""
    import redis as redis_lib

    url = redis_url.rsplit("/", 1)[0] + f"/{redis_db}"
    redis = redis_lib.Redis.from_url(url, decode_responses=True)
    redis.flushdb()
    extra = {"DATABASE_URL": f"sqlite:///{tmp_path / 'lbadmin.sqlite3'}"}
    env = celery_env(url, tmp_path, **extra)
    manage(env, "migrate", "--noinput")
    return url, redis, extra, env
