"""The collector's timing for a bulk run (the bench): the deployed cloud frozen, the young generation collected less often.

CPython's cyclic collector re-scans the deployed cloud (moto backends, parsed programs, clients) every time the old
generation grows by a quarter. :func:`bulk_gc` freezes what exists and collects the young generation less often while
a bulk run creates objects. Only the collector's timing changes, never what a program computes. It is not part of
:func:`localcloud.speedups.install`: ``bench`` enters it after deploying (its time counts in the figures).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


class BulkGc:
    """The collector settings of a bulk run; :meth:`checkpoint` between batches."""

    def checkpoint(self) -> None:
        """Collect the young generations, then freeze the survivors (the devices onboarded so far).

        Full collections would otherwise re-scan every earlier device's state, a cost that grows
        with the run; young collections still find the cycles the next batch makes.
        """
        gc.collect(1)
        gc.freeze()


@contextmanager
def bulk_gc(young_threshold: int = 20_000) -> Iterator[BulkGc]:
    """For a bulk run (the bench) after deploying: collect once, freeze the survivors, collect less often.

    Frozen objects (the deployed cloud) are not scanned again; the young generation is collected
    every ``young_threshold`` net allocations instead of 700, so cyclic garbage made in the block
    lives a little longer. Only the collector's timing changes, never what a program computes. The
    block ends with the previous thresholds restored, the frozen objects unfrozen and a full collection.
    """
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(young_threshold, thresholds[1], thresholds[2])
    try:
        yield BulkGc()
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
        gc.collect()
