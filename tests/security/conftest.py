"""The security ring reuses the web ring's app, engine and per-role API keys (fixtures are found by name)."""

from tests.web.conftest import app, as_, tokens, web_engine  # noqa: F401
