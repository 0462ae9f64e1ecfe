"""A case's audit bundle: the definition it ran on, its history as JSON Lines, its signed head, a readable
report and a manifest of SHA-256 sums, packed as one zip that an outsider checks with hashlib and json alone.

Everything is read in one read-only snapshot (orchestrator.audit.snapshot), so the head, the count and the
events belong to the same moment even while commands run on the case. The report (a PDF) is drawn by the
caller, which knows the reader's language: this module only asks for its bytes."""

from __future__ import annotations

import enum
import hashlib
import hmac
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.audit import snapshot
from orchestrator.definitions import ParsedProcess
from orchestrator.engine import EngineCore
from orchestrator.history import GENESIS, chain_hash, sign_head
from orchestrator.models import Deployment, DeploymentResource, ProcessInstance
from orchestrator.queries import case_history, readable_instance
from orchestrator.step_state import STATE_EVENT, replay_states
from orchestrator.views import DefinitionView, HistoryEventView, InstanceView

BUNDLE_FORMAT = "loopline-audit-bundle/1"
MANIFEST_FILE = "manifest.json"
HISTORY_FILE = "history.jsonl"
REPORT_FILE = "case.pdf"
VERIFY_FILE = "VERIFY.txt"
DEFINITION_FOLDER = "definition"
# the fields of each history.jsonl line, in this order: what the README's hash recipe needs, and the hash
HISTORY_FIELDS = ("seq", "instance_id", "at", "type", "actor", "element_id", "task_id", "payload", "prev_hash",
                  "hash")


class ChainStatus(enum.StrEnum):
    INTACT = "intact"  # every event recomputes and links, the signed head and count end them
    ALTERED = "altered"  # an event does not match its hash or its predecessor's
    HEAD_MISMATCH = "head-mismatch"  # the case's head or count does not end the events (a cut or added tail)
    BAD_SIGNATURE = "bad-signature"  # head and count were written without the audit key
    UNSIGNED = "unsigned"  # recorded before heads were signed (`loopline audit sign-heads`)


@dataclass(frozen=True)
class ChainCheck:
    status: ChainStatus
    events: int
    first_failing_seq: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == ChainStatus.INTACT

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status.value, "events_checked": self.events, "first_failing_seq": self.first_failing_seq}


def check_chain(key: bytes, instance_id: str, history: Sequence[HistoryEventView], head: str | None, count: int,
                signature: str | None) -> ChainCheck:
    """Recompute every event's hash, then compare the signed head and count with the events' end."""
    prev = GENESIS
    for event in history:
        if event.prev_hash != prev or chain_hash(prev, instance_id, event.at, event.type, event.actor,
                                                 event.element_id, event.task_id, event.payload) != event.hash:
            return ChainCheck(ChainStatus.ALTERED, len(history), event.seq)
        prev = event.hash
    last_seq = history[-1].seq if history else None
    if signature is None:
        status = ChainStatus.UNSIGNED if history else ChainStatus.INTACT
        return ChainCheck(status, len(history), last_seq if history else None)
    if head != (history[-1].hash if history else None) or count != len(history):
        return ChainCheck(ChainStatus.HEAD_MISMATCH, len(history), last_seq)
    if not hmac.compare_digest(sign_head(key, instance_id, count, head), signature):
        return ChainCheck(ChainStatus.BAD_SIGNATURE, len(history), last_seq)
    return ChainCheck(ChainStatus.INTACT, len(history))


@dataclass(frozen=True)
class DeploymentInfo:
    id: int
    name: str
    content_hash: str
    deployed_by: str
    deployed_at: datetime


@dataclass(frozen=True)
class DefinitionFile:
    """One file of the deployment, as deployed; `path` is its place in the bundle."""

    path: str
    name: str
    kind: str
    content: str


@dataclass(frozen=True)
class CaseAudit:
    """What a bundle holds, read at one moment."""

    instance: InstanceView
    definition: DefinitionView
    deployment: DeploymentInfo
    files: tuple[DefinitionFile, ...]
    model: ParsedProcess
    history: tuple[HistoryEventView, ...]
    history_head: str | None
    history_count: int
    history_signature: str | None
    chain: ChainCheck
    exported_at: datetime
    exported_by: str

    @property
    def variables_recorded(self) -> bool:
        """Whether the history records variable changes (cases before that show the stored variables)."""
        return any(event.type == STATE_EVENT for event in self.history)

    @property
    def end_variables(self) -> dict[str, Any]:
        """The variables after the last event: folded from the recorded changes, which the chain covers, or
        the case's stored variables when its history predates them."""
        if self.variables_recorded:
            return replay_states(self.history)[-1]["variables"]
        return dict(self.instance.variables or {})


@dataclass(frozen=True)
class AuditBundle:
    filename: str
    content: bytes
    manifest: dict[str, Any]


def read_case_audit(core: EngineCore, actor: Actor, instance_id: str) -> CaseAudit:
    """The case, its deployment's files and its whole history, in one snapshot; NotFound unless the actor may
    read the case (the same check as the case page)."""
    with snapshot(core.db) as connection, Session(bind=connection) as session:
        instance, definition = readable_instance(session, actor, instance_id)
        row = session.get(ProcessInstance, instance_id)  # loaded by readable_instance: no statement
        head, count, signature = row.history_head, row.history_count or 0, row.history_signature
        history = tuple(case_history(session, instance_id))
        deployment = session.get(Deployment, definition.deployment_id)
        resources = session.scalars(select(DeploymentResource)
                                    .where(DeploymentResource.deployment_id == definition.deployment_id)
                                    .order_by(DeploymentResource.name, DeploymentResource.id)).all()
        model = core.definitions.get(session, definition.id)
        files = _bundle_paths([(r.name, r.kind, r.content) for r in resources])
        return CaseAudit(
            instance=instance, definition=definition,
            deployment=DeploymentInfo(deployment.id, deployment.name, deployment.content_hash,
                                      deployment.deployed_by, deployment.deployed_at),
            files=files, model=model, history=history,
            history_head=head, history_count=count, history_signature=signature,
            chain=check_chain(core.settings.audit_signing_key, instance_id, history, head, count, signature),
            exported_at=core.now(), exported_by=actor.name)


def _bundle_paths(resources: list[tuple[str, str, str]]) -> tuple[DefinitionFile, ...]:
    """Each file under definition/, named as deployed; a name that is no plain file name (a folder, '..') is
    flattened, and a clash gets a number, so no entry leaves the folder or overwrites another."""
    used: set[str] = set()
    files = []
    for name, kind, content in resources:
        safe = "".join("_" if ch in "/\\:" or ord(ch) < 32 else ch for ch in name).lstrip(".") or "file"
        candidate, number = safe, 1
        while candidate.lower() in used:
            number += 1
            candidate = f"{number}-{safe}"
        used.add(candidate.lower())
        files.append(DefinitionFile(f"{DEFINITION_FOLDER}/{candidate}", name, kind, content))
    return tuple(files)


def history_line(event: HistoryEventView) -> dict[str, Any]:
    """One event with every field the hash recipe reads, `at` exactly as it was hashed."""
    return {"seq": event.seq, "instance_id": event.instance_id, "at": event.at.isoformat(), "type": event.type,
            "actor": event.actor, "element_id": event.element_id, "task_id": event.task_id,
            "payload": event.payload, "prev_hash": event.prev_hash, "hash": event.hash}


def history_jsonl(history: Sequence[HistoryEventView]) -> bytes:
    """One JSON object per line, oldest first, UTF-8."""
    return "".join(json.dumps(history_line(event), ensure_ascii=False, separators=(",", ":"), default=str) + "\n"
                   for event in history).encode("utf-8")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def manifest(audit: CaseAudit, sums: dict[str, str]) -> dict[str, Any]:
    """What the bundle is and the SHA-256 of every other file in it."""
    return {
        "format": BUNDLE_FORMAT,
        "case_id": audit.instance.id,
        "business_key": audit.instance.business_key,
        "case_status": audit.instance.status,
        "started_at": _iso(audit.instance.started_at),
        "started_by": audit.instance.started_by,
        "ended_at": _iso(audit.instance.ended_at),
        "process_key": audit.definition.key,
        "process_version": audit.definition.version,
        "process_name": audit.definition.name,
        "definition_id": audit.definition.id,
        "deployment_id": audit.deployment.id,
        "deployment_name": audit.deployment.name,
        "deployment_content_hash": audit.deployment.content_hash,
        "deployed_at": _iso(audit.deployment.deployed_at),
        "deployed_by": audit.deployment.deployed_by,
        "definition_files": {file.path: file.name for file in audit.files},
        "exported_at": _iso(audit.exported_at),
        "exported_by": audit.exported_by,
        "history_count": audit.history_count,
        "history_head": audit.history_head,
        "history_signature": audit.history_signature,
        "history_genesis": GENESIS,
        "verification_at_export": audit.chain.as_json(),
        "files": sums,
    }


def write_bundle(audit: CaseAudit, report_pdf: bytes) -> AuditBundle:
    """The zip: definition/…, history.jsonl, case.pdf, VERIFY.txt and manifest.json (written last)."""
    contents: dict[str, bytes] = {file.path: file.content.encode("utf-8") for file in audit.files}
    contents[HISTORY_FILE] = history_jsonl(audit.history)
    contents[REPORT_FILE] = report_pdf
    contents[VERIFY_FILE] = VERIFY_TEXT.encode("utf-8")
    sums = {path: hashlib.sha256(data).hexdigest() for path, data in contents.items()}
    described = manifest(audit, sums)
    contents[MANIFEST_FILE] = (json.dumps(described, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    stamp = audit.exported_at.timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in [MANIFEST_FILE, VERIFY_FILE, REPORT_FILE, HISTORY_FILE, *(f.path for f in audit.files)]:
            info = zipfile.ZipInfo(path, date_time=max(stamp, (1980, 1, 1, 0, 0, 0)))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, contents[path])
    filename = f"audit-{audit.instance.id}-{audit.exported_at:%Y%m%dT%H%M%SZ}.zip"
    return AuditBundle(filename, buffer.getvalue(), described)


def build_bundle(core: EngineCore, actor: Actor, instance_id: str,
                 render_report: Callable[[CaseAudit], bytes]) -> AuditBundle:
    """Read the case (NotFound unless the actor may), draw its report, pack the zip. Changes nothing."""
    audit = read_case_audit(core, actor, instance_id)
    return write_bundle(audit, render_report(audit))


VERIFY_TEXT = """\
How to check this Loopline audit bundle
=======================================

The bundle holds:
  manifest.json   the case, the process version it ran on, who exported it and when, the case's signed
                  history head, and the SHA-256 of every other file in the bundle
  definition/     the deployed BPMN/DMN files of that process version, byte for byte as deployed
  history.jsonl   every event of the case, oldest first, one JSON object per line
  case.pdf        the same history for people to read (not needed for the checks below)

1. Files: the SHA-256 of each file must equal its entry in manifest.json "files".
2. Chain: for each line of history.jsonl, build the JSON array
       [prev_hash, instance_id, at, type, actor, element_id, task_id, payload]
   written compactly (separators "," and ":", no spaces), object keys sorted, non-ASCII escaped as \\uXXXX,
   missing values as null, and take the lowercase hex SHA-256 of its UTF-8 bytes: it must equal "hash".
   The first event's prev_hash is 64 zeros; every later one is the previous event's hash.
3. Head: the number of lines must equal "history_count" and the last event's hash "history_head".
4. Signature (needs the audit key, LOOPLINE_AUDIT_KEY, which the operator keeps apart from the database):
       printf '%s\\n%s\\n%s' "$CASE_ID" "$COUNT" "$HEAD" | openssl dgst -sha256 -hmac "$LOOPLINE_AUDIT_KEY"
   must print "history_signature". Without the key nobody can sign a cut or rewritten history.
5. Definition: "deployment_content_hash" is the SHA-256 of, for each file of "definition_files" sorted by
   its deployed name, the name, a NUL byte and the file's content (UTF-8), all concatenated.

Steps 1 to 3 with Python 3 alone, run in the folder the bundle was unpacked into:

python3 - <<'CHECK'
import hashlib, json
manifest = json.load(open("manifest.json", encoding="utf-8"))
for path, digest in manifest["files"].items():
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == digest, "file changed: " + path
prev, count = "0" * 64, 0
for line in open("history.jsonl", encoding="utf-8"):
    event = json.loads(line)
    body = json.dumps([prev, event["instance_id"], event["at"], event["type"], event["actor"],
                       event["element_id"], event["task_id"], event["payload"]],
                      sort_keys=True, separators=(",", ":"))
    assert event["prev_hash"] == prev, "chain broken before seq %s" % event["seq"]
    assert hashlib.sha256(body.encode("utf-8")).hexdigest() == event["hash"], "event %s altered" % event["seq"]
    prev, count = event["hash"], count + 1
assert count == manifest["history_count"], "the history has %s events, the signed head %s" % (
    count, manifest["history_count"])
assert prev == (manifest["history_head"] or "0" * 64), "the last event is not the signed head"
print("intact: %s files, %s events, head %s" % (len(manifest["files"]), count, prev))
CHECK
"""
