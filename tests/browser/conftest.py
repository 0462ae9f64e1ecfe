"""Browser ring: a real Loopline server (embedded default) in a thread, driven by the Debian chromium.

Playwright's Python package talks to `/usr/bin/chromium`; its own browser download is never used
(no `playwright install`). Without chromium the tests skip on a laptop and fail under CI=true.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from integrations.config import IntegrationSettings
from orchestrator.migrate import upgrade
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.embedded import EmbeddedRunner
from tasks.runtime import Runtime, deploy_bundled_models
from tests.conftest import require_service
from web.app import create_app
from web.auth.demo import DEMO_PASSWORD, seed_demo_users
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1024, "height": 768}


def chromium_path() -> str | None:
    found = shutil.which("chromium") or "/usr/bin/chromium"
    return found if Path(found).is_file() else None


@pytest.fixture(scope="session")
def chromium_browser():
    """The Debian chromium, headless, driven by Playwright's sync API (one browser for the session)."""
    executable = chromium_path()
    require_service("chromium", executable is not None, "apt-get install chromium (Debian package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser):
    """A fresh page in its own browser context (no shared cookies), 1024x768."""
    context = chromium_browser.new_context(viewport=VIEWPORT)
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """test-artifacts/screenshots under the repository root (git-ignored), created."""
    directory = REPO / "test-artifacts" / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@dataclass
class LiveServer:
    """A running Loopline: `url` without a trailing slash, the Flask `app`, the `engine` behind it."""

    url: str
    app: object
    engine: Engine
    runtime: Runtime
    settings: Settings
    deployed: list = field(default_factory=list)
    deploy_problems: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD

    def __call__(self, path: str = "/") -> str:
        """live_server("/login") -> the absolute URL of a path."""
        return self.url + (path if path.startswith("/") else "/" + path)


@pytest.fixture(scope="session")
def _seeded_database(tmp_path_factory) -> tuple[Path, str]:
    """Once per session: a migrated SQLite file with roles, groups and the demo people (argon2 hashing of
    a dozen passwords takes seconds), and the secret key their hashes are salted with."""
    home = tmp_path_factory.mktemp("loopline-template")
    secret_key = "browser-tests-" + secrets.token_hex(16)
    settings = Settings.from_env({}, home=home, database_url=f"sqlite:///{home / 'loopline.db'}",
                                 environment="development", secret_key=secret_key)
    upgrade(settings.database_url)
    engine = Engine(settings, integration_settings=IntegrationSettings.from_env({}))
    app = create_app(settings, engine)
    with app.app_context():
        seed_demo_users(app.extensions["security"].datastore)
        db.engine.dispose()
    engine.db.dispose()
    return home / "loopline.db", secret_key


def _copy_sqlite(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


@pytest.fixture
def live_server(request, tmp_path, _seeded_database):
    """`loopline serve` in the embedded default, on a free loopback port, in a daemon thread.

    SQLite file in tmp_path migrated to head, the models in bpmn/ deployed, roles and groups plus the
    demo people (password `loopline-demo`), the in-process job worker and timer sweep running. The demo
    *cases* are not started, so inboxes start empty. The environment is not read (no broker, connector
    settings at their defaults, e-mail links pointing at this server); a test may override Settings
    fields with `@pytest.mark.live_server(timer_sweep_interval=0.2, ...)`.
    """
    holder: dict = {}

    def dispatch(environ, start_response):  # binds first, so the port is known before the app is built
        return holder["app"](environ, start_response)

    server = make_server("127.0.0.1", 0, dispatch, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"

    template, secret_key = _seeded_database
    database_file = tmp_path / "loopline.db"
    _copy_sqlite(template, database_file)
    marker = request.node.get_closest_marker("live_server")
    overrides = dict(home=tmp_path, database_url=f"sqlite:///{database_file}", environment="development",
                     secret_key=secret_key, **(marker.kwargs if marker else {}))
    settings = Settings.from_env({}, **overrides)
    # the start-up of `loopline serve` (web/cli.py), minus the demo cases
    upgrade(settings.database_url)
    engine = Engine(settings, integration_settings=IntegrationSettings.from_env({"LOOPLINE_PUBLIC_URL": url}))
    runtime = Runtime(engine, embedded=EmbeddedRunner(engine).start())
    thread = None
    app = None
    try:
        deployed, problems = deploy_bundled_models(engine)
        for problem in problems:
            warnings.warn(f"live_server: {problem}", stacklevel=1)
        app = create_app(settings, engine)
        with app.app_context():
            datastore = app.extensions["security"].datastore
            ensure_roles_and_groups(datastore)
            seed_demo_users(datastore)  # already in the copied file: a no-op unless DEMO_PEOPLE grew
        holder["app"] = app
        thread = threading.Thread(target=server.serve_forever, name="loopline-live-server", daemon=True)
        thread.start()
        yield LiveServer(url=url, app=app, engine=engine, runtime=runtime, settings=settings,
                         deployed=deployed, deploy_problems=problems)
    finally:
        if thread is not None:
            server.shutdown()
            thread.join(timeout=10)
        server.server_close()
        runtime.stop()
        if app is not None:
            with app.app_context():
                db.engine.dispose()
        engine.db.dispose()
