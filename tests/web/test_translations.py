"""The Simplified Chinese catalog: every string of the staff pages translated, placeholders kept, .mo compiled.

A failure here means: run the three pybabel commands in README.md ("Translations"), translate what they
report as new, and commit messages.pot, messages.po and messages.mo together.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po, write_po
from flask import Flask, render_template_string
from flask_babel import force_locale, gettext

from web.i18n import init_i18n

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
TRANSLATIONS = WEB / "translations"
POT = TRANSLATIONS / "messages.pot"
PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
HOW_TO_FIX = "see README.md, 'Translations'"

# %(name)s, %s, %5.2f …; the conversion type is group "type" ('%%' is a literal percent sign)
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<type>[diouxXeEfFgGcrsa%])")


def _read_po(path: Path) -> Catalog:
    with path.open("rb") as f:
        return read_po(f)


def _label(message: Message) -> str:
    text = message.id[0] if isinstance(message.id, tuple) else message.id
    where = ", ".join(f"{file}:{line}" for file, line in message.locations[:3])
    return f"{text!r}" + (f" ({where})" if where else "")


def _forms(value: str | tuple) -> tuple[str, ...]:
    return value if isinstance(value, tuple) else (value,)


def _placeholders(text: str) -> Counter:
    return Counter(m.group(0) for m in PLACEHOLDER.finditer(text) if m.group("type") != "%")


@pytest.fixture(scope="module")
def source_catalog(tmp_path_factory) -> Catalog:
    """What `pybabel extract -F babel.cfg -k _ -k gettext -k ngettext:1,2 -k lazy_gettext web/` finds now, written
    and read back (lazy_gettext: texts named at import time, translated when shown)."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f, filename=str(ROOT / "babel.cfg"))
    catalog = Catalog()
    # -k only adds to babel's default keywords, which already hold _, gettext and ngettext
    for filename, lineno, message, comments, context in extract_from_dir(
            str(WEB), method_map, options_map, keywords={**DEFAULT_KEYWORDS, "lazy_gettext": None}):
        catalog.add(message, None, [(f"web/{filename}", lineno)], auto_comments=comments, context=context)
    pot = tmp_path_factory.mktemp("extract") / "messages.pot"
    with pot.open("wb") as f:
        write_po(f, catalog)
    extracted = _read_po(pot)
    assert len([m for m in extracted if m.id]) > 100, "extraction found almost nothing: is babel.cfg right?"
    return extracted


@pytest.fixture(scope="module")
def zh_catalog() -> Catalog:
    return _read_po(PO)


def test_every_ui_string_has_a_chinese_translation(source_catalog, zh_catalog):
    missing = []
    for message in source_catalog:
        if not message.id:
            continue
        translated = zh_catalog.get(message.id, context=message.context)
        if translated is None:
            missing.append(f"{_label(message)}: not in messages.po")
        elif not all(_forms(translated.string)):
            missing.append(f"{_label(message)}: empty msgstr")
        elif translated.fuzzy:  # pybabel compile leaves fuzzy entries out, so the page would stay English
            missing.append(f"{_label(message)}: marked fuzzy")
    assert not missing, f"untranslated for zh_Hans_CN ({HOW_TO_FIX}):\n" + "\n".join(missing)


def test_committed_template_lists_the_current_strings(source_catalog):
    def ids(catalog: Catalog) -> set:
        return {(m.id, m.context) for m in catalog if m.id}

    committed, current = ids(_read_po(POT)), ids(source_catalog)
    assert committed == current, (f"web/translations/messages.pot is stale ({HOW_TO_FIX}): "
                                  f"new {sorted(map(str, current - committed))}, "
                                  f"gone {sorted(map(str, committed - current))}")


def _hashable(value):
    return tuple(value) if isinstance(value, list | tuple) else value


def test_committed_mo_is_compiled_from_the_po(zh_catalog):
    def messages(catalog: Catalog) -> dict:
        # the header (id "") names the Babel version; a plural's id and strings come back as lists
        return {(_hashable(m.id), m.context): _hashable(m.string) for m in catalog if m.id}

    fresh = io.BytesIO()
    write_mo(fresh, zh_catalog)  # as `pybabel compile`: fuzzy entries left out
    fresh.seek(0)
    with MO.open("rb") as f:
        committed = messages(read_mo(f))
    compiled = messages(read_mo(fresh))
    differing = sorted(str(key[0]) for key in committed.keys() | compiled.keys()
                       if committed.get(key) != compiled.get(key))
    assert not differing, f"messages.mo is not compiled from messages.po ({HOW_TO_FIX}): {differing}"


def test_placeholders_survive_translation(zh_catalog):
    wrong = []
    for message in zh_catalog:
        if not message.id:
            continue
        ids = _forms(message.id)
        for string in filter(None, _forms(message.string)):
            # plural forms carry the plural msgid's placeholders (the count)
            if _placeholders(string) != _placeholders(ids[-1]):
                wrong.append(f"{_label(message)} -> {string!r}: placeholders differ")
            # Jinja's gettext formats every string with %, so a lone % would raise on the page
            if "%" in PLACEHOLDER.sub("", string):
                wrong.append(f"{_label(message)} -> {string!r}: stray % (write %%)")
    assert not wrong, "\n".join(wrong)


def test_the_app_finds_the_catalog():
    app = Flask(__name__, root_path=str(WEB))
    init_i18n(app)
    with app.test_request_context(), force_locale("zh_Hans_CN"):
        assert gettext("Inbox") == "收件箱"
        assert render_template_string("{{ _('page %(n)s of %(total)s', n=2, total=5) }}") == "第 2 页，共 5 页"
