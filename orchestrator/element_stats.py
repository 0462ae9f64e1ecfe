"""Time spent per element, counted by the commands into log-scale histograms (table `element_stat`).

A command that finishes elements adds one pass per element to the bucket of its duration, and one pass per
flow it took (``source>target``, bucket -1), in a single upsert. Medians and p90s are read back from the
buckets (`quantile`): within one bucket's width (about 19 %), at a cost independent of how many cases ran.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

BUCKETS_PER_DOUBLING = 4
FLOW_BUCKET = -1
SHARDS = 8  # concurrent commands on the same element mostly write different rows


def bucket_of(seconds: float) -> int:
    """0 for under a second; then 4 buckets per doubling of the duration (bucket 1 starts at 1 s)."""
    if seconds < 1:
        return 0
    return 1 + int(math.floor(BUCKETS_PER_DOUBLING * math.log2(seconds)))


def bucket_seconds(bucket: int) -> float:
    """A representative duration of a bucket: the geometric middle of its bounds (0.5 s for bucket 0)."""
    if bucket <= 0:
        return 0.5 if bucket == 0 else 0.0
    low = 2 ** ((bucket - 1) / BUCKETS_PER_DOUBLING)
    return low * 2 ** (0.5 / BUCKETS_PER_DOUBLING)


def quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0..1) of a {bucket: passes} histogram, as a duration in seconds; None if empty."""
    total = sum(histogram.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return bucket_seconds(bucket)
    return bucket_seconds(max(histogram))


def merged(rows: Iterable[tuple[int, int]]) -> dict[int, int]:
    """{bucket: passes} summed over (bucket, passes) rows, e.g. of several shards or versions."""
    histogram: dict[int, int] = {}
    for bucket, passes in rows:
        histogram[bucket] = histogram.get(bucket, 0) + passes
    return histogram
