"""Build the lab director's boot image: a Debian cloud kernel and an initramfs.

    python -m lab.build [--force]

Idempotent and cached under <repo>/.lab/: keys are made once (so the pinned host key
stays the same), the kernel package is chosen and downloaded once, and the initramfs is
rebuilt only when one of its inputs changed (this package's sources, the guest files, the
host binaries it copies, the kernel, the keys).

The host needs Debian's packages: qemu-system-x86 (to boot, not to build), busybox-static,
ipvsadm, iproute2, openssh-server, kmod, keepalived, gcc and libc6-dev (lab-probe is
compiled statically); apt-get/dpkg-deb/ldd/bash come with every Debian.
The guest runs the host's own binaries (copied with the libraries ldd lists), so host and
guest are always the same Debian release.
"""

from __future__ import annotations

import argparse
import fcntl
import functools
import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lab import layout, topology
from lab.initramfs import write_initramfs

GUEST_OVERLAY = Path(__file__).resolve().parent / "guest"

# ip_vs with every scheduler, what NAT/DR/tunnel forwarding and the namespaces need, and
# the virtio NIC. Dependencies (net_failover, stp, llc, tunnel4, ...) are added from each
# module's own "depends=" list; a module built into this kernel (ipv6, and virtio_pci on
# 6.12) is skipped.
WANTED_MODULES = (
    "ip_vs",
    "ip_vs_rr", "ip_vs_wrr", "ip_vs_lc", "ip_vs_wlc", "ip_vs_lblc", "ip_vs_lblcr", "ip_vs_dh",
    "ip_vs_sh", "ip_vs_sed", "ip_vs_nq", "ip_vs_mh", "ip_vs_fo", "ip_vs_ovf", "ip_vs_twos",
    "nf_conntrack", "nf_defrag_ipv4", "nf_defrag_ipv6", "libcrc32c",
    "virtio_pci", "virtio_net",
    "veth", "bridge", "dummy", "ipv6",
    "ipip",  # tunnel forwarding (-i)
)

# What the guest runs, copied from the host: guest path -> candidates on the host.
HOST_BINARIES = {
    "bin/busybox": ("/usr/bin/busybox", "/bin/busybox"),
    "bin/bash": ("/usr/bin/bash", "/bin/bash"),  # root's login shell over SSH
    "sbin/ip": ("/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"),
    "sbin/ipvsadm": ("/usr/sbin/ipvsadm", "/sbin/ipvsadm"),
    "usr/sbin/sshd": ("/usr/sbin/sshd",),
    "usr/lib/openssh/sftp-server": ("/usr/lib/openssh/sftp-server",),
    "usr/sbin/keepalived": ("/usr/sbin/keepalived",),  # VRRP for the director pair
    # GNU date: busybox's has no %N, and keepalived's notify hook stamps transitions in ns.
    "usr/bin/date": ("/usr/bin/date", "/bin/date"),
}
HOST_PACKAGES = {
    "bin/busybox": "busybox-static",
    "bin/bash": "bash",
    "sbin/ip": "iproute2",
    "sbin/ipvsadm": "ipvsadm",
    "usr/sbin/sshd": "openssh-server",
    "usr/lib/openssh/sftp-server": "openssh-sftp-server",
    "usr/sbin/keepalived": "keepalived",
    "usr/bin/date": "coreutils",
}
HOST_TOOLS = {"apt-get": "apt", "apt-cache": "apt", "dpkg-deb": "dpkg", "dpkg": "dpkg",
              "depmod": "kmod", "ldd": "libc-bin", "gcc": "gcc"}
# The prober is compiled statically on the host (gcc -static needs libc.a) and runs in the
# guest's client namespace: under TCG a process start costs about 65 ms, so a shell loop
# could not probe a sub-second outage.
PROBE_SOURCE = Path(__file__).resolve().parent / "c" / "lab-probe.c"
STATIC_LIBC = Path("/usr/lib/x86_64-linux-gnu/libc.a")

CHAR_DEVICES = {"dev/console": (5, 1), "dev/null": (1, 3)}
GUEST_DIRS = ("proc", "sys", "dev", "run", "tmp", "root/.ssh", "var/log", "var/empty", "srv",
              "etc/lab", "lib64", "etc/keepalived",
              *(f"{topology.PAIR_CONFIG_ROOT.strip('/')}/{name}/keepalived" for name in topology.PAIR_DIRECTORS))

STEPS = 6


class LabBuildError(RuntimeError):
    """The image cannot be built; the message says what to install or fix."""


@dataclass(frozen=True)
class LabImage:
    kernel: Path
    initramfs: Path
    kernel_version: str
    host_key: str  # "ssh-ed25519 AAAA...": the guest's host key, to pin
    client_key: Path  # private key that logs in as root


Log = Callable[[str], None]


def _print(line: str) -> None:
    print(line, flush=True)


class _Progress:
    def __init__(self, log: Log) -> None:
        self._log = log
        self._step = 0

    def step(self, name: str, detail: str, started: float) -> None:
        self._step += 1
        self._log(f"lab build [{self._step}/{STEPS}] {name}: {detail} ({time.monotonic() - started:.1f} s)")


def _run(argv: list[str], cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise LabBuildError(f"{argv[0]} is not installed") from exc
    if done.returncode != 0:
        raise LabBuildError(f"{' '.join(argv)} failed ({done.returncode}):\n{done.stderr.strip()}")
    return done.stdout


def _sbin_path() -> str:
    return os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


# -- step 1: host tools ------------------------------------------------------------------

def _host_binaries() -> dict[str, Path]:
    found: dict[str, Path] = {}
    missing: list[str] = []
    for guest_path, candidates in HOST_BINARIES.items():
        path = next((Path(c) for c in candidates if Path(c).is_file()), None)
        if path is None:
            missing.append(HOST_PACKAGES[guest_path])
        else:
            found[guest_path] = path
    missing += [pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool, path=_sbin_path()) is None]
    if not STATIC_LIBC.is_file():
        missing.append("libc6-dev")
    if missing:
        raise LabBuildError("missing host packages; run: apt-get install -y " + " ".join(sorted(set(missing))))
    return found


def _libraries(binary: Path) -> list[Path]:
    """The shared libraries (and the loader) that binary needs, as ldd lists them."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if done.returncode != 0:  # "not a dynamic executable": busybox-static
        return []
    libraries = []
    for line in done.stdout.splitlines():
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libraries.append(Path(match.group(1)))
        elif "not found" in line:
            raise LabBuildError(f"{binary}: ldd cannot find {line.strip()}")
    return libraries


# -- step 2: keys ------------------------------------------------------------------------

def _ensure_key(path: Path, comment: str) -> tuple[str, bool]:
    """An ed25519 key pair at path (+ .pub); returns ('ssh-ed25519 AAAA...', created)."""
    public_path = path.with_name(path.name + ".pub")
    if path.exists() and public_path.exists():
        return " ".join(public_path.read_text().split()[:2]), False
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                           serialization.PublicFormat.OpenSSH).decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    public_path.write_text(f"{public} {comment}\n")
    return public, True


# -- step 3: kernel ----------------------------------------------------------------------

def _dpkg_version_cmp(a: str, b: str) -> int:
    if subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0:
        return -1
    return 0 if a == b else 1


def _choose_kernel_package() -> str:
    """The concrete linux-image-*-cloud-amd64 package behind the newest cloud meta-package.

    Debian 12 offers both linux-image-cloud-amd64 (6.1) and linux-image-6.12-cloud-amd64;
    only 6.12 has ip_vs_twos, so the newest one wins.
    """
    override = os.environ.get("LBADMIN_LAB_KERNEL_PACKAGE")
    if override:
        return override
    names = _run(["apt-cache", "pkgnames", "linux-image-"]).split()
    metas = [n for n in names if re.fullmatch(r"linux-image-(\d+\.\d+-)?cloud-amd64", n)]
    if not metas:
        raise LabBuildError("apt knows no linux-image-*cloud-amd64 package; run apt-get update")
    # One apt-cache call for all of them: each call costs about a second.
    policy = _run(["apt-cache", "policy", *metas])
    candidates = {
        name: version
        for name, version in re.findall(r"^(\S+):\n\s+Installed:.*\n\s+Candidate:\s*(\S+)", policy, re.M)
        if version != "(none)"
    }
    if not candidates:
        raise LabBuildError("apt offers no linux-image-*cloud-amd64 package; run apt-get update")
    newest = max(candidates, key=functools.cmp_to_key(lambda a, b: _dpkg_version_cmp(candidates[a], candidates[b])))
    for line in _run(["apt-cache", "depends", newest]).splitlines():
        match = re.fullmatch(r"\s*Depends:\s*(linux-image-\S+-cloud-amd64)", line)
        if match:
            return match.group(1)
    raise LabBuildError(f"{newest} names no kernel package it depends on")


def _ensure_kernel_tree() -> tuple[str, Path, bool]:
    """(package, unpacked tree, downloaded now): download and unpack once, then reuse."""
    layout.KERNEL_DIR.mkdir(parents=True, exist_ok=True)
    if layout.CHOSEN_KERNEL.exists():
        package = layout.CHOSEN_KERNEL.read_text().strip()
    else:
        package = _choose_kernel_package()
    tree = layout.KERNEL_DIR / package
    if (tree / ".complete").exists():
        layout.CHOSEN_KERNEL.write_text(package + "\n")
        return package, tree, False

    layout.DOWNLOADS_DIR.mkdir(parents=True, exist_ok=True)
    debs = sorted(layout.DOWNLOADS_DIR.glob(f"{package}_*.deb"))
    if not debs:
        _run(["apt-get", "download", package], cwd=layout.DOWNLOADS_DIR)
        debs = sorted(layout.DOWNLOADS_DIR.glob(f"{package}_*.deb"))
    if not debs:
        raise LabBuildError(f"apt-get download {package} left no .deb in {layout.DOWNLOADS_DIR}")
    partial = tree.with_name(tree.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run(["dpkg-deb", "-x", str(debs[-1]), str(partial)])
    _kernel_version(partial)  # exactly one kernel inside, or say so now
    (partial / ".complete").touch()
    shutil.rmtree(tree, ignore_errors=True)
    partial.rename(tree)
    layout.CHOSEN_KERNEL.write_text(package + "\n")
    return package, tree, True


def _kernel_version(tree: Path) -> str:
    versions = [p.name for p in (tree / "lib/modules").iterdir() if p.is_dir()]
    if len(versions) != 1:
        raise LabBuildError(f"{tree}: expected one kernel under lib/modules, found {versions}")
    return versions[0]


# -- step 4: modules ---------------------------------------------------------------------

def _module_name(path: str | Path) -> str:
    return Path(path).name.split(".ko")[0].replace("-", "_")


def _read_module(path: Path) -> bytes:
    """A module's ELF bytes; decompressed, so that busybox modprobe (no xz) can load it."""
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise LabBuildError(f"{path}: only uncompressed or xz-compressed modules are handled")


def _modinfo(elf: bytes) -> dict[str, str]:
    """A module's .modinfo section ("key=value" strings separated by NULs) as a dict.

    Read from the ELF section headers directly: asking depmod for the dependencies instead
    would mean running it over the whole kernel tree, several seconds per cold build.
    """
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        raise LabBuildError("not a 64-bit ELF module")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:  # name offset, file offset, size
        base = shoff + index * shentsize
        name, = struct.unpack_from("<I", elf, base)
        offset, size = struct.unpack_from("<QQ", elf, base + 0x18)
        return name, offset, size

    _, names_offset, _ = section(shstrndx)
    for index in range(shnum):
        name, offset, size = section(index)
        if elf[names_offset + name:elf.index(b"\0", names_offset + name)] == b".modinfo":
            entries = elf[offset:offset + size].split(b"\0")
            return dict(e.decode(errors="replace").partition("=")[::2] for e in entries if b"=" in e)
    return {}


def _install_modules(kernel_tree: Path, version: str, rootfs: Path) -> list[str]:
    """Copy WANTED_MODULES and their dependencies into rootfs, run depmod; names to load."""
    source = kernel_tree / "lib/modules" / version
    target = rootfs / "lib/modules" / version
    available = {_module_name(p): p for p in (source / "kernel").rglob("*.ko*")}
    builtin = {_module_name(line) for line in (source / "modules.builtin").read_text().split()}

    installed: set[str] = set()

    def install(name: str) -> None:
        if name in installed:
            return
        installed.add(name)
        path = available[name]
        elf = _read_module(path)
        relative = path.relative_to(source).as_posix().removesuffix(".xz")
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        (target / relative).write_bytes(elf)
        for dependency in filter(None, _modinfo(elf).get("depends", "").split(",")):
            install(dependency.replace("-", "_"))

    to_load = []
    for name in WANTED_MODULES:
        if name in available:
            install(name)
            to_load.append(name)
        elif name not in builtin:
            raise LabBuildError(f"this kernel has no module {name}")
    for name in ("modules.builtin", "modules.builtin.modinfo", "modules.order"):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    _run(["depmod", "-b", str(rootfs), version])
    return to_load


# -- step 5: root tree -------------------------------------------------------------------

def _copy_file(source: Path, target: Path, mode: int | None = None) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    shutil.copyfile(source, target)  # follows symlinks: the guest gets the real bytes
    os.chmod(target, mode if mode is not None else (source.stat().st_mode & 0o777))


def _assemble_rootfs(rootfs: Path, binaries: dict[str, Path], host_key: Path,
                     client_public: str) -> None:
    for directory in GUEST_DIRS:
        (rootfs / directory).mkdir(parents=True, exist_ok=True)
    for source in sorted(GUEST_OVERLAY.rglob("*")):
        if source.is_file():
            target = rootfs / source.relative_to(GUEST_OVERLAY)
            executable = os.access(source, os.X_OK) or source.name in ("init", "boot.sh") \
                or source.parent.name == "bin"
            _copy_file(source, target, 0o755 if executable else 0o644)

    for guest_path, host_path in binaries.items():
        _copy_file(host_path, rootfs / guest_path, 0o755)
        for library in _libraries(host_path):
            _copy_file(library, rootfs / library.relative_to("/"), 0o755)

    # busybox applets as symlinks, except where a real program stands (iproute2's ip).
    shipped = {Path(p).name for p in binaries}
    listing = _run([str(binaries["bin/busybox"]), "--list-full"]).split()
    for applet in listing:
        link = rootfs / applet
        if Path(applet).name in shipped or link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to("/bin/busybox")
    if not (rootfs / "bin/sh").is_symlink():
        raise LabBuildError("busybox did not list sh")

    _copy_file(host_key, rootfs / "etc/ssh/ssh_host_ed25519_key", 0o600)
    (rootfs / "root/.ssh/authorized_keys").write_text(client_public + " lbadmin-lab-client\n")
    (rootfs / "etc/lab/network.conf").write_text(topology.network_conf())
    (rootfs / "etc/lab/real-servers.conf").write_text(topology.real_servers_conf())
    (rootfs / "etc/lab/vips.conf").write_text(topology.vips_conf())
    (rootfs / "etc/lab/check-forwards.conf").write_text(topology.check_forwards_conf())
    (rootfs / "etc/lab/director.ip").write_text(topology.director_batch())
    (rootfs / "etc/lab/netns").mkdir()
    (rootfs / "etc/lab/netns" / f"{topology.CLIENT_NAMESPACE}.ip").write_text(topology.client_batch())
    for rs in topology.REAL_SERVERS.values():
        (rootfs / "etc/lab/netns" / f"{rs.name}.ip").write_text(topology.real_server_batch(rs))
    (rootfs / "etc/lab/pair.conf").write_text(topology.pair_conf())
    (rootfs / "etc/lab/pair.ip").write_text(topology.pair_batch())
    for host in [*topology.PAIR_DIRECTORS.values(), *topology.PAIR_REAL_SERVERS.values(), topology.PAIR_CLIENT]:
        (rootfs / "etc/lab/netns" / f"{host.name}.ip").write_text(topology.pair_host_batch(host))
    _run(["gcc", "-static", "-O2", "-Wall", "-Werror", "-o", str(rootfs / "usr/local/bin/lab-probe"),
          str(PROBE_SOURCE)])
    for path in (rootfs / "etc/shadow", rootfs / "root/.ssh/authorized_keys"):
        os.chmod(path, 0o600)


# -- cache key ---------------------------------------------------------------------------

def _fingerprint(package: str, binaries: dict[str, Path], keys: Iterable[str]) -> str:
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    sources = [here / name for name in ("build.py", "initramfs.py", "topology.py")] + [PROBE_SOURCE] + sorted(
        p for p in GUEST_OVERLAY.rglob("*") if p.is_file())
    for path in sources:
        digest.update(f"{path.relative_to(layout.PACKAGE_DIR)}\0".encode())
        digest.update(path.read_bytes())
    digest.update(package.encode())
    for key in keys:
        digest.update(key.encode())
    for host_path in binaries.values():
        for path in [host_path, *_libraries(host_path)]:
            info = path.stat()
            digest.update(f"{path}\0{info.st_size}\0{info.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _image_is_current(fingerprint: str) -> bool:
    if not all(p.exists() for p in (layout.KERNEL_IMAGE, layout.INITRAMFS, layout.HOST_KEY_PUB, layout.MANIFEST)):
        return False
    try:
        return json.loads(layout.MANIFEST.read_text()).get("fingerprint") == fingerprint
    except ValueError:
        return False


def _image_from_manifest() -> LabImage:
    manifest = json.loads(layout.MANIFEST.read_text())
    return LabImage(
        kernel=layout.KERNEL_IMAGE,
        initramfs=layout.INITRAMFS,
        kernel_version=manifest["kernel_version"],
        host_key=layout.HOST_KEY_PUB.read_text().strip(),
        client_key=layout.CLIENT_KEY,
    )


# -- the build ---------------------------------------------------------------------------

def ensure_built(force: bool = False, log: Log = _print) -> LabImage:
    """Build what is missing or stale and return the image; safe to call from many processes."""
    layout.LAB_DIR.mkdir(parents=True, exist_ok=True)
    with open(layout.BUILD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second build waits, then finds the cache
        return _build(force, log)


def _build(force: bool, log: Log) -> LabImage:
    progress = _Progress(log)
    began = started = time.monotonic()
    binaries = _host_binaries()
    progress.step("host tools", "found " + ", ".join(str(p) for p in binaries.values()), started)

    started = time.monotonic()
    client_public, client_new = _ensure_key(layout.CLIENT_KEY, "lbadmin-lab-client")
    host_public, host_new = _ensure_key(layout.GUEST_HOST_KEY, "lbadmin-lab-guest")
    progress.step("keys", "generated" if client_new or host_new else "cached", started)

    started = time.monotonic()
    package, kernel_tree, downloaded = _ensure_kernel_tree()
    version = _kernel_version(kernel_tree)
    progress.step("kernel", f"{package} {'downloaded and unpacked' if downloaded else 'cached'}", started)

    started = time.monotonic()
    fingerprint = _fingerprint(package, binaries, (client_public, host_public))
    if not force and _image_is_current(fingerprint):
        progress.step("modules", "cached", started)
        progress.step("root tree", "cached", started)
        progress.step("initramfs", f"cached {layout.INITRAMFS}", started)
        log(f"lab build: done in {time.monotonic() - began:.1f} s (nothing to do)")
        return _image_from_manifest()

    rootfs = layout.STAGING_DIR / "rootfs"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.mkdir(parents=True)
    to_load = _install_modules(kernel_tree, version, rootfs)
    (rootfs / "etc/lab").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/lab/modules.conf").write_text("\n".join(to_load) + "\n")
    module_count = sum(1 for _ in (rootfs / "lib/modules").rglob("*.ko"))
    progress.step("modules", f"{module_count} modules for {version}, depmod done", started)

    started = time.monotonic()
    _assemble_rootfs(rootfs, binaries, layout.GUEST_HOST_KEY, client_public)
    progress.step("root tree", f"{rootfs}", started)

    started = time.monotonic()
    layout.IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    write_initramfs(rootfs, layout.INITRAMFS, CHAR_DEVICES)
    shutil.copyfile(kernel_tree / "boot" / f"vmlinuz-{version}", layout.KERNEL_IMAGE)
    layout.HOST_KEY_PUB.write_text(host_public + "\n")
    layout.KNOWN_HOSTS.write_text(f"{layout.KNOWN_HOSTS_ALIAS} {host_public}\n")
    layout.MANIFEST.write_text(json.dumps({
        "fingerprint": fingerprint,
        "kernel_package": package,
        "kernel_version": version,
        "modules": to_load,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")
    size_mb = layout.INITRAMFS.stat().st_size / 1e6
    progress.step("initramfs", f"{layout.INITRAMFS} ({size_mb:.1f} MB)", started)
    log(f"lab build: done in {time.monotonic() - began:.1f} s")
    return _image_from_manifest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.build", description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild the initramfs even if nothing changed")
    args = parser.parse_args(argv)
    try:
        image = ensure_built(force=args.force)
    except LabBuildError as exc:
        print(f"lab build: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"kernel": str(image.kernel), "initramfs": str(image.initramfs),
                      "kernel_version": image.kernel_version, "host_key": image.host_key,
                      "client_key": str(image.client_key)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
