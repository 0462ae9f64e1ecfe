"""Errors a command raises; each maps to one HTTP status and says precisely what is wrong."""

from __future__ import annotations


class EngineError(Exception):
    """Base class: the command changed nothing."""

    status = 400

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(EngineError):
    status = 404


class Conflict(EngineError):
    """The target is in a state that forbids the command (completed twice, claimed by another, suspended)."""

    status = 409


class Forbidden(EngineError):
    status = 403


class InvalidInput(EngineError):
    """Input values are wrong; `errors` maps each field to what is wrong with it."""

    status = 422

    def __init__(self, message: str, errors: dict[str, str] | None = None):
        super().__init__(message, errors=errors or {})
        self.errors = errors or {}


class ProcessError(EngineError):
    """The model could not continue with the given data (e.g. a condition referencing a missing variable)."""

    status = 422


class InvalidModel(EngineError):
    """A BPMN/DMN bundle was rejected; `problems` lists each reason with its file and element."""

    status = 422

    def __init__(self, problems: list[str]):
        super().__init__("the model was rejected: " + "; ".join(problems), problems=problems)
        self.problems = problems
