"""Program checks (Piranha's send_program): run a command, judge its exit and output."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import signal

from .matching import compiled_regex, regex_search
from .reasons import describe_error, excerpt, one_line, timed_out
from .spec import CheckSpec, Outcome

MAX_STDOUT_BYTES = 64 * 1024  # kept for matching; the rest is read and dropped
MAX_STDERR_BYTES = 4 * 1024
# After SIGKILL the pipes close at once, unless a child escaped the process group
# (setsid) and still holds them; do not let such a child hold the check too.
REAP_GRACE = 1.0
_PLACEHOLDER_RE = re.compile(r"%[hp]")
# The worker's environment holds the database URL and the secret key; a check program
# gets only what a command line needs.
_PASSED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
_DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def program_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in _PASSED_ENVIRONMENT if name in os.environ}
    env.setdefault("PATH", _DEFAULT_PATH)
    return env


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
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=program_environment(),
            start_new_session=True,  # its own process group, so a timeout kills its children too
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
