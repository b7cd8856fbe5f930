"""The restriction of an endless bus reader (local bus or Kafka).

An unbounded splittable DoFn claims one position per bundle in an offset range
that never ends; it is never split up front (one reader per consumer, workers
scale by the bus's partitions). On drain the remainder is dropped: records not
yet acknowledged stay on the bus and are read again.
"""

from __future__ import annotations

import sys
from typing import Any, Iterator

from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.transforms.core import RestrictionProvider

END = sys.maxsize


class EndlessRestrictions(RestrictionProvider):
    """An infinite offset range over bundle positions; never split up front."""

    def initial_restriction(self, element: Any) -> OffsetRange:
        return OffsetRange(0, END)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element: Any, restriction: OffsetRange) -> int:
        return 1

    def split(self, element: Any, restriction: OffsetRange) -> Iterator[OffsetRange]:
        yield restriction

    def truncate(self, element: Any, restriction: OffsetRange) -> None:
        return None  # on drain, stop reading: unacknowledged records stay on the bus
