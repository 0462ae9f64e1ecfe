"""House rules checked by the suite: layering, the README's commands, the migrations."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import integrations.local_models  # noqa: F401
import integrations.notify.models  # noqa: F401
import integrations.recall_registrations  # noqa: F401
import integrations.traceability.models  # noqa: F401
import orchestrator.quality_models  # noqa: F401
import web.auth.models  # noqa: F401  (the web layer's tables are migrated too)
import web.pages.models  # noqa: F401
from integrations.db import IntegrationsBase
from orchestrator.db import Base
from orchestrator.migrate import upgrade

REPO = Path(__file__).resolve().parents[2]
# what each lower layer must not import: the layers above it, the web framework, the provider SDKs
# (integrations load those lazily, only where a provider is used)
WEB_FRAMEWORK = ("flask", "flask_*", "werkzeug", "wtforms", "marshmallow", "webargs", "apispec")
LOWER_LAYERS = {
    "orchestrator": ("web", "tasks", *WEB_FRAMEWORK, "twilio", "sendgrid"),
    "integrations": ("web", "tasks", "orchestrator", *WEB_FRAMEWORK),
    "tasks": ("web", *WEB_FRAMEWORK),
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _forbidden(name: str, rules: tuple[str, ...]) -> bool:
    return any(name == rule or (rule.endswith("*") and name.startswith(rule[:-1])) for rule in rules)


def test_layers_point_one_way():
    """orchestrator imports no Flask and nothing above it; nothing below web/ imports web/."""
    offenders = []
    for package, rules in LOWER_LAYERS.items():
        for path in (REPO / package).rglob("*.py"):
            bad = sorted(name for name in imported_packages(path) if _forbidden(name, rules))
            if bad:
                offenders.append(f"{path.relative_to(REPO)} imports {bad}")
    assert offenders == []


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, re.S)
    test_command = next(b.strip() for b in blocks if "pytest" in b)
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_migrations_match_the_models(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade(url)
    assert IntegrationsBase.metadata is Base.metadata  # one metadata describes the whole schema
    engine = create_engine(url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_db_upgrade_and_package_imports_load_no_provider_sdk(tmp_path):
    """Twilio and SendGrid load only where the providers backend or a webhook needs them."""
    probe = (
        "import sys\n"
        "import integrations, integrations.notify, orchestrator, tasks, web\n"
        "from web.cli import main\n"
        "try:\n"
        "    main(['db', 'upgrade'])\n"
        "except SystemExit as exit:\n"
        "    assert not exit.code, exit.code\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'twilio', 'sendgrid', 'python_http_client'}))\n"
    )
    env = {**os.environ, "LOOPLINE_HOME": str(tmp_path), "DATABASE_URL": "", "CELERY_BROKER_URL": "",
           "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
