"""Where the lab keeps its files (keys, the kernel, the image, logs, run state).

    LBADMIN_LAB_DIR=/some/dir   use that directory (created when needed)
    (unset, in a checkout)      <repo>/.lab/, gitignored, next to manage.py
    (unset, elsewhere)          $XDG_CACHE_HOME/lbadmin-lab, else ~/.cache/lbadmin-lab

A checkout is recognised by manage.py next to this package, not by a fixed path: CI runs
in a fresh clone somewhere else, and the Docker image ships lab/ next to manage.py as
well (its Dockerfile sets LBADMIN_LAB_DIR, since /app is not writable there). An
installed copy (site-packages) has no manage.py beside it and must not write there.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent  # the checkout, when this is one (see lab_dir())


def lab_dir(environ: os._Environ[str] | dict[str, str] = os.environ) -> Path:
    """The lab's working directory, as the module docstring says."""
    override = environ.get("LBADMIN_LAB_DIR")
    if override:
        return Path(override).expanduser().resolve()
    if (REPO_ROOT / "manage.py").is_file():
        return REPO_ROOT / ".lab"
    cache = environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lbadmin-lab"


LAB_DIR = lab_dir()

KEYS_DIR = LAB_DIR / "keys"
CLIENT_KEY = KEYS_DIR / "client_ed25519"  # the key tests and people log in with
GUEST_HOST_KEY = KEYS_DIR / "guest_host_ed25519"  # the guest sshd's private host key

DOWNLOADS_DIR = LAB_DIR / "downloads"  # the kernel .deb, as apt-get downloaded it
KERNEL_DIR = LAB_DIR / "kernel"  # the .deb unpacked, one folder per package
CHOSEN_KERNEL = KERNEL_DIR / "chosen"  # the package picked once, so later builds stay put
STAGING_DIR = LAB_DIR / "build"  # the guest's root tree while it is assembled

IMAGE_DIR = LAB_DIR / "image"
KERNEL_IMAGE = IMAGE_DIR / "vmlinuz"
INITRAMFS = IMAGE_DIR / "initramfs.cpio.gz"
HOST_KEY_PUB = IMAGE_DIR / "host_key.pub"  # the guest's public host key, to pin
MANIFEST = IMAGE_DIR / "manifest.json"
KNOWN_HOSTS = LAB_DIR / "known_hosts"  # for OpenSSH clients: HostKeyAlias lbadmin-lab
KNOWN_HOSTS_ALIAS = "lbadmin-lab"

BUILD_LOCK = LAB_DIR / "build.lock"


def state_path(name: str) -> Path:
    """Where a running lab VM's description lives while `up` (either entry point) runs it."""
    return LAB_DIR / f"{name}.up.json"
