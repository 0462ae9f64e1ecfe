"""The return slip of a return case (bpmn/returns.bpmn): what the customer puts in the parcel and the warehouse
scans at receipt — the RMA number (printed as a barcode and a QR code by the renderer), the customer and their
address, the product, the reason, and the carrier and tracking number of the return label."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orchestrator.reports.case_record import ReportCase, StepRecord

PROCESS_KEYS = ("returns",)
CUSTOMER = ("customerName", "customerAddress", "customerEmail", "customerPhone")
PRODUCT = ("sku", "serialNumber", "lotNumber", "quantity", "purchaseDate", "orderReference")
REASON = ("returnReason", "description", "requestedOutcome", "returnChannel")
# Code 39 holds upper-case letters, digits and - . space $ / + %: an RMA number is printed in it as it is
CODE39_TEXT = re.compile(r"^[0-9A-Z\-. $/+%]{1,40}$")


@dataclass(frozen=True)
class ReturnSlip:
    case: ReportCase
    rma_number: str
    customer: tuple[tuple[str, Any], ...]
    product: tuple[tuple[str, Any], ...]
    reason: tuple[tuple[str, Any], ...]
    label: StepRecord | None  # "Issue return label": carrier, tracking number, the label file
    review_note: str | None  # what customer service told the customer when it accepted the return

    @property
    def barcode_text(self) -> str | None:
        """The RMA number as Code 39 can carry it (upper case), or None when it holds other characters."""
        text = self.rma_number.upper()
        return text if CODE39_TEXT.match(text) else None


def _present(variables: dict[str, Any], names: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    return tuple((name, variables[name]) for name in names if variables.get(name) not in (None, "", [], {}))


def build_return_slip(case: ReportCase) -> ReturnSlip:
    variables = case.variables
    review = case.last_step("review_return")
    return ReturnSlip(case=case, rma_number=str(variables.get("rmaNumber") or case.reference),
                      customer=_present(variables, CUSTOMER), product=_present(variables, PRODUCT),
                      reason=_present(variables, REASON), label=case.last_step("issue_return_label"),
                      review_note=(review.value("reviewNote") or None) if review else None)
