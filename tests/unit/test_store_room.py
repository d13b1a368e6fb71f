"""The embedded store's free-space check before a warning is accepted (``SqliteStore.room``): a reading far
above the reserve is trusted for a quarter second; near the reserve, every warning reads it again."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from router.store import SqliteStore

MIB = 1024 * 1024


def test_room_reads_the_disk_again_once_a_reading_far_above_the_reserve_grows_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free = [300 * MIB]
    reads: list[str] = []
    now = [1000.0]

    def statvfs(path: str | os.PathLike[str]) -> SimpleNamespace:
        reads.append(str(path))
        return SimpleNamespace(f_bavail=free[0] // 4096, f_frsize=4096)

    monkeypatch.setattr("router.store.sqlite.os.statvfs", statvfs)
    monkeypatch.setattr("router.store.sqlite.time.monotonic", lambda: now[0])
    store = SqliteStore(tmp_path / "warnroute.db", reserve_bytes=100 * MIB)

    assert store.room() is None and len(reads) == 1  # 300 MiB: at least twice the reserve
    free[0] = 50 * MIB  # the disk fills
    now[0] += 0.2
    assert store.room() is None and len(reads) == 1  # the reading of 0.2 s ago stands
    now[0] += 0.1
    assert store.room() == (
        f"the disk holding the store ({tmp_path}) has 50.0 MiB free, below the 100 MiB kept for warnings"
        " already accepted"
    )
    free[0] = 150 * MIB  # above the reserve, but within twice it: read for every warning
    assert store.room() is None and store.room() is None and len(reads) == 4
