"""Every API command takes an `Idempotency-Key` and survives a database connection lost before its commit.

`@command(...)` wraps a command's view (innermost, under flask-smorest's decorators): a retry with the same
key hears the first answer again, the key reused for another request 422, a retry while the first still
runs 409. The command records its key in its own transaction (orchestrator.idempotency), so it happens at
most once whatever is lost after the commit. A connection found broken before any COMMIT was sent has
changed nothing: the view runs once more on a fresh one; after a COMMIT the client hears 503 and retries
with its key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from copy import deepcopy
from functools import partial, wraps
from typing import Any

from flask import Response, after_this_request, request
from sqlalchemy import event
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.db import note_commit, retry_lost_before_commit, transaction_opening
from orchestrator.errors import Conflict, InvalidInput
from orchestrator.idempotency import (
    MAX_KEY_LENGTH,
    KeyedRequest,
    KeyRecorded,
    claiming,
    find_record,
    remember_answer,
)
from web.api.context import actor, engine
from web.extensions import db

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
log = logging.getLogger(__name__)

HEADER_DOC = {"in": "header", "name": HEADER, "required": False,
              "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
              "description": "Any unique text (a UUID). A retry with the same key and the same request returns the "
              "first answer (with `Idempotent-Replayed: true`) and does not run the command again; the same key "
              "with another request is refused with 422, a retry while the first still runs with 409. Keys belong "
              "to the caller and the route, and are kept 24 hours."}

View = Callable[..., Any]


def command(rebuild: View | None = None, *, runs_again: bool = False, caller: Callable[[], Actor] = actor,
            secret: tuple[str, ...] = ()):
    """Make a view an idempotent command. `rebuild`, called like the view, answers a retry from the current
    state when the first answer was lost after the commit (without it the retry hears 409); `runs_again`: the
    command is idempotent by itself, so the view is its own rebuild. `secret` names answer fields never
    stored (a new token is shown once)."""

    def decorate(view: View) -> View:
        answer_now = view if runs_again else rebuild

        @wraps(view)
        def run(*args, **kwargs):
            try:
                return _run(*args, **kwargs)
            finally:
                _release_web_session()

        def _run(*args, **kwargs):
            key = _key()
            if key is None:
                return retry_lost_before_commit(lambda: view(*args, **kwargs), _release_web_session)
            keyed = KeyedRequest(caller().name, f"{request.method} {request.url_rule.rule}", key, _fingerprint())
            return retry_lost_before_commit(
                lambda: _run_once(keyed, partial(view, *args, **kwargs), partial(_earlier, keyed, answer_now, args, kwargs),
                                  secret), _release_web_session)

        run._apidoc = deepcopy(getattr(run, "_apidoc", {}))
        run._apidoc.setdefault("manual_doc", {}).setdefault("parameters", []).append(HEADER_DOC)
        return run

    return decorate


def _release_web_session() -> None:
    """End the web layer's session (the caller's lookup) now: a connection cut meanwhile must not break the
    request's teardown after the answer was made."""
    try:
        db.session.close()
    except (OperationalError, InterfaceError) as error:
        log.warning("the web session's connection was lost: %s", error)


def writing_through(session: Session) -> Session:
    """For a command the web layer writes itself (API keys, trace events): record the request's key in this
    session's transaction, and have its COMMIT keep a lost connection from running the view again."""
    opening = transaction_opening.get()
    if opening is not None:
        opening(session)
    event.listen(session, "before_commit", lambda _session: note_commit(), once=True)
    return session


def _run_once(keyed: KeyedRequest, view: Callable[[], Any], earlier: Callable[[], Any], secret: tuple[str, ...]):
    """Answer from an earlier request with the key, or run the command recording the key with it."""
    answer = earlier()
    if answer is not None:
        return answer
    try:
        with claiming(keyed, engine().now()) as claim:
            result = view()
    except KeyRecorded:  # the first request with the key committed meanwhile
        answer = earlier()
        if answer is None:
            raise
        return answer
    if claim.recorded:
        after_this_request(partial(_remember, keyed, secret))
    return result


def _earlier(keyed: KeyedRequest, rebuild: View | None, args: tuple, kwargs: dict) -> Any:
    """The answer to an earlier request with this key, or None when there was none (or it expired)."""
    record = find_record(engine().db, keyed, engine().now())
    if record is None:
        return None
    if record.fingerprint != keyed.fingerprint:
        raise InvalidInput(f"the {HEADER} '{keyed.key}' was used for a different request",
                           {HEADER: "already used with another path or body; use a new key for a new request"})
    if record.status is not None:
        replay = Response(record.body or None, status=record.status,
                          mimetype="application/json" if record.body else None)
        replay.headers[REPLAYED] = "true"
        return replay
    if rebuild is None:
        raise Conflict(f"the request with {HEADER} '{keyed.key}' was done, but its answer was lost; "
                       "read the current state instead of sending it again")

    @after_this_request
    def _mark(response):
        response.headers[REPLAYED] = "true"
        return response

    return rebuild(*args, **kwargs)


def _remember(keyed: KeyedRequest, secret: tuple[str, ...], response: Response) -> Response:
    """Store a committed command's answer for retries; if the database is gone, a retry rebuilds it."""
    if response.status_code >= 300 or (response.data and not response.is_json):
        return response
    body = response.get_data(as_text=True)
    if secret and body:
        body = json.dumps({name: value for name, value in json.loads(body).items() if name not in secret})
    try:
        remember_answer(engine().db, keyed, response.status_code, body, engine().now())
    except (OperationalError, InterfaceError) as error:
        log.warning("could not store the answer of %s key %r: %s", keyed.route, keyed.key, error)
    return response


def _key() -> str | None:
    key = request.headers.get(HEADER)
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput(f"invalid {HEADER}", {HEADER: f"1 to {MAX_KEY_LENGTH} characters"})
    return key


def _fingerprint() -> str:
    """What the request asks for: its path and body. Uploads count by their fields and files, not their
    multipart boundary, which a client draws anew for each retry."""
    digest = hashlib.sha256(f"{request.method} {request.path}\0".encode())
    if request.mimetype == "multipart/form-data":
        # a part may come without a name or a file name (None): sorted as text, so any body gets its fingerprint
        for name, value in sorted(request.form.items(multi=True), key=lambda item: (str(item[0]), str(item[1]))):
            digest.update(f"{name}={value}\0".encode())
        for name, upload in sorted(request.files.items(multi=True),
                                   key=lambda item: (str(item[0]), str(item[1].filename))):
            digest.update(f"{name}:{upload.filename}\0".encode())
            digest.update(upload.read())
            upload.seek(0)
    else:
        digest.update(request.get_data(cache=True))
    return digest.hexdigest()
