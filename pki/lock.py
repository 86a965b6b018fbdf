"""The directory lock that serialises commands writing to one PKI directory."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Iterator

from pki import atomic
from pki.errors import PkiError
from pki.layout import Layout

LOCK_TIMEOUT_SECONDS = 30.0


@contextlib.contextmanager
def locked(layout: Layout, timeout: float = LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
    """Hold the directory's exclusive write lock (waits up to ``timeout`` seconds)."""
    atomic.make_private_dir(layout.root)
    fd = os.open(layout.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() > deadline:
                    raise PkiError(
                        f"another pki command is writing to {layout.root} (lock {layout.lock.name} held): "
                        "wait for it to finish and retry"
                    ) from exc
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
