"""Flask extensions, created without an app and bound in create_app."""

from __future__ import annotations

from flask_security import Security
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from orchestrator.db import Base

db = SQLAlchemy(model_class=Base)
security = Security()
api = Api()
