#!/bin/sh
# Builds the lab inside the guest, once, at boot (busybox init's sysinit step, before sshd
# starts: when SSH answers, the lab is ready). The addresses come from /etc/lab/, written
# by lab/build.py from lab/topology.py.
#
# iproute2's ip is called by full path: busybox sh runs its own applets first, and busybox's
# ip has no netns. Each ip process costs about 0.15 s under TCG, hence the -batch files.
IP=/sbin/ip

log() { echo "lab: [$(cut -d' ' -f1 /proc/uptime)] $*"; }
setsys() { echo "$2" > "/proc/sys/$1" || log "could not set $1=$2"; }
in_ns() { ns=$1; shift; nsenter --net="/run/netns/$ns" "$@"; }

log "boot script started"
. /etc/lab/network.conf
hostname lbadmin-lab
modprobe -a $(cat /etc/lab/modules.conf) || log "some modules failed to load"

# eth0 carries only the host's forwarded SSH port (QEMU user networking, restrict=on).
# No default route: nothing in the lab is meant to leave the guest.
$IP -batch - <<'IPCMDS'
link set lo up
address add 10.0.2.15/24 dev eth0
link set eth0 up
IPCMDS

log "modules loaded"
setsys net/ipv4/ip_forward 1
setsys net/ipv6/conf/all/forwarding 1
# Direct routing: real servers answer with the VIP as source through the director (their
# default gateway); the director would drop those as "martian" without accept_local.
setsys net/ipv4/conf/all/accept_local 1
setsys net/ipv4/conf/all/rp_filter 0
setsys net/ipv4/conf/default/rp_filter 0
# No duplicate address detection: addresses are usable at once, not 1-2 s later.
setsys net/ipv6/conf/all/accept_dad 0
setsys net/ipv6/conf/default/accept_dad 0
# New namespaces start with the settings above instead of the kernel's built-in defaults.
setsys net/core/devconf_inherit_init_net 1

$IP -batch /etc/lab/director.ip || log "director network failed"
$IP -batch /etc/lab/pair.ip || log "pair network failed"
for batch in /etc/lab/netns/*.ip; do
    ns=$(basename "$batch" .ip)
    $IP -n "$ns" -batch "$batch" || log "namespace $ns failed"
done

log "network built"
# Real servers hold the VIPs on lo for direct routing: they must neither answer ARP for
# them nor use them as the source of their own ARP requests.
while read -r name _; do
    in_ns "$name" sh -c '
        echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore
        echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce' || log "$name: arp settings failed"
    mkdir -p "/srv/$name"
    echo "$name" > "/srv/$name/index.html"
done < /etc/lab/real-servers.conf

# The director pair's real servers: the same ARP rules (they hold the pair's VIPs on lo),
# a web server answering with the name, and an echo service for long-lived connections.
# Nothing stops these during tests, so they are started here once.
mkdir -p /run/lab /run/sshd
grep '^rs ' /etc/lab/pair.conf | while read -r _ name _; do
    mkdir -p "/srv/$name"
    echo "$name" > "/srv/$name/index.html"
    in_ns "$name" sh -c "
        echo 1 > /proc/sys/net/ipv4/conf/all/arp_ignore
        echo 2 > /proc/sys/net/ipv4/conf/all/arp_announce
        busybox httpd -p $HTTP_PORT -h /srv/$name
        busybox nc -ll -p $ECHO_PORT -e busybox cat &" </dev/null >/dev/null 2>&1 \
        || log "$name: pair real server failed"
done

/usr/local/bin/lab-rs start $(cut -d' ' -f1 /etc/lab/real-servers.conf) || log "real servers failed"
/usr/local/bin/lab-forward start || log "check forwarders failed"
/usr/local/bin/lab-director start $(grep '^director ' /etc/lab/pair.conf | cut -d' ' -f2) \
    || log "pair directors failed"
log "ready"
