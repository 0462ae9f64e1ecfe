"""Admin API for integration keys; the full token is shown once, at creation."""

from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from orchestrator.authorization import Permission, require
from orchestrator.errors import Conflict
from web.api.context import actor, engine
from web.api.idempotency import command, writing_through
from web.api.schemas import ApiKeyArgs, ApiKeySchema, IssuedApiKeySchema
from web.auth.apikeys import create_api_key, revoke_api_key
from web.auth.models import ApiKey
from web.extensions import db

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys", description="Integration API keys (admins)")


@blp.route("", methods=["GET"])
@blp.response(200, ApiKeySchema(many=True))
def list_keys():
    require(actor(), Permission.ADMINISTER)
    return list(db.session.scalars(select(ApiKey).order_by(ApiKey.id)))


@blp.route("", methods=["POST"])
@blp.arguments(ApiKeyArgs)
@blp.response(201, IssuedApiKeySchema)
@command(secret=("token",))  # a replay names the key but never shows its token again
def create_key(args):
    caller = actor()
    require(caller, Permission.ADMINISTER)
    issued = create_api_key(writing_through(db.session()), args["name"], args["role"], created_by=caller.name, now=engine().now(),
                            groups=args["groups"], expires_at=args["expiresAt"])
    db.session.commit()
    return {**IssuedApiKeySchema().dump(issued.key), "token": issued.token}


@blp.route("/<int(max=2147483647):key_id>", methods=["DELETE"])
@blp.response(200, ApiKeySchema)
@command()
def revoke_key(key_id: int):
    caller = actor()
    require(caller, Permission.ADMINISTER)
    key = db.session.get(ApiKey, key_id)
    if key is not None and caller.name == f"apikey:{key.name}":
        raise Conflict("a key cannot revoke itself; use another admin key or the CLI")
    key = revoke_api_key(writing_through(db.session()), key_id, engine().now())
    db.session.commit()
    db.session.refresh(key)  # loaded now: the answer is drawn after the command closed the session
    return key
