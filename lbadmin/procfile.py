"""The Procfile (redis, web, worker, beat), read, and turned into supervisord's configuration.

scripts/run writes that configuration into the data dir at every start and runs
`supervisord -n` on it, so the Procfile stays the one place the commands are written
(docker-compose.yml repeats them; tests/test_compose.py keeps them equal). Pure: no
Django, nothing of the app.

    python -m lbadmin.procfile PROCFILE DATA_DIR     # prints the supervisord.conf

Each program:
- runs its Procfile line under `/bin/sh -c` (the line's `exec` makes it the program itself),
  in the repository, with supervisord's environment (scripts/run's);
- is restarted whenever it exits, for as long as supervisord runs (autorestart, and a
  start retried without end: supervisord waits 1 s more before each new try of a
  program that keeps dying within `startsecs`), every spawn and exit logged;
- writes stdout and stderr to supervisord's stdout (the terminal), unrotated;
- is stopped with SIGTERM to its whole process group, SIGKILL to the group after
  `stopwaitsecs`: a celery worker's pool or a gunicorn worker is never left behind.
Programs start in the Procfile's order (Redis first) and stop in the reverse one.
"""
from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")

# Seconds a program must stay up to count as started; a shorter life is a failed start,
# retried after a delay that grows by a second each time (supervisord's backoff).
START_SECONDS = 2
# Tries before supervisord gives a program up (FATAL): in practice never.
START_RETRIES = 1_000_000
# SIGTERM, then SIGKILL to the group after this many seconds (a celery worker finishing
# its tasks, gunicorn its requests).
STOP_WAIT_SECONDS = 10


def parse_procfile(text: str) -> dict[str, str]:
    """name -> command, in file order; comments and blank lines skipped, a name twice refused."""
    processes: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.match(line)
        if not match:
            raise ValueError(f"Procfile line {number}: not 'name: command': {line!r}")
        name, command = match.group(1), match.group(2).strip()
        if name in processes:
            raise ValueError(f"Procfile line {number}: {name!r} appears twice")
        processes[name] = command
    return processes


def _value(text: str) -> str:
    """A value supervisord reads literally: it expands %(name)s, so every % is doubled."""
    if "\n" in text:
        raise ValueError(f"a newline in a supervisord value: {text!r}")
    return text.replace("%", "%%")


def supervisord_conf(processes: dict[str, str], repo: Path, data_dir: Path) -> str:
    lines = [
        "; Written by scripts/run from the Procfile at every start (lbadmin/procfile.py): edit those.",
        "[supervisord]",
        "nodaemon=true",
        # Its own lines (spawned, exited, success) reach the terminal too, since nodaemon.
        f"logfile={_value(str(data_dir / 'supervisord.log'))}",
        "logfile_maxbytes=10MB",
        "logfile_backups=3",
        "loglevel=info",
        f"pidfile={_value(str(data_dir / 'supervisord.pid'))}",
        f"childlogdir={_value(str(data_dir))}",
    ]
    if os.geteuid() == 0:
        # Said, so supervisord does not log a CRIT line about keeping root at every start.
        lines.append("user=root")
    lines.append("")
    for priority, (name, command) in enumerate(processes.items(), 1):
        lines += [
            f"[program:{name}]",
            f"command={_value(shlex.join(['/bin/sh', '-c', command]))}",
            f"directory={_value(str(repo))}",
            f"priority={priority * 10}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            f"stopwaitsecs={STOP_WAIT_SECONDS}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
            "stdout_logfile_backups=0",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m lbadmin.procfile PROCFILE DATA_DIR", file=sys.stderr)
        return 2
    procfile = Path(argv[0]).resolve()
    try:
        processes = parse_procfile(procfile.read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(supervisord_conf(processes, procfile.parent, Path(argv[1]).resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
