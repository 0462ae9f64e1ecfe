"""What reading one translation file collects: the translations it gives and the problems it has.

Model (.bpmn) and decision (.dmn) translation files differ in their sections but check each text alike: it
must translate a text the source has, with non-empty words."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Key = tuple[str, ...]


class TranslationFile:
    """Translations taken from one file, checked against the source's texts; problems name file and key."""

    def __init__(self, file_name: str, source: Mapping[Key, str], owner: str):
        self.file_name = file_name
        self.source = source
        self.owner = owner  # "model" or "decision", for the problem's words
        self.translated: dict[Key, str] = {}
        self.problems: list[str] = []

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.file_name}: {text}")

    def take(self, key: Key, value: Any, where: str) -> None:
        if key not in self.source:
            self.problem(f"{where}: the {self.owner} has no such text to translate")
        elif not isinstance(value, str) or not value.strip():
            self.problem(f"{where}: the translation must be non-empty text")
        else:
            self.translated[key] = value.strip()
