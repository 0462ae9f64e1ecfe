"""The RMA number as images both the HTML page and the PDF show: a Code 39 barcode (what warehouse scanners
read) and a QR code (segno). PNG data URIs, so the page needs no extra route and fpdf2 draws the same bytes."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import segno

# Code 39: per character, 9 elements (bar, space, bar, …, bar), n = narrow, w = wide
CODE39 = {
    "0": "nnnwwnwnn", "1": "wnnwnnnnw", "2": "nnwwnnnnw", "3": "wnwwnnnnn", "4": "nnnwwnnnw", "5": "wnnwwnnnn",
    "6": "nnwwwnnnn", "7": "nnnwnnwnw", "8": "wnnwnnwnn", "9": "nnwwnnwnn", "A": "wnnnnwnnw", "B": "nnwnnwnnw",
    "C": "wnwnnwnnn", "D": "nnnnwwnnw", "E": "wnnnwwnnn", "F": "nnwnwwnnn", "G": "nnnnnwwnw", "H": "wnnnnwwnn",
    "I": "nnwnnwwnn", "J": "nnnnwwwnn", "K": "wnnnnnnww", "L": "nnwnnnnww", "M": "wnwnnnnwn", "N": "nnnnwnnww",
    "O": "wnnnwnnwn", "P": "nnwnwnnwn", "Q": "nnnnnnwww", "R": "wnnnnnwwn", "S": "nnwnnnwwn", "T": "nnnnwnwwn",
    "U": "wwnnnnnnw", "V": "nwwnnnnnw", "W": "wwwnnnnnn", "X": "nwnnwnnnw", "Y": "wwnnwnnnn", "Z": "nwwnwnnnn",
    "-": "nwnnnnwnw", ".": "wwnnnnwnn", " ": "nwwnnnwnn", "$": "nwnwnwnnn", "/": "nwnwnnnwn", "+": "nwnnnwnwn",
    "%": "nnnwnwnwn", "*": "nwnnwnwnn",
}
NARROW, WIDE, QUIET = 2, 5, 20  # pixels; quiet zone of ten narrow bars each side
MAX_BARCODE_WIDTH = 480  # points in the PDF (17 cm), pixels on the page


def code39_modules(text: str) -> list[bool]:
    """The barcode as one row of pixels (True = bar), start and stop characters and quiet zones included."""
    row = [False] * QUIET
    for char in f"*{text}*":
        for index, element in enumerate(CODE39[char]):
            row += [index % 2 == 0] * (WIDE if element == "w" else NARROW)
        row += [False] * NARROW  # the gap between characters
    return row + [False] * (QUIET - NARROW)


def _png(rows: list[list[bool]]) -> bytes:
    """A black-and-white PNG of the rows (True = black), written without an imaging library."""
    height, width = len(rows), len(rows[0])
    raw = b"".join(b"\x00" + bytes(0 if dark else 255 for dark in row) for row in rows)
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def code39_png(text: str, height: int = 80) -> bytes:
    row = code39_modules(text)
    return _png([row] * height)


def code39_data_uri(text: str) -> str:
    return _data_uri(code39_png(text))


def code39_width(text: str, widest: int = MAX_BARCODE_WIDTH) -> int:
    """How wide to show the barcode (CSS px; PDF points): one unit per pixel, a long number squeezed to fit."""
    return min(len(code39_modules(text)), widest)


def qr_png(text: str) -> bytes:
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="png", scale=8, border=2)
    return buffer.getvalue()


def qr_data_uri(text: str) -> str:
    return _data_uri(qr_png(text))
