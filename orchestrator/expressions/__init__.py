"""Sandboxed expressions for uploaded models: JUEL/FEEL/timer translation, evaluation, scripts."""

from orchestrator.expressions.errors import ExpressionError
from orchestrator.expressions.feel import translate_feel_expression, translate_unary_tests
from orchestrator.expressions.juel import translate_expression
from orchestrator.expressions.sandbox import SafeEvaluator
from orchestrator.expressions.scripts import ScriptError, check_script, run_script
from orchestrator.expressions.timers import translate_timer

__all__ = [
    "ExpressionError",
    "SafeEvaluator",
    "ScriptError",
    "check_script",
    "run_script",
    "translate_expression",
    "translate_feel_expression",
    "translate_timer",
    "translate_unary_tests",
]
