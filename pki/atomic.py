"""Crash-safe file writes: temp file in the same directory, fsync, then ``os.replace``.

A reader sees either the old file or the complete new one, never a partial write. Temp files
are named ``.<name>.tmp-<random>`` so an interrupted run's leftovers are recognisable and
:func:`remove_stale_temps` can sweep them.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TEMP_MARK = ".tmp-"
KEY_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o700


def temp_path_for(path: Path) -> Path:
    """A fresh, unused temp name next to ``path``."""
    return path.with_name(f".{path.name}{TEMP_MARK}{secrets.token_hex(6)}")


def stage(path: Path, data: bytes, *, mode: int) -> Path:
    """Write ``data`` to a temp file next to ``path`` with ``mode``, fsync it and return its name.

    The file is created with ``mode`` from the start (O_EXCL), so a private key is never readable
    by others, not even for an instant.
    """
    temp = temp_path_for(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have removed bits; set exactly what was asked
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        temp.unlink(missing_ok=True)
        raise
    os.close(fd)
    return temp


def publish(temp: Path, path: Path) -> None:
    """Atomically move a staged temp file to its final name."""
    os.replace(temp, path)


def fsync_dir(directory: Path) -> None:
    """fsync a directory so the renames in it survive a power loss."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = PUBLIC_MODE, sync_dir: bool = True) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + os.replace [+ directory fsync])."""
    temp = stage(path, data, mode=mode)
    try:
        publish(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


def remove_stale_temps(directory: Path) -> list[Path]:
    """Delete temp files an interrupted run left in ``directory``; return what was removed."""
    removed = []
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.name.startswith(".") and TEMP_MARK in entry.name and entry.is_file():
                entry.unlink(missing_ok=True)
                removed.append(entry)
    return removed


def make_private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700 whatever the umask (under ``umask 000`` ``mkdir`` would make it 0777).

    Missing parents are created as ``mkdir`` would (they are outside the PKI folder); an existing
    directory is left as it is.
    """
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:
        if not path.is_dir():
            raise
        return
    os.chmod(path, DIR_MODE)  # mkdir's mode is filtered by the umask; set exactly 0700
