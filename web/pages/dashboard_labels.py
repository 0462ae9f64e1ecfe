"""The names a dashboard shows for the codes case_metric stores (a reason, a grade, a disposition): the option
names of the process's latest model, in the reader's language, as the case page shows them."""

from __future__ import annotations

from flask_babel import gettext as _

from orchestrator.metric_models import DIMENSIONS
from web.model_texts import model_of
from web.pages.common import engine

# the form fields whose options name a case_metric column's values, first match wins
FIELDS_OF_COLUMN = {
    "reason": ("returnReason",), "outcome": ("requestedOutcome", "resolution"), "grade": ("grade", "refurbishedGrade"),
    "disposition": ("disposition",), "fault_code": ("faultCode",), "region": ("region",),
    "channel": ("returnChannel", "intakeSource"), "severity": ("severity",), "supplier": ("supplier",),
}


class OptionNames:
    """Option names of one process's latest deployed model (no model: codes are shown as they are)."""

    def __init__(self, process_key: str):
        self.names: dict[str, dict[str, str]] = {column: {} for column in DIMENSIONS}
        # a CAPA carries the fault codes and reasons of the returns it came from: their names are the returns'
        for key in dict.fromkeys((process_key, "returns")):
            definitions = engine().queries.list_definitions(key)
            model = model_of(definitions[0].id) if definitions else None
            fields = model.form_fields if model is not None else {}
            for column in DIMENSIONS:
                for field_id in FIELDS_OF_COLUMN.get(column, (column,)):
                    for option in (fields.get(field_id) or {}).get("options") or []:
                        self.names[column].setdefault(str(option.get("id")),
                                                      str(option.get("name") or option.get("id")))

    def __call__(self, column: str, code: str | None) -> str:
        if code is None or code == "":
            return _("(not recorded)")
        return self.names.get(column, {}).get(code, code)
