"""The few fixed shell scripts lbadmin runs on a director besides ipvsadm: several ipvsadm
listings in one round trip, keepalived's file and process, the VRRP state that
keepalived's notify hook leaves behind, and the two IPVS sysctls that make drains end.

Each script is a constant of this module; executors run only these (`run_script`), with
every value passed as a positional argument ("$1", "$2" ...), never spliced into the
text, so no value typed on a page can become shell syntax. Over SSH the argv is joined
with shlex.quote (executors.SSHExecutor).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Script:
    name: str
    text: str


# $1 the ipvsadm program; then one argument per listing: ipvsadm's arguments for it,
# separated by single spaces (executors.listings builds them from lbadmin's own listing
# options and service names, and refuses any other whitespace). Several listings in one
# round trip: the live poll's three, or the few services a change touches. Each listing's
# output comes after a line LISTING_MARK and is followed by "STATUS_MARK N", ipvsadm's exit
# status, so one listing that fails (a service not in the kernel) hides none of the others;
# ipvsadm's error texts go to stderr. Globbing is off: "[2001:db8::1]:80" stays a word.
LISTING_MARK = "@@lbadmin listing"
STATUS_MARK = "@@lbadmin status"
IPVSADM_LISTINGS = Script("ipvsadm listings", rf'''
set -f
ipvsadm=$1
shift
for listing in "$@"; do
    echo '{LISTING_MARK}'
    "$ipvsadm" $listing
    echo "{STATUS_MARK} $?"
done
''')

# $1 file. Prints the file, or nothing when it does not exist yet.
READ_FILE = Script("read file", 'if [ -f "$1" ]; then cat -- "$1"; fi')

# $1 target file, $2 mode; the content on stdin. Written beside the target, flushed to
# disk, then renamed over it: a reader sees the old file or the new one, never half.
INSTALL_FILE = Script("install file", r'''
set -eu
dir=$(dirname -- "$1")
mkdir -p -- "$dir"
tmp="$1.lbadmin-new"
cat > "$tmp"
chmod "$2" "$tmp"
sync "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$1"
''')

# $1 keepalived.conf, $2 pid file, $3 keepalived binary; the new file on stdin. The new
# file is checked by `keepalived -t` before it replaces the running one; a refused file is
# removed and keepalived's words come back on stderr. Then keepalived reloads (SIGHUP:
# VRRP instances that did not change keep their state, so the VIPs stay up), or starts
# when it was not running.
INSTALL_KEEPALIVED = Script("install keepalived.conf", r'''
set -eu
conf=$1 pidfile=$2 keepalived=$3
mkdir -p -- "$(dirname -- "$conf")"
tmp="$conf.lbadmin-new"
cat > "$tmp"
if ! out=$("$keepalived" -t -f "$tmp" 2>&1); then
    rm -f -- "$tmp"
    printf 'keepalived -t refused the new file:\n%s\n' "$out" >&2
    exit 3
fi
sync "$tmp" 2>/dev/null || sync
mv -f -- "$tmp" "$conf"
if [ -s "$pidfile" ] && kill -0 "$(cat -- "$pidfile")" 2>/dev/null; then
    kill -HUP "$(cat -- "$pidfile")"
    echo reloaded
else
    mkdir -p -- "$(dirname -- "$pidfile")"
    "$keepalived" -f "$conf" -p "$pidfile"
    echo started
fi
''')

# $1 pid file, $2 state dir, $3 lines of the transition log to show. One round trip for
# the live poll: whether keepalived runs, the latest transitions its notify hook logged,
# the sync daemons and how many connections the kernel tracks (sync brings them along).
VRRP_STATUS = Script("read VRRP status", r'''
pidfile=$1 dir=$2 lines=$3
if [ -s "$pidfile" ] && kill -0 "$(cat -- "$pidfile")" 2>/dev/null; then
    echo "keepalived running $(cat -- "$pidfile")"
else
    echo "keepalived stopped"
fi
echo "--- transitions"
if [ -f "$dir/vrrp.log" ]; then tail -n "$lines" -- "$dir/vrrp.log"; fi
echo "--- daemons"
ipvsadm -L --daemon 2>&1 || true
echo "--- connections"
if [ -r /proc/net/ip_vs_conn ]; then echo $(( $(wc -l < /proc/net/ip_vs_conn) - 1 )); else echo 0; fi
''')

# The director's clock with nanoseconds, as the notify hook stamps its lines, so the
# rehearsal compares stamps of one clock. By full path: busybox's date has no %N.
_NOW = r"""
now() {
    for d in /usr/bin/date /bin/date; do
        if [ -x "$d" ]; then t=$("$d" +%s.%N 2>/dev/null) && case $t in *N*) ;; *) echo "$t"; return ;; esac; fi
    done
    date +%s
}
"""

# $1 pid file, $2 seconds to wait. A graceful stop, for a failover on purpose: on SIGTERM
# a MASTER keepalived sends an advert of priority 0, so a backup takes over at once rather
# than after three missed adverts, then logs STOP through its notify hook and exits.
# Prints "sigterm TIME" and "stopped TIME" (director clock), or "not running"; exit 4 when
# keepalived still runs after the wait (it is left running: a second signal would not be
# graceful).
STOP_KEEPALIVED = Script("stop keepalived", _NOW + r"""
pidfile=$1 wait=$2
if [ -s "$pidfile" ] && pid=$(cat -- "$pidfile") && kill -0 "$pid" 2>/dev/null; then
    echo "sigterm $(now)"
    kill -TERM "$pid"
    i=0
    while kill -0 "$pid" 2>/dev/null; do
        i=$((i + 1))
        if [ "$i" -gt $((wait * 10)) ]; then
            echo "keepalived (pid $pid) still runs $wait s after SIGTERM" >&2
            exit 4
        fi
        sleep 0.1
    done
    echo "stopped $(now)"
else
    echo "not running"
fi
""")

# $1 keepalived.conf, $2 pid file, $3 keepalived binary. Starts keepalived unless it runs
# (a stale pid file is fine). Prints "started TIME" or "already running TIME".
START_KEEPALIVED = Script("start keepalived", _NOW + r"""
conf=$1 pidfile=$2 keepalived=$3
if [ -s "$pidfile" ] && kill -0 "$(cat -- "$pidfile")" 2>/dev/null; then
    echo "already running $(now)"
    exit 0
fi
mkdir -p -- "$(dirname -- "$pidfile")"
t=$(now)
"$keepalived" -f "$conf" -p "$pidfile"
echo "started $t"
""")

# keepalived runs this on every transition (its `notify` hook) with TYPE NAME STATE
# PRIORITY; it appends one line, time first, that VRRP_STATUS reads back over SSH. No
# network call back to lbadmin: the pinned SSH connection is the only channel, so no open
# URL and no secret to leak. $0 sits in the state dir; the log goes beside it.
NOTIFY_HOOK = """#!/bin/sh
# Written by lbadmin. keepalived runs this on every VRRP transition (notify); lbadmin
# reads the log over SSH. Arguments: INSTANCE|GROUP NAME MASTER|BACKUP|FAULT|STOP PRIORITY
# By full path: a busybox shell would run its own date applet, which has no %N.
now=
for d in /usr/bin/date /bin/date; do
    if [ -x "$d" ]; then now=$("$d" +%s.%N 2>/dev/null); break; fi
done
case $now in *N*|'') now=$(date +%s) ;; esac
printf '%s %s %s %s %s\\n' "$now" "$1" "$2" "$3" "${4:-}" >> "$(dirname -- "$0")/vrrp.log"
"""

# $1 $2, $3 $4 ...: pairs of an IPVS sysctl name and 0 or 1. Each is written when it
# differs, then read back and printed as sysctl prints it ("net.ipv4.vs.NAME = VALUE").
# Only the names lbadmin manages are accepted, so no argument can name another file.
# The values live in the director's network namespace and a reboot resets them: reconcile
# sets them again (virtualservers/reconcile.py).
IPVS_SYSCTLS = ("expire_nodest_conn", "expire_quiescent_template")
SET_IPVS_SYSCTLS = Script("set IPVS sysctls", r'''
set -eu
dir=/proc/sys/net/ipv4/vs
n=0
for arg in "$@"; do
    n=$((n + 1))
    if [ $((n % 2)) -eq 1 ]; then
        case $arg in expire_nodest_conn|expire_quiescent_template) ;; *) echo "not an IPVS sysctl lbadmin sets: $arg" >&2; exit 2 ;; esac
    else
        case $arg in 0|1) ;; *) echo "an IPVS sysctl lbadmin sets takes 0 or 1, not $arg" >&2; exit 2 ;; esac
    fi
done
if [ ! -d "$dir" ]; then
    echo "$dir is missing: the ip_vs module is not loaded" >&2
    exit 3
fi
while [ $# -ge 2 ]; do
    if [ "$(cat -- "$dir/$1")" != "$2" ]; then echo "$2" > "$dir/$1"; fi
    echo "net.ipv4.vs.$1 = $(cat -- "$dir/$1")"
    shift 2
done
''')

SCRIPTS = (IPVSADM_LISTINGS, SET_IPVS_SYSCTLS, READ_FILE, INSTALL_FILE, INSTALL_KEEPALIVED, VRRP_STATUS, STOP_KEEPALIVED, START_KEEPALIVED)
