"""Program checks (Piranha's send_program): run a command, judge its exit and output.

Containment (the passwd.php3 hole: an admin must not run any program on the lbadmin host):
- Only a program inside the operator's directory (CheckSpec.program_dir) runs, checked
  on every run with symlinks and `..` resolved (resolve_program): the program and every
  directory from / down to it must be owned by root and not writable by group or others
  (a world-writable directory only with the sticky bit, like /tmp). Root only, not the
  lbadmin user: the owner of a file can always make it writable again, so a directory
  the lbadmin user owns is one that a compromised web process could fill.
- When the checker runs as root, the program runs as CheckSpec.program_user (nobody by
  default) with no supplementary groups, so it cannot read the 0600/0700 database, secret
  key or SSH keys of the lbadmin user or root. Never as root.
- A fixed environment (nothing of the worker's: no DJANGO_SECRET_KEY, no DATABASE_URL),
  cwd /, umask 077, no open descriptor but stdin (/dev/null), stdout and stderr, its own
  process group, killed at the timeout.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
import shlex
import signal
import stat

from .matching import compiled_regex, regex_search
from .reasons import describe_error, excerpt, one_line, timed_out
from .spec import CheckSpec, Outcome

MAX_STDOUT_BYTES = 64 * 1024  # kept for matching; the rest is read and dropped
MAX_STDERR_BYTES = 4 * 1024
# After SIGKILL the pipes close at once, unless a child escaped the process group
# (setsid) and still holds them; do not let such a child hold the check too.
REAP_GRACE = 1.0
_PLACEHOLDER_RE = re.compile(r"%[hp]")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PROGRAM_UMASK = 0o077


class ProgramRefused(Exception):
    """The program may not run; the message says why, for the result line."""


def program_environment() -> dict[str, str]:
    """The whole environment of a check program: nothing taken from the worker's, which
    holds the database URL and the secret key."""
    return {"PATH": _DEFAULT_PATH, "HOME": "/", "LANG": "C.UTF-8"}


def resolve_program(path: str, directory: str) -> str:
    """The real path of `path` if it may run as a check program from `directory`;
    ProgramRefused (or FileNotFoundError) otherwise."""
    if not os.path.isabs(path):
        raise ProgramRefused(f"program {path} is not an absolute path in {directory}")
    root = os.path.realpath(directory)
    real = os.path.realpath(path)
    if real == root or os.path.commonpath([root, real]) != root:
        raise ProgramRefused(f"program {path} is not in {directory}")
    folder = os.path.dirname(real)
    while True:
        _refuse_unless_root_only(folder, os.stat(folder))
        if folder == "/":
            break
        folder = os.path.dirname(folder)
    info = os.stat(real)
    if not stat.S_ISREG(info.st_mode):
        raise ProgramRefused(f"program {path} is not a regular file")
    _refuse_unless_root_only(real, info)
    return real


def _refuse_unless_root_only(path: str, info: os.stat_result) -> None:
    if info.st_uid != 0:
        raise ProgramRefused(f"refused: {path} is owned by uid {info.st_uid}, not root")
    sticky_dir = stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not sticky_dir:
        raise ProgramRefused(f"refused: {path} is writable by group or others")


def program_identity(user: str | None) -> dict:
    """subprocess arguments that drop root for the program (setgroups([]), setgid, then
    setuid, in that order, done by subprocess itself); nothing when not root."""
    if user is None or os.geteuid() != 0:
        return {}
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ProgramRefused(f"refused: no user {user!r} to run check programs as") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise ProgramRefused(f"refused: check programs never run as root (user {user!r})")
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def build_argv(command: str, host: str, port: int) -> list[str]:
    """shlex-split the command, then put host and port in place of %h and %p inside each
    argument. Substituting after splitting means a host can never add or split arguments,
    and no shell ever sees the line. Raises ValueError for an empty or unbalanced line."""
    words = shlex.split(command)
    if not words:
        raise ValueError("no program configured")
    values = {"%h": host, "%p": str(port)}
    return [_PLACEHOLDER_RE.sub(lambda m: values[m.group(0)], word) for word in words]


async def check_program(spec: CheckSpec) -> Outcome:
    try:
        argv = build_argv(spec.send_program, spec.host, spec.port)
        if spec.use_regex and spec.expect:
            compiled_regex(spec.expect)
    except re.error as exc:
        return False, f"bad expect regex: {exc}"
    except ValueError as exc:
        return False, f"bad program command: {exc}"
    try:
        if spec.program_dir is not None:
            argv[0] = resolve_program(argv[0], spec.program_dir)
        identity = program_identity(spec.program_user)
    except ProgramRefused as exc:
        return False, str(exc)
    except FileNotFoundError:
        return False, f"program not found: {argv[0]}"
    except OSError as exc:
        return False, f"cannot check {argv[0]}: {describe_error(exc)}"
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=program_environment(),
            cwd="/",
            umask=PROGRAM_UMASK,
            close_fds=True,
            start_new_session=True,  # its own process group, so a timeout kills its children too
            **identity,
        )
    except FileNotFoundError:
        return False, f"program not found: {argv[0]}"
    except PermissionError:
        return False, f"program not executable: {argv[0]}"
    except OSError as exc:
        return False, f"cannot run {argv[0]}: {describe_error(exc)}"

    finished = False
    try:
        async with asyncio.timeout(spec.timeout):
            stdout, stderr, code = await asyncio.gather(
                _read_capped(proc.stdout, MAX_STDOUT_BYTES),
                _read_capped(proc.stderr, MAX_STDERR_BYTES),
                proc.wait(),
            )
        finished = True
    except TimeoutError:
        return False, timed_out(spec.timeout, "(program killed)")
    finally:
        if not finished:  # timed out, or the caller cancelled us
            _kill_group(proc.pid)
            try:
                async with asyncio.timeout(REAP_GRACE):
                    await proc.wait()
            except TimeoutError:
                pass
    return judge_program(spec, code, stdout, stderr)


def judge_program(spec: CheckSpec, code: int, stdout: bytes, stderr: bytes) -> Outcome:
    """UP only when the program exited 0 and, if expect is set, printed it: exactly once a
    trailing newline is removed, or matching it as a regex. Unlike nanny, a program that
    fails, or prints nothing, is never UP."""
    if code != 0:
        if code < 0:
            try:
                reason = f"program killed by {signal.Signals(-code).name}"
            except ValueError:
                reason = f"program killed by signal {-code}"
        else:
            reason = f"program exited {code}"
        first_error = stderr.decode("utf-8", errors="replace").strip().splitlines()
        return False, one_line(f"{reason}: {first_error[0]}") if first_error else reason
    if not spec.expect:
        return True, "program exited 0"
    if not stdout.strip():
        return False, "program printed nothing"
    if spec.use_regex:
        matched = regex_search(spec.expect, stdout)
    else:
        matched = stdout.rstrip(b"\r\n") == spec.expect.encode()
    shown = excerpt(stdout.rstrip(b"\r\n"))
    if matched:
        return True, f"program printed {shown}"
    return False, f"program output not matched: got {shown}"


async def _read_capped(stream: asyncio.StreamReader | None, cap: int) -> bytes:
    """Read to EOF, keeping the first `cap` bytes: a runaway program cannot fill memory."""
    kept = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return bytes(kept)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
