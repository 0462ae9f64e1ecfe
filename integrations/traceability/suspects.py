"""What a recall starts from: suspect lots, suspect serials and serial ranges, checked before any query.

A serial range is `{"sku": "K2", "from": "K2-000100", "to": "K2-000199"}`: both ends have the same text before
a run of trailing digits and the same length, `from` ≤ `to`; it covers every unit commissioned under that SKU
whose serial has that prefix, that length and trailing digits between the two (inclusive). Zero-padded,
fixed-width serials are how manufacturers print them; a range without that shape is refused, not guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 100
MAX_LOTS = 1000
MAX_SERIALS = 10_000
MAX_RANGES = 100
TRAILING_DIGITS = re.compile(r"^(.*?)(\d+)$", re.S)


class InvalidSuspects(ValueError):
    """Input that names no suspect, or names one in a shape that cannot be searched; `field` says where."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class SerialRange:
    sku: str
    first: str
    last: str

    @property
    def prefix(self) -> str:
        return TRAILING_DIGITS.match(self.first).group(1)

    def label(self) -> str:
        return f"{self.sku} {self.first}..{self.last}"


@dataclass(frozen=True)
class Suspects:
    lots: tuple[tuple[str, str], ...] = ()  # (sku, lot)
    serials: tuple[str, ...] = ()
    ranges: tuple[SerialRange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.lots or self.serials or self.ranges)


def _text(value: Any, field: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise InvalidSuspects(field, "is required")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise InvalidSuspects(field, f"must be text, not {type(value).__name__}")
    text = str(value).strip()
    if required and not text:
        raise InvalidSuspects(field, "is required")
    if len(text) > MAX_TEXT:
        raise InvalidSuspects(field, f"is longer than {MAX_TEXT} characters")
    return text


def _listed(value: Any, field: str, limit: int) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, Mapping):
        value = [value]
    elif isinstance(value, str):
        value = [part for part in re.split(r"[\s,;]+", value) if part]  # pasted from a form: one per line
    if not isinstance(value, (list, tuple)):
        raise InvalidSuspects(field, f"must be a list, not {type(value).__name__}")
    if len(value) > limit:
        raise InvalidSuspects(field, f"names {len(value)} entries; at most {limit} at once")
    return list(value)


def parse_serial_range(entry: Any, field: str) -> SerialRange:
    """One range, or InvalidSuspects saying which end is wrong and how."""
    if not isinstance(entry, Mapping):
        raise InvalidSuspects(field, 'must be an object {"sku": …, "from": …, "to": …}')
    unknown = sorted(set(entry) - {"sku", "from", "to"})
    if unknown:
        raise InvalidSuspects(field, f"unknown field(s) {', '.join(unknown)}; a range has sku, from and to")
    sku = _text(entry.get("sku"), f"{field}.sku", required=True)
    first = _text(entry.get("from"), f"{field}.from", required=True)
    last = _text(entry.get("to"), f"{field}.to", required=True)
    first_match, last_match = TRAILING_DIGITS.match(first), TRAILING_DIGITS.match(last)
    if not first_match:
        raise InvalidSuspects(f"{field}.from", f"{first!r} does not end in digits")
    if not last_match:
        raise InvalidSuspects(f"{field}.to", f"{last!r} does not end in digits")
    if len(first) != len(last):
        raise InvalidSuspects(field, f"{first!r} and {last!r} differ in length; write both ends with the same "
                                     "number of digits (zero-padded)")
    if first_match.group(1) != last_match.group(1):
        raise InvalidSuspects(field, f"{first!r} and {last!r} differ before their trailing digits "
                                     f"({first_match.group(1)!r} vs {last_match.group(1)!r})")
    if int(first_match.group(2)) > int(last_match.group(2)):
        raise InvalidSuspects(field, f"'from' {first!r} comes after 'to' {last!r}")
    return SerialRange(sku, first, last)


def parse_suspects(lots: Any = None, serials: Any = None, ranges: Any = None) -> Suspects:
    """Suspect lots [{sku, lot}], serials [epc] and serial ranges [{sku, from, to}], validated and deduplicated."""
    parsed_lots: list[tuple[str, str]] = []
    for index, entry in enumerate(_listed(lots, "suspectLots", MAX_LOTS)):
        field = f"suspectLots.{index}"
        if not isinstance(entry, Mapping):
            raise InvalidSuspects(field, 'must be an object {"sku": …, "lot": …}')
        parsed_lots.append((_text(entry.get("sku"), f"{field}.sku", required=False),
                            _text(entry.get("lot"), f"{field}.lot", required=True)))
    parsed_serials = [_text(serial, f"suspectSerials.{index}", required=True)
                      for index, serial in enumerate(_listed(serials, "suspectSerials", MAX_SERIALS))]
    parsed_ranges = [parse_serial_range(entry, f"serialRanges.{index}")
                     for index, entry in enumerate(_listed(ranges, "serialRanges", MAX_RANGES))]
    return Suspects(_unique(parsed_lots), _unique(parsed_serials), _unique(parsed_ranges))


def _unique(values: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values))
