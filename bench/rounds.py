"""Interleaved rounds and their summary, so noise from other processes hits every variant alike.

Variants take turns within a round and the order flips every round (A B, B A, A B …), so a slow spell or a
drift (caches warming, another process starting) lands on each of them about equally. A figure is the median
over rounds; the spread (min, max, and (max - min) / median) says how far to trust it.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence


def emit(figure: str, **fields) -> None:
    """Print one figure as one JSON line."""
    print(json.dumps({"figure": figure, **fields}), flush=True)


def interleave(variants: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Run every variant once per round, flipping the order each round; the samples by variant name."""
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for number in range(rounds):
        for name in names if number % 2 == 0 else reversed(names):
            samples[name].append(variants[name]())
    return samples


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    """Median, min, max and the relative spread of some samples (NaN for a failed sample is left out), times `scale`."""
    values = [value for value in values if math.isfinite(value)]
    if not values:
        return {"median": None}
    median = statistics.median(values)
    return {
        "median": round(median * scale, digits),
        "min": round(min(values) * scale, digits),
        "max": round(max(values) * scale, digits),
        "spread_pct": round(100 * (max(values) - min(values)) / median, 1) if median else 0.0,
    }


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> dict[str, float]:
    """The ratio of two variants measured in the same rounds: the median of the per-round ratios, and its range."""
    ratios = [a / b for a, b in zip(numerators, denominators, strict=True)
              if math.isfinite(a) and math.isfinite(b) and b]
    if not ratios:
        return {"ratio": None}
    return {"ratio": round(statistics.median(ratios), 3), "ratio_min": round(min(ratios), 3),
            "ratio_max": round(max(ratios), 3)}
