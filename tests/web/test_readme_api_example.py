"""The README's REST API example, pasted as written: its key and its curl requests run against an app with only the
bundled models deployed (as `loopline serve` has), on the real clock, and each request succeeds."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from urllib.parse import urlsplit

import pytest

from orchestrator.clock import SystemClock
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from web.app import create_app
from web.auth.apikeys import create_api_key
from web.auth.users import ensure_roles_and_groups
from web.extensions import db

README = REPO_ROOT / "README.md"


def readme_api_example(text: str) -> list[list[str]]:
    """The commands of the first bash block under '## REST API', one word list each (lines joined as bash does)."""
    section = text.split("\n## REST API", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands, current = [], ""
    for line in block.replace("\\\n", " ").splitlines(keepends=True):
        current += line
        if current.count("'") % 2 == 0:  # a command ends at a line break outside single quotes
            words = shlex.split(current, comments=True)
            if words:
                commands.append(words)
            current = ""
    return commands


def run_key_command(words: list[str], now) -> tuple[str, str]:
    """`TOKEN=$(loopline apikey create NAME [--role R] [--group G]... | tail -n 1)`: the variable and the token."""
    assignment = " ".join(words)
    match = re.fullmatch(r"(\w+)=\$\(loopline apikey create (.*?) \| tail -n 1\)", assignment)
    assert match, f"the README's key line is not a key creation: {assignment}"
    parser = argparse.ArgumentParser(prog="loopline apikey create")
    parser.add_argument("name")
    parser.add_argument("--role", default="integration")
    parser.add_argument("--group", action="append", default=[])
    args = parser.parse_args(shlex.split(match.group(2)))
    issued = create_api_key(db.session, args.name, args.role, created_by="cli", now=now, groups=args.group)
    db.session.commit()
    return match.group(1), issued.token


def curl_request(words: list[str], variables: dict[str, str]) -> dict:
    """What a curl command line sends: method, path with query, headers, body ($NAME filled in)."""
    assert words[0] == "curl", words
    request = {"method": "GET", "headers": {}, "data": None, "url": None}
    rest = iter(words[1:])
    for word in rest:
        word = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], word)
        if word == "-H":
            name, _, value = re.sub(r"\$(\w+)", lambda m: variables[m.group(1)], next(rest)).partition(":")
            request["headers"][name.strip()] = value.strip()
        elif word == "-d":
            request["data"], request["method"] = next(rest), "POST"
        elif word == "-X":
            request["method"] = next(rest)
        else:
            request["url"] = word
    parts = urlsplit(request.pop("url"))
    request["path"] = parts.path + (f"?{parts.query}" if parts.query else "")
    return request


@pytest.fixture
def served(make_engine, database):
    """An app like `loopline serve`: the bundled models only, the wall clock."""
    engine = make_engine(database, clock=SystemClock())
    engine.deployments.deploy_directory(REPO_ROOT / "bpmn", actor=ADMIN)
    app = create_app(engine.settings, engine)
    app.config["TESTING"] = True
    with app.app_context():
        ensure_roles_and_groups(app.extensions["security"].datastore)
    yield app, engine
    with app.app_context():
        db.engine.dispose()


def test_the_readme_api_example_works_as_pasted(served):
    app, engine = served
    commands = readme_api_example(README.read_text(encoding="utf-8"))
    assert commands and commands[0][0].startswith("TOKEN="), commands
    client, variables = app.test_client(), {}
    with app.app_context():
        name, token = run_key_command(commands[0], engine.now())
    variables[name] = token
    answers = []
    for words in commands[1:]:
        request = curl_request(words, variables)
        answer = client.open(request["path"], method=request["method"], headers=request["headers"],
                             data=request["data"])
        assert 200 <= answer.status_code < 300, (request["path"], answer.status_code, answer.get_data(as_text=True))
        answers.append(answer.get_json())
    started = answers[0]
    assert started["businessKey"] == "RMA-1001" and started["status"] == "running"
    assert json.loads(json.dumps(answers[-1]))["total"] == 1  # the second request finds the case it started

    # the same start without a business key or Idempotency-Key: the key comes from rmaNumber, and a second running
    # case with it is refused (messages correlate by it), naming the variable
    start = curl_request(commands[1], variables)
    body = json.loads(start["data"])
    body.pop("businessKey")
    headers = {k: v for k, v in start["headers"].items() if k.lower() != "idempotency-key"}
    again = client.open(start["path"], method="POST", headers=headers, data=json.dumps(body))
    assert again.status_code == 422 and "variables.rmaNumber" in again.get_json()["errors"], again.get_json()
