"""A small filesystem of its own (tmpfs, mounted as root) for the store, and a file that fills it.

``small_disk`` mounts and always unmounts (lazily, so a process still holding a file cannot keep it);
``fill`` writes a filler file until the filesystem has at most ``leave`` bytes free (or none).
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

CHUNK = 256 * 1024


def free_bytes(path: Path) -> int:
    fs = os.statvfs(path)
    return fs.f_bavail * fs.f_frsize


@contextlib.contextmanager
def small_disk(where: Path, megabytes: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={megabytes}m,mode=0755", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(filler: Path, leave: int = 0) -> int:
    """Grow ``filler`` until the filesystem has at most ``leave`` bytes free; returns the bytes free then."""
    with filler.open("ab", buffering=0) as out:
        while (free := free_bytes(filler.parent)) > leave:
            try:
                out.write(b"\0" * min(CHUNK, max(4096, free - leave)))
                os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                break
    return free_bytes(filler.parent)
