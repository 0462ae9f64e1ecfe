"""A report's HTML (its print variant, same template as the page) laid out as an A4 PDF by fpdf2's write_html.

Fonts as the audit report finds them (web/audit_pdf.py): DejaVu Sans (or Liberation Sans) for Latin text, and
Noto Sans CJK (fonts-noto-cjk) as the fallback for Chinese, looked for under /usr/share/fonts. Without any of
them the built-in Helvetica draws the Latin-1 part and the rest shows as '?', never an error."""

from __future__ import annotations

import re
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TextStyle

from web.audit_pdf import CJK_FONTS, FONTS, LATIN_FONTS, PagedPdf

HEADING = "#1f2a44"


def cjk_font() -> tuple[Path, Path, int] | None:
    """(regular, bold, face number) of a Chinese font: Noto Sans CJK SC where Debian puts it, else the first
    CJK collection or OpenType font found under /usr/share/fonts."""
    known = next(((r, b, n) for r, b, n in CJK_FONTS if r.is_file()), None)
    if known is not None:
        return known
    for pattern in ("**/*CJK*Regular.ttc", "**/*CJK*sc*Regular.otf", "**/*SC-Regular.otf", "**/wqy*.ttc"):
        found = sorted(FONTS.glob(pattern)) if FONTS.is_dir() else []
        if found:
            bold = Path(str(found[0]).replace("Regular", "Bold"))
            return found[0], bold if bold.is_file() else found[0], 2 if found[0].suffix == ".ttc" else 0
    return None


def _add_family(pdf: FPDF, family: str, regular: Path, bold: Path, number: int = 0) -> bool:
    try:
        for style, path in (("", regular), ("B", bold), ("I", regular), ("BI", bold)):
            pdf.add_font(family, style, str(path if path.is_file() else regular), collection_font_number=number)
    except Exception:  # noqa: BLE001 - an unreadable font file: draw with the others
        return False
    return True


def _fonts(pdf: FPDF, text: str) -> str:
    """Register the fonts the text needs; the family to write with."""
    latin = next(((r, b) for r, b in LATIN_FONTS if r.is_file()), None)
    if latin is None or not _add_family(pdf, "latin", *latin):
        return "helvetica"
    cmap = pdf.fonts["latin"].cmap
    if any(ord(ch) not in cmap for ch in text if not ch.isspace()):
        cjk = cjk_font()
        if cjk is not None and _add_family(pdf, "cjk", *cjk):
            pdf.set_fallback_fonts(["cjk"], exact_match=False)
    return "latin"


def _drawable(family: str, html: str) -> str:
    if family != "helvetica":
        return html
    return html.encode("latin-1", "replace").decode("latin-1")


def html_to_pdf(html: str, *, title: str, footer: str) -> bytes:
    """The report's print HTML as PDF bytes."""
    pdf = PagedPdf(format="A4")
    pdf.set_margins(15, 12, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(title)
    pdf.set_creator("Loopline")
    family = _fonts(pdf, html)
    pdf.footer_text = _drawable(family, footer)
    pdf.set_font(family, size=10)
    pdf.add_page()
    styles = {
        "h1": TextStyle(font_family=family, font_style="B", font_size_pt=16, color=HEADING, t_margin=0, b_margin=2),
        "h2": TextStyle(font_family=family, font_style="B", font_size_pt=12.5, color=HEADING, t_margin=1, b_margin=1),
        "h3": TextStyle(font_family=family, font_style="B", font_size_pt=10.5, color=HEADING, t_margin=2, b_margin=0),
        "p": TextStyle(font_family=family, font_size_pt=10, t_margin=1, b_margin=1),
    }
    html = re.sub(r">\s+<", "><", html.strip())  # write_html would draw the template's line breaks as blank lines
    pdf.write_html(_drawable(family, html), font_family=family, tag_styles=styles, table_line_separators=True,
                   li_prefix_color=(60, 60, 60), warn_on_tags_not_matching=False)
    return bytes(pdf.output())
