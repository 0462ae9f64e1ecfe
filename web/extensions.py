"""Flask extensions, created without an app and bound in create_app."""

from __future__ import annotations

import http

from flask_security import Security
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from orchestrator.db import Base
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema


class ProblemApi(Api):
    """flask-smorest documenting every error response as application/problem+json, as the API sends it."""

    ERROR_SCHEMA = ProblemSchema

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


db = SQLAlchemy(model_class=Base)
security = Security()
api = ProblemApi()
