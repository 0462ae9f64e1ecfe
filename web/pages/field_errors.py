"""The engine's field messages (English, for the API) in the reader's language on the staff pages."""

from __future__ import annotations

import re

from flask_babel import gettext as _

from web.auth.passwords import TOO_GUESSABLE

# each engine message shape (orchestrator/forms.py, attachments.py, start_forms.py) and its translation
PATTERNS: list[tuple[re.Pattern[str], object]] = [
    (re.compile(r"is required"), lambda m: _("is required")),
    (re.compile(r"is read-only"), lambda m: _("is read-only")),
    (re.compile(r"is not a field of this form"), lambda m: _("is not a field of this form")),
    (re.compile(r"is not a file field of this form"), lambda m: _("is not a file field of this form")),
    (re.compile(r"must be text"), lambda m: _("must be text")),
    (re.compile(r"must be a whole number(, not .*)?"), lambda m: _("must be a whole number")),
    (re.compile(r"must be a number(, not .*)?"), lambda m: _("must be a number")),
    (re.compile(r"must be true or false(, not .*)?"), lambda m: _("must be yes or no")),
    (re.compile(r"must be a date \(YYYY-MM-DD\)(, not .*)?"), lambda m: _("must be a date (YYYY-MM-DD)")),
    (re.compile(r"must be one of (?P<allowed>.*)"), lambda m: _("must be one of %(allowed)s", allowed=m["allowed"])),
    (re.compile(r"must be at least (?P<n>\d+) characters"), lambda m: _("must be at least %(n)s characters", n=m["n"])),
    (re.compile(r"must be at most (?P<n>\d+) characters"), lambda m: _("must be at most %(n)s characters", n=m["n"])),
    (re.compile(r"must be at least (?P<n>\S+)"), lambda m: _("must be at least %(n)s", n=m["n"])),
    (re.compile(r"must be at most (?P<n>\S+)"), lambda m: _("must be at most %(n)s", n=m["n"])),
    (re.compile(r"must match the pattern (?P<p>.*)"), lambda m: _("must match the pattern %(p)s", p=m["p"])),
    (re.compile(r"must be a phone number in international format \(E\.164\), e\.g\. (?P<e>\S+)"),
     lambda m: _("must be a phone number in international format (E.164), e.g. %(example)s", example=m["e"])),
    (re.compile(r"must be an e-mail address such as (?P<e>\S+)"),
     lambda m: _("must be an e-mail address such as %(example)s", example=m["e"])),
    (re.compile(r"must not be in the future"), lambda m: _("must not be in the future")),
    (re.compile(r"must not be in the past"), lambda m: _("must not be in the past")),
    (re.compile(r"is required when (?P<other>\S+) is (?P<value>.*)"),
     lambda m: _("is required when %(other)s is %(value)s", other=m["other"], value=m["value"])),
    (re.compile(re.escape(TOO_GUESSABLE)), lambda m: _("is too easy to guess: use a few unrelated words, not a name, "
                                                      "a date or a common password")),
    (re.compile(r"(?P<f>.*): larger than (?P<n>\d+) MB"), lambda m: _("%(f)s: larger than %(n)s MB", f=m["f"], n=m["n"])),
    (re.compile(r"(?P<f>.*): file type not allowed \(allowed: (?P<a>.*)\)"),
     lambda m: _("%(f)s: file type not allowed (allowed: %(a)s)", f=m["f"], a=m["a"])),
    (re.compile(r"(?P<k>.*) is already in use by a running case"),
     lambda m: _("%(k)s is already in use by a running case", k=m["k"])),
]


def translated_field_error(message: str) -> str:
    """The message in the page's language when its shape is known, else as the engine wrote it."""
    for pattern, translate in PATTERNS:
        match = pattern.fullmatch(message or "")
        if match:
            return translate(match)
    return message
