"""Write a directory tree as a gzip-compressed cpio "newc" archive, the initramfs format.

Written in Python rather than piped through cpio(1) so that every entry is owned by root,
device nodes (/dev/console) need no mknod on the host, and the same tree always gives the
same bytes (fixed mtime, sorted names).
"""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

_MAGIC = b"070701"
_MTIME = 0  # fixed, so unchanged inputs give an identical archive


def _header(ino: int, mode: int, size: int, name: bytes, rdev: tuple[int, int] = (0, 0)) -> bytes:
    fields = (
        ino, mode, 0, 0,  # ino, mode, uid, gid: everything belongs to root
        2 if stat.S_ISDIR(mode) else 1,  # nlink
        _MTIME, size,
        0, 0,  # devmajor, devminor of the archive's own device: unused
        rdev[0], rdev[1],
        len(name) + 1,  # the name's NUL counts
        0,  # check: only for the "crc" variant
    )
    return _MAGIC + b"".join(b"%08X" % value for value in fields)


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


class _NewcWriter:
    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._ino = 0

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        self._ino += 1
        encoded = name.encode()
        head = _header(self._ino, mode, len(data), encoded, rdev) + encoded + b"\0"
        self._out.write(head + _pad(len(head)))
        self._out.write(data + _pad(len(data)))

    def close(self) -> None:
        self.add("TRAILER!!!", 0)


def _walk(root: Path) -> Iterator[Path]:
    """Every path under root, parents before children, names sorted."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            yield base / name


def write_initramfs(root: Path, target: Path, char_devices: dict[str, tuple[int, int]]) -> None:
    """Archive root's tree to target (gzip); char_devices adds nodes such as dev/console.

    The kernel needs /dev/console inside the archive: it opens it for /init's stdin,
    stdout and stderr before anything could mount devtmpfs.
    """
    tmp = target.with_suffix(target.suffix + ".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0) as out:
        writer = _NewcWriter(out)
        for path in _walk(root):
            name = path.relative_to(root).as_posix()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                writer.add(name, stat.S_IFLNK | 0o777, os.readlink(path).encode())
            elif stat.S_ISDIR(info.st_mode):
                writer.add(name, stat.S_IFDIR | stat.S_IMODE(info.st_mode))
            elif stat.S_ISREG(info.st_mode):
                writer.add(name, stat.S_IFREG | stat.S_IMODE(info.st_mode), path.read_bytes())
            else:
                raise ValueError(f"{path}: only files, directories and symlinks can go in the initramfs")
        for name, rdev in sorted(char_devices.items()):
            writer.add(name, stat.S_IFCHR | 0o600, rdev=rdev)
        writer.close()
    os.replace(tmp, target)
