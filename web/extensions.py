"""Flask extensions, created without an app and bound in create_app."""

from __future__ import annotations

import http

from flask_security import Security
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from orchestrator.db import Base
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema
from web.api.strict_json import JSON_VALUE_SCHEMA


class ProblemApi(Api):
    """flask-smorest documenting what the API does: every error response as application/problem+json, JSON
    values as the strict reading accepts them (JsonValue), the names a dict's keys must have."""

    ERROR_SCHEMA = ProblemSchema

    def _init_spec(self, **options):
        super()._init_spec(**options)
        self.ma_plugin.converter.add_attribute_function(_property_names)
        self.spec.components.schema("JsonValue", JSON_VALUE_SCHEMA)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if status >= 400:
                response["content"] = {PROBLEM: {"schema": self.ERROR_SCHEMA}}
            self.spec.components.response(status.name, response, lazy=True)
        self.spec.components.response(
            self.DEFAULT_ERROR_RESPONSE_NAME,
            {"description": "Error (RFC 9457 problem details)", "content": {PROBLEM: {"schema": self.ERROR_SCHEMA}}},
            lazy=True,
        )


def _property_names(converter, field, **kwargs) -> dict:
    """apispec leaves `propertyNames` out of a field's metadata; keep it, so the key rule is documented."""
    return {"propertyNames": field.metadata["propertyNames"]} if "propertyNames" in field.metadata else {}


ENGINE_KEY = "loopline.engine"


class EngineSharingSQLAlchemy(SQLAlchemy):
    """Flask-SQLAlchemy whose sessions draw on the engine's own connection pool on PostgreSQL.

    On SQLite the engine's connections begin every transaction explicitly (commands take the write lock at
    BEGIN); the web layer's sessions read, then sometimes write, and inside such a transaction the write
    fails on a stale snapshot when a command committed meanwhile. They keep their own connections there,
    with the driver's usual handling (reads outside a transaction, the write lock taken at the first write).
    """

    def _make_engine(self, bind_key, options, app):
        database = app.extensions[ENGINE_KEY].db
        if database.is_postgres:
            return database.engine
        return super()._make_engine(bind_key, options, app)


db = EngineSharingSQLAlchemy(model_class=Base)
security = Security()
api = ProblemApi()
