"""Where the lab keeps its files: everything under <repo>/.lab/ (gitignored).

Derived from this file's place in the repository, not from a fixed path, because CI
runs in a fresh clone somewhere else.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = REPO_ROOT / ".lab"

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
