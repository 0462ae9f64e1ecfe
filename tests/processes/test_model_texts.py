"""Every text of the bundled models (names, documentation, form labels, help texts, option names, variable
labels) and of the decisions they call (decision names, output labels, the texts a decision returns) has its
Simplified Chinese translation in the translation file deployed beside the model or decision file."""

from __future__ import annotations

import pytest

from orchestrator.definitions import parse_bundle
from orchestrator.deployments import read_model_file
from orchestrator.model_texts import missing_translations
from orchestrator.settings import REPO_ROOT

BPMN = REPO_ROOT / "bpmn"
BUNDLED = sorted(p.name for p in BPMN.glob("*.bpmn"))


@pytest.mark.parametrize("name", BUNDLED)
def test_every_text_of_a_bundled_model_has_a_chinese_translation(name):
    stem = name.removesuffix(".bpmn")
    decisions = sorted(BPMN.glob("*.dmn"))
    files = [read_model_file(BPMN / name), *map(read_model_file, sorted(BPMN.glob(f"{stem}.*.json"))),
             *map(read_model_file, decisions),
             *(read_model_file(p) for dmn in decisions for p in sorted(BPMN.glob(f"{dmn.stem}.*.json")))]
    processes = parse_bundle(files, max_bytes=10**7)
    assert processes
    for process in processes.values():
        assert any(key[0] == "decision" for key in process.texts.source), "the called decisions' texts are read"
        missing = missing_translations(process.texts, "zh")
        assert not missing, f"{name}: no zh translation for {missing}"
        texts = process.texts.translations["zh"]
        latin_only = [key for key, text in texts.items() if text == process.texts.source[key] and not _code(text)]
        assert not latin_only, f"{name}: copied, not translated: {latin_only}"


def _code(text: str) -> bool:
    """Brand names and codes (DHL, A – …) stay as they are."""
    return text.isupper() or len(text) <= 4
