"""case.pdf of a case's audit bundle: the case, the chain's verification, the path taken, the timeline with
who did what when and what they entered, and the variables at the end, in the reader's language.

Drawn with fpdf2 and system fonts: DejaVu Sans (or Liberation Sans) for Latin, Greek and Cyrillic, Noto Sans
CJK for Chinese when the text has any. Without those fonts the report is still drawn, in a built-in font,
with what it cannot show replaced; a character no font has is replaced too, never an error."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from fpdf import FPDF

from orchestrator.audit_bundle import CaseAudit, ChainStatus
from orchestrator.step_state import STATE_EVENT
from web.model_texts import in_reader_language
from web.pages.case_data import entered_values
from web.pages.labels import label

FONTS = Path("/usr/share/fonts")
# (regular, bold) of a font for Latin text, first found wins
LATIN_FONTS = (
    (FONTS / "truetype/dejavu/DejaVuSans.ttf", FONTS / "truetype/dejavu/DejaVuSans-Bold.ttf"),
    (FONTS / "truetype/liberation/LiberationSans-Regular.ttf", FONTS / "truetype/liberation/LiberationSans-Bold.ttf"),
)
# (regular, bold, face in the collection): Noto Sans CJK's collections hold JP, KR, SC, TC, HK in this order
CJK_FONTS = (
    (FONTS / "opentype/noto/NotoSansCJK-Regular.ttc", FONTS / "opentype/noto/NotoSansCJK-Bold.ttc", 2),
    (FONTS / "opentype/noto/NotoSerifCJK-Regular.ttc", FONTS / "opentype/noto/NotoSerifCJK-Bold.ttc", 2),
)
MAX_REPORT_EVENTS = 5_000  # the timeline beyond is in history.jsonl (a report of thousands of pages helps no one)
MAX_VALUE_CHARS = 600
_SHOWN_ELSEWHERE = ("name", "element_type")  # the step's name is in the event's heading
_LATIN1_STANDINS = str.maketrans({"→": "->", "—": "-", "–": "-", "…": "...", "“": '"', "”": '"', "‘": "'", "’": "'"})


@dataclass
class _Block:
    kind: str  # title, heading, pair, text, event, note
    text: str
    value: str = ""
    lines: list[str] = field(default_factory=list)

    def texts(self) -> Iterable[str]:
        yield self.text
        yield self.value
        yield from self.lines


def _utc(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else "—"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + " …"


class _Names:
    """Step names in the reader's language: the model's, a task's recorded name, else the element's kind."""

    def __init__(self, audit: CaseAudit, model):
        self.model, self.names, self.kinds = model, {}, audit.model.element_kinds
        for process in (audit.model.spec, *audit.model.subprocess_specs.values()):
            for spec in process.task_specs.values():
                if getattr(spec, "bpmn_id", None) and getattr(spec, "bpmn_name", None):
                    self.names.setdefault(spec.bpmn_id, spec.bpmn_name)
        for event in audit.history:
            if event.type == "task_created" and event.element_id and event.payload.get("name"):
                self.names.setdefault(event.element_id, event.payload["name"])

    def __call__(self, element_id: str | None) -> str:
        if not element_id:
            return ""
        name = self.model.step_name(element_id, self.names.get(element_id))
        if name:
            return name
        kind = self.kinds.get(element_id)
        return f"{label('element', kind)} ({element_id})" if kind else element_id


def report_blocks(audit: CaseAudit) -> list[_Block]:
    """The report's content, top to bottom."""
    model = in_reader_language(audit.model)
    names = _Names(audit, model)
    case, definition, deployment = audit.instance, audit.definition, audit.deployment
    blocks = [_Block("title", _("Audit report: %(case)s", case=case.business_key or case.id)),
              _Block("heading", _("Case")),
              _Block("pair", _("Business key"), case.business_key or "—"),
              _Block("pair", _("Case id"), case.id),
              _Block("pair", _("Process"), _("%(name)s (%(key)s, version %(version)s)", name=model.title,
                                              key=definition.key, version=definition.version)),
              _Block("pair", _("Deployment"), _("#%(id)s %(name)s, deployed %(at)s by %(by)s", id=deployment.id,
                                                 name=deployment.name, at=_utc(deployment.deployed_at),
                                                 by=deployment.deployed_by)),
              _Block("pair", _("Status"), label("status", case.status)),
              _Block("pair", _("Started"), _("%(at)s by %(by)s", at=_utc(case.started_at), by=case.started_by)),
              _Block("pair", _("Ended"), _utc(case.ended_at)),
              _Block("pair", _("Exported"), _("%(at)s by %(by)s", at=_utc(audit.exported_at), by=audit.exported_by)),
              _Block("heading", _("History chain")),
              _Block("text", _chain_sentence(audit)),
              _Block("pair", _("Events"), str(len(audit.history))),
              _Block("pair", _("Signed head"), audit.history_head or "—"),
              _Block("pair", _("Signed count"), str(audit.history_count)),
              _Block("pair", _("Signature"), audit.history_signature or "—"),
              _Block("note", _("history.jsonl in this bundle holds every event with its hashes; VERIFY.txt says "
                               "how to check them without Loopline.")),
              _Block("heading", _("Path taken"))]
    path = [names(e.element_id) for e in audit.history if e.type == "element_completed" and e.element_id]
    blocks.append(_Block("text", " → ".join(path) if path else _("No step was passed yet.")))
    blocks.append(_Block("heading", _("Timeline")))
    blocks.extend(_timeline(audit, model, names))
    blocks.append(_Block("heading", _("Variables at the end")))
    blocks.append(_Block("note", _("Folded from the variable changes the history records.") if audit.variables_recorded
                         else _("As stored on the case: its history predates recorded variable changes.")))
    variables = audit.end_variables
    for name, value in entered_values(model, {n: variables[n] for n in sorted(variables)}):
        blocks.append(_Block("pair", str(name), _short(_plain(value))))
    if not variables:
        blocks.append(_Block("text", _("No variables.")))
    return blocks


def _plain(value: Any) -> Any:
    """A shown value as text: yes/no in words, files by name."""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict) and "attachmentId" in value:
        return value.get("filename") or value["attachmentId"]
    if isinstance(value, list) and value and all(isinstance(v, dict) and "attachmentId" in v for v in value):
        return ", ".join(str(v.get("filename") or v["attachmentId"]) for v in value)
    return value


def _chain_sentence(audit: CaseAudit) -> str:
    check = audit.chain
    if check.status == ChainStatus.INTACT:
        return _("Intact: all %(count)s events match their hashes and link up, and the signed head and count "
                 "end them.", count=check.events)
    if check.status == ChainStatus.ALTERED:
        return _("ALTERED: event %(seq)s does not match its hash or its predecessor's.", seq=check.first_failing_seq)
    if check.status == ChainStatus.HEAD_MISMATCH:
        return _("ALTERED: the signed head and count (%(count)s events) do not end the %(events)s events recorded: "
                 "events were cut or added.", count=audit.history_count, events=check.events)
    if check.status == ChainStatus.BAD_SIGNATURE:
        return _("ALTERED: the head and count do not carry the audit key's signature.")
    return _("Not signed: the case was recorded before heads were signed; its %(count)s events link up.",
             count=check.events)


def _timeline(audit: CaseAudit, model, names: _Names) -> list[_Block]:
    blocks: list[_Block] = []
    for event in audit.history[:MAX_REPORT_EVENTS]:
        if event.type == STATE_EVENT:
            lines = _state_lines(model, names, event.payload)
            if blocks and blocks[-1].kind == "event":
                blocks[-1].lines.extend(lines)
            elif lines:
                blocks.append(_Block("event", f"#{event.seq}  {_utc(event.at)}  {event.actor}", lines=lines))
            continue
        heading = f"#{event.seq}  {_utc(event.at)}  {event.actor} — {label('event', event.type)}"
        if event.element_id:
            heading += f" — {names(event.element_id)}"
        blocks.append(_Block("event", heading, lines=_event_lines(model, event.payload)))
    if len(audit.history) > MAX_REPORT_EVENTS:
        blocks.append(_Block("note", _("%(count)s later events are left out here; history.jsonl holds them all.",
                                       count=len(audit.history) - MAX_REPORT_EVENTS)))
    return blocks


def _event_lines(model, payload: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in payload.items():
        if key in ("values", "variables") and isinstance(value, dict):
            lines.extend(f"{name}: {_short(_plain(text))}" for name, text in entered_values(model, value))
        elif key not in _SHOWN_ELSEWHERE and value not in (None, "", [], {}):
            lines.append(f"{key}: {_short(value)}")
    return lines


def _state_lines(model, names: _Names, payload: dict[str, Any]) -> list[str]:
    """What the command left behind (its state_recorded event), under its last event."""
    lines = [_("After this command:")]
    lines += [_("set %(name)s = %(value)s", name=name, value=_short(_plain(value)))
              for name, value in entered_values(model, payload.get("set") or {})]
    if payload.get("unset"):
        lines.append(_("removed: %(names)s", names=", ".join(payload["unset"])))
    waiting = [names(element_id) for element_id in payload.get("waiting") or []]
    lines.append(_("then waits in: %(steps)s", steps=", ".join(waiting)) if waiting else _("then waits nowhere"))
    return lines


class PagedPdf(FPDF):
    """An A4 document whose footer reads "<footer_text>   <page>/<pages>" (audit report and printable reports)."""

    footer_text = ""

    def footer(self):
        self.set_y(-12)
        self.set_font(size=8)
        self.set_text_color(110)
        self.cell(0, 6, f"{self.footer_text}   {self.page_no()}/{{nb}}", align="C")


class _Fonts:
    """The fonts found, and what to do with a character none of them has."""

    def __init__(self, pdf: FPDF, texts: list[str]):
        self.family, self.cmaps = "helvetica", []
        latin = next(((r, b) for r, b in LATIN_FONTS if r.is_file()), None)
        if latin is not None:
            self._add(pdf, "latin", latin[0], latin[1], 0)
        needs_more = any(not self.has(ch) for text in texts for ch in text)
        cjk = next(((r, b, n) for r, b, n in CJK_FONTS if r.is_file()), None) if needs_more else None
        if cjk is not None:
            self._add(pdf, "cjk", *cjk)
            if self.family != "cjk":
                pdf.set_fallback_fonts(["cjk"], exact_match=False)

    def _add(self, pdf: FPDF, family: str, regular: Path, bold: Path, number: int) -> None:
        try:
            pdf.add_font(family, "", str(regular), collection_font_number=number)
            pdf.add_font(family, "B", str(bold if bold.is_file() else regular), collection_font_number=number)
        except Exception:  # noqa: BLE001 - an unreadable font file: draw with the others
            return
        self.cmaps.append(pdf.fonts[family].cmap)
        if self.family == "helvetica":
            self.family = family

    def has(self, ch: str) -> bool:
        if ch in " \n":
            return True
        if not self.cmaps:
            return ord(ch) < 256 and ch.isprintable()
        return any(ord(ch) in cmap for cmap in self.cmaps)

    def drawable(self, text: str) -> str:
        """The text with control characters as spaces and every character no font has as '?'."""
        text = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != "\n" else ch
                       for ch in text)
        if not self.cmaps:  # the built-in font: Latin-1 only
            text = text.translate(_LATIN1_STANDINS)
        return "".join(ch if self.has(ch) else "?" for ch in text)


def render_case_report(audit: CaseAudit) -> bytes:
    """The PDF (for AuditExports.case_bundle)."""
    blocks = report_blocks(audit)
    pdf = PagedPdf(format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.set_auto_page_break(True, margin=16)
    pdf.set_title(_("Audit report: %(case)s", case=audit.instance.business_key or audit.instance.id))
    pdf.set_creator("Loopline")
    fonts = _Fonts(pdf, [text for block in blocks for text in block.texts()])
    pdf.footer_text = fonts.drawable(f"{audit.instance.business_key or ''} {audit.instance.id}".strip())
    pdf.set_font(fonts.family, size=10)
    pdf.add_page()
    for block in blocks:
        _draw(pdf, fonts, block)
    return bytes(pdf.output())


def _draw(pdf: FPDF, fonts: _Fonts, block: _Block) -> None:
    family = fonts.family
    write = dict(new_x="LMARGIN", new_y="NEXT", align="L")
    if block.kind == "title":
        pdf.set_font(family, "B", 15)
        pdf.multi_cell(0, 8, fonts.drawable(block.text), **write)
        pdf.ln(2)
    elif block.kind == "heading":
        pdf.ln(3)
        pdf.set_font(family, "B", 12)
        pdf.multi_cell(0, 7, fonts.drawable(block.text), **write)
        pdf.set_draw_color(160)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
        pdf.ln(1.5)
    elif block.kind == "pair":
        pdf.set_font(family, "B", 9)
        text = fonts.drawable(block.text)
        label_height = pdf.multi_cell(48, 5, text, dry_run=True, output="HEIGHT")
        if pdf.will_page_break(label_height):
            pdf.add_page()
        top = pdf.get_y()
        pdf.multi_cell(48, 5, text, new_x="RIGHT", new_y="TOP", align="L")
        pdf.set_font(family, "", 9)
        pdf.multi_cell(0, 5, fonts.drawable(block.value), **write)
        if pdf.get_y() < top + label_height:
            pdf.set_y(top + label_height)
    elif block.kind == "event":
        pdf.ln(1)
        pdf.set_font(family, "B", 9)
        pdf.multi_cell(0, 5, fonts.drawable(block.text), **write)
        pdf.set_font(family, "", 8.5)
        for line in block.lines:
            pdf.set_x(pdf.l_margin + 6)
            pdf.multi_cell(0, 4.5, fonts.drawable(line), **write)
    else:  # text, note
        pdf.set_font(family, "", 8.5 if block.kind == "note" else 9.5)
        pdf.set_text_color(90 if block.kind == "note" else 0)
        pdf.multi_cell(0, 5, fonts.drawable(block.text), **write)
        pdf.set_text_color(0)
