"""Publishing a key and its certificate so that they become visible together or not at all.

Both are staged first (temp file + fsync, see :mod:`pki.atomic`); then the key is renamed into
place, then the certificate. If the certificate rename fails the key is removed again, so a key
is never left without its certificate by anything short of SIGKILL or a power cut between the two
renames (:func:`pki.recovery.recover` cleans that up). Bulk staging runs in a thread pool.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from pki import atomic
from pki.authority import IssuedCertificate
from pki.keys import private_key_pem


@dataclass
class Staged:
    """A device/server whose key and certificate are written to temp files, not yet visible."""

    issued: IssuedCertificate
    key_path: Path
    cert_path: Path
    key_temp: Path | None = None
    cert_temp: Path | None = None

    def discard(self) -> None:
        """Remove whatever temp files are still unpublished."""
        for temp in (self.key_temp, self.cert_temp):
            if temp is not None:
                temp.unlink(missing_ok=True)
        self.key_temp = self.cert_temp = None


def stage_pair(staged: Staged) -> Staged:
    """Write the certificate and the key (if generated here) to fsynced temp files."""
    try:
        staged.cert_temp = atomic.stage(staged.cert_path, staged.issued.certificate_pem.encode(), mode=atomic.PUBLIC_MODE)
        if staged.issued.private_key is not None:
            staged.key_temp = atomic.stage(staged.key_path, private_key_pem(staged.issued.private_key), mode=atomic.KEY_MODE)
    except BaseException:
        staged.discard()
        raise
    return staged


def publish_staged(staged: Staged) -> None:
    """Make key and certificate visible, key first; never leave the key without the certificate."""
    try:
        if staged.key_temp is not None:
            atomic.publish(staged.key_temp, staged.key_path)
            staged.key_temp = None
            try:
                assert staged.cert_temp is not None
                atomic.publish(staged.cert_temp, staged.cert_path)
            except BaseException:
                staged.key_path.unlink(missing_ok=True)
                raise
        else:
            assert staged.cert_temp is not None
            atomic.publish(staged.cert_temp, staged.cert_path)
        staged.cert_temp = None
    finally:
        staged.discard()


def publish_pair(key_path: Path, cert_path: Path, issued: IssuedCertificate) -> None:
    """Stage and publish one key/certificate pair (see :func:`publish_staged`)."""
    publish_staged(stage_pair(Staged(issued, key_path, cert_path)))


def stage_all(pool: ThreadPoolExecutor, batch: list[Staged]) -> None:
    """Stage a batch in parallel: concurrent fsyncs share journal commits, which makes bulk
    issuance several times faster than one fsync after another. All or nothing: on any failure
    every temp file of the batch is removed and the first error raised."""
    futures = [pool.submit(stage_pair, staged) for staged in batch]
    wait(futures)
    errors = [error for error in (f.exception() for f in futures) if error is not None]
    if errors:
        for staged in batch:
            staged.discard()
        raise errors[0]
