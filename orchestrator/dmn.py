"""DMN decision tables: parsed and translated at deploy time, evaluated with the safe evaluator.

Replaces SpiffWorkflow's DMN engine, which ignores most hit policies, aggregation and FEEL ranges.
Every cell is translated when the file is parsed, so a bad cell fails the deployment with the
decision id, rule number/id and column. Supported DMN namespaces: any OMG DMN version (1.1-1.5).

Result of ``evaluate_decision`` (keys are the output names):

* single-hit policies (UNIQUE, FIRST, PRIORITY, ANY): ``{name: value, ...}``; no match -> every
  output ``None``;
* multi-hit policies (RULE ORDER, OUTPUT ORDER, COLLECT): ``{name: [value per matched rule], ...}``
  (one list per output column, aligned by rule); no match -> empty lists;
* COLLECT with SUM/COUNT/MIN/MAX (one output column only): ``{name: aggregate}`` over the non-null
  values of the matched rules; no match -> SUM 0, COUNT 0, MIN/MAX ``None``. COUNT counts values
  like Camunda (not distinct values).

Input and output values are coerced by ``typeRef`` when given as text: integer/long -> int,
double/number -> float, boolean -> bool ("true"/"false"), date/dateTime -> a FEEL date-time (text without
offset read as UTC); a value that cannot be coerced is an error. Dates, times and durations a decision
returns become ISO 8601 text, as process variables hold them.

As in Camunda 7: an input without input expression has no value (null), so each of its entries is a test
of its own (``amount > 1000``); a ``<literalExpression>`` decision returns one value named by its
``<variable>`` (else by the decision id); a decision's ``requiredDecision``s (same file) are evaluated first
and their outputs are variables named by output name (a list per output for RULE ORDER/COLLECT without
aggregation). Any other decision logic (contexts, invocations, BKMs) is refused naming the decision.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lxml import etree

from orchestrator.expressions import (
    ExpressionError,
    SafeEvaluator,
    translate_expression,
    translate_feel_expression,
    translate_unary_tests,
)
from orchestrator.expressions.feel import feel_literals
from orchestrator.expressions.model_functions import feel_date_and_time, plain_value

CAMUNDA_DMN_NAMESPACE = "http://camunda.org/schema/1.0/dmn"
SINGLE_HIT = frozenset({"UNIQUE", "FIRST", "PRIORITY", "ANY"})
MULTI_HIT = frozenset({"RULE ORDER", "OUTPUT ORDER", "COLLECT"})
AGGREGATIONS = frozenset({"SUM", "COUNT", "MIN", "MAX"})
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_DATE_TYPES = frozenset({"date", "datetime", "date and time"})  # Camunda 7 "date" is a java.util.Date


class DmnError(ExpressionError):
    """A decision table cannot be deployed or evaluated; the message names decision, rule and column."""


@dataclass(frozen=True)
class DecisionInput:
    input_id: str
    label: str
    expression: str
    source: str
    variable: str
    type_ref: str | None


@dataclass(frozen=True)
class DecisionOutput:
    output_id: str
    name: str
    label: str
    type_ref: str | None
    values: tuple[Any, ...]


@dataclass(frozen=True)
class DecisionRule:
    rule_id: str
    number: int
    conditions: tuple[str | None, ...]
    outputs: tuple[str, ...]

    @property
    def ref(self) -> str:
        return f"rule {self.number} ('{self.rule_id}')" if self.rule_id else f"rule {self.number}"


@dataclass(frozen=True)
class DecisionTable:
    decision_id: str
    name: str
    hit_policy: str
    aggregation: str | None
    inputs: tuple[DecisionInput, ...]
    outputs: tuple[DecisionOutput, ...]
    rules: tuple[DecisionRule, ...]
    required: tuple[Decision, ...] = ()  # required decisions (DRD), evaluated first


@dataclass(frozen=True)
class LiteralDecision:
    """A decision whose logic is one literal expression; its result is one value named `variable`."""

    decision_id: str
    name: str
    variable: str
    type_ref: str | None
    expression: str
    source: str
    required: tuple[Decision, ...] = ()
    hit_policy: str = "UNIQUE"  # shapes the result like a single-hit table with one output
    aggregation: str | None = None


Decision = DecisionTable | LiteralDecision


# -- parsing -----------------------------------------------------------------------------------

def _namespace(root: etree._Element) -> str:
    namespace = etree.QName(root).namespace or ""
    if etree.QName(root).localname != "definitions" or not re.match(r"https?://www\.omg\.org/spec/DMN/", namespace):
        raise DmnError("not a DMN document: the root element must be an OMG DMN <definitions>")
    return namespace


def _language(element: etree._Element, default: str) -> str:
    declared = (element.get("expressionLanguage") or default).strip().lower()
    for language in ("feel", "juel", "python"):
        if language in declared:
            return language
    raise DmnError(f"expression language '{declared}' is not supported (use FEEL or JUEL)")


def _as_el(text: str) -> str:
    stripped = text.strip()
    return stripped if stripped.startswith(("${", "#{")) else "${" + stripped + "}"


class _TableParser:
    """Parses one <decision>/<decisionTable>, translating every cell and naming the cell on error."""

    def __init__(self, decision: etree._Element, table: etree._Element, ns: str, language: str) -> None:
        self.decision_id = decision.get("id") or ""
        self.decision = decision
        self.table = table
        self.ns = ns
        self.language = _language(table, language)

    def _q(self, tag: str) -> str:
        return f"{{{self.ns}}}{tag}"

    def _text(self, element: etree._Element | None) -> str:
        if element is None:
            return ""
        return (element.findtext(self._q("text")) or "").strip()

    def _fail(self, where: str, message: str) -> DmnError:
        return DmnError(f"decision '{self.decision_id}'{' ' + where if where else ''}: {message}")

    def parse(self) -> DecisionTable:
        hit_policy = (self.table.get("hitPolicy") or "UNIQUE").strip().upper().replace("_", " ")
        aggregation = (self.table.get("aggregation") or "").strip().upper() or None
        if hit_policy not in SINGLE_HIT | MULTI_HIT:
            raise self._fail("", f"unknown hit policy '{hit_policy}'")
        if aggregation is not None and (hit_policy != "COLLECT" or aggregation not in AGGREGATIONS):
            raise self._fail("", f"aggregation '{aggregation}' needs hit policy COLLECT "
                             "and one of SUM, COUNT, MIN, MAX")
        inputs = tuple(self._input(element) for element in self.table.iterfind(self._q("input")))
        outputs = tuple(self._output(element) for element in self.table.iterfind(self._q("output")))
        if not outputs:
            raise self._fail("", "has no output column")
        if len({output.name for output in outputs}) != len(outputs):
            raise self._fail("", "output names must be unique")
        if aggregation is not None and len(outputs) != 1:
            raise self._fail("", f"aggregation {aggregation} needs exactly one output column")
        if hit_policy in ("PRIORITY", "OUTPUT ORDER") and not any(output.values for output in outputs):
            raise self._fail("", f"hit policy {hit_policy} needs output values to rank outputs")
        rules = tuple(self._rule(element, number, inputs, outputs)
                      for number, element in enumerate(self.table.iterfind(self._q("rule")), start=1))
        return DecisionTable(self.decision_id, self.decision.get("name") or self.decision_id, hit_policy,
                             aggregation, inputs, outputs, rules)

    def _input(self, element: etree._Element) -> DecisionInput:
        expression_element = element.find(self._q("inputExpression"))
        source = self._text(expression_element)
        label = element.get("label") or source or element.get("id") or "?"
        if not source:  # as in Camunda 7: no input value (null); each entry is tested on its own
            return DecisionInput(element.get("id") or "", label, "None", "", "cellInput", None)
        try:
            language = self.language if expression_element is None else _language(expression_element, self.language)
            python = (translate_feel_expression(source) if language == "feel"
                      else translate_expression(_as_el(source) if language == "juel" else source))
        except ExpressionError as exc:
            raise self._fail(f"input '{label}'", exc.message) from None
        variable = element.get(f"{{{CAMUNDA_DMN_NAMESPACE}}}inputVariable") or "cellInput"
        type_ref = expression_element.get("typeRef") if expression_element is not None else None
        return DecisionInput(element.get("id") or "", label, python, source, variable, type_ref)

    def _output(self, element: etree._Element) -> DecisionOutput:
        name = element.get("name") or element.get("label") or element.get("id") or ""
        if not name:
            raise self._fail("output", "has no name, label or id")
        try:
            values = feel_literals(self._text(element.find(self._q("outputValues"))))
        except ExpressionError as exc:
            raise self._fail(f"output '{name}' output values", exc.message) from None
        return DecisionOutput(element.get("id") or "", name, element.get("label") or name,
                              element.get("typeRef"), values)

    def _rule(self, element: etree._Element, number: int, inputs: tuple[DecisionInput, ...],
              outputs: tuple[DecisionOutput, ...]) -> DecisionRule:
        rule = DecisionRule(element.get("id") or "", number, (), ())
        entries = list(element.iterfind(self._q("inputEntry")))
        results = list(element.iterfind(self._q("outputEntry")))
        if len(entries) != len(inputs) or len(results) != len(outputs):
            raise self._fail(rule.ref, f"has {len(entries)} input and {len(results)} output entries, "
                             f"the table has {len(inputs)} inputs and {len(outputs)} outputs")
        conditions = tuple(self._condition(rule, entry, column) for entry, column in zip(entries, inputs, strict=True))
        values = tuple(self._result(rule, entry, column) for entry, column in zip(results, outputs, strict=True))
        return DecisionRule(rule.rule_id, number, conditions, values)

    def _condition(self, rule: DecisionRule, entry: etree._Element, column: DecisionInput) -> str | None:
        text = self._text(entry)
        if text in ("", "-"):
            return None
        try:
            language = _language(entry, self.language)
            if language == "feel":
                python = translate_unary_tests(text, column.variable)
            else:
                python = translate_expression(_as_el(text) if language == "juel" else text)
        except ExpressionError as exc:
            raise self._fail(f"{rule.ref} input '{column.label}'", exc.message) from None
        return None if python == "True" else python

    def _result(self, rule: DecisionRule, entry: etree._Element, column: DecisionOutput) -> str:
        text = self._text(entry)
        try:
            language = _language(entry, self.language)
            if language == "feel" or not text:
                return translate_feel_expression(text)
            return translate_expression(_as_el(text) if language == "juel" else text)
        except ExpressionError as exc:
            raise self._fail(f"{rule.ref} output '{column.name}'", exc.message) from None


def _literal_decision(decision: etree._Element, literal: etree._Element, ns: str, language: str) -> LiteralDecision:
    decision_id = decision.get("id") or ""
    variable = decision.find(f"{{{ns}}}variable")
    name = (variable.get("name") if variable is not None else None) or decision_id
    type_ref = (variable.get("typeRef") if variable is not None else None) or literal.get("typeRef")
    source = (literal.findtext(f"{{{ns}}}text") or "").strip()
    where = f"decision '{decision_id}' literal expression"
    if not source:
        raise DmnError(f"{where}: is empty")
    try:
        kind = _language(literal, language)
        python = (translate_feel_expression(source) if kind == "feel"
                  else translate_expression(_as_el(source) if kind == "juel" else source))
    except ExpressionError as exc:
        raise DmnError(f"{where}: {exc.message}") from None
    return LiteralDecision(decision_id, decision.get("name") or decision_id, name, type_ref, python, source)


def _required_ids(decision: etree._Element, ns: str) -> tuple[str, ...]:
    refs = []
    for required in decision.iterfind(f"{{{ns}}}informationRequirement/{{{ns}}}requiredDecision"):
        href = (required.get("href") or "").strip()
        if not href.startswith("#") or len(href) < 2:
            raise DmnError(f"decision '{decision.get('id')}': required decision '{href}' must point to a "
                           "decision of the same file ('#id')")
        refs.append(href[1:])
    return tuple(refs)


def _link_requirements(decisions: dict[str, Decision], requires: dict[str, tuple[str, ...]]) -> dict[str, Decision]:
    """Give each decision its required decisions (themselves linked), refusing unknown ids and cycles."""
    linked: dict[str, Decision] = {}

    def link(decision_id: str, path: tuple[str, ...]) -> Decision:
        if decision_id in linked:
            return linked[decision_id]
        if decision_id in path:
            cycle = " -> ".join((*path[path.index(decision_id):], decision_id))
            raise DmnError(f"decision '{decision_id}': its required decisions form a cycle ({cycle})")
        for required in requires[decision_id]:
            if required not in decisions:
                raise DmnError(f"decision '{decision_id}': required decision '{required}' is not in this file")
        required = tuple(link(r, (*path, decision_id)) for r in requires[decision_id])
        linked[decision_id] = replace(decisions[decision_id], required=required)
        return linked[decision_id]

    for decision_id in decisions:
        link(decision_id, ())
    return linked


def parse_decisions(root: etree._Element | etree._ElementTree) -> dict[str, Decision]:
    """Every <decision> of a parsed DMN document (decision table or literal expression), keyed by id."""
    if isinstance(root, etree._ElementTree):
        root = root.getroot()
    ns = _namespace(root)
    language = root.get("expressionLanguage") or "feel"
    decisions: dict[str, Decision] = {}
    requires: dict[str, tuple[str, ...]] = {}
    for decision in root.iterfind(f"{{{ns}}}decision"):
        decision_id = decision.get("id") or ""
        if not decision_id:
            raise DmnError("a <decision> has no id")
        if decision_id in decisions:
            raise DmnError(f"decision id '{decision_id}' is used twice")
        table = decision.find(f"{{{ns}}}decisionTable")
        literal = decision.find(f"{{{ns}}}literalExpression")
        if table is not None:
            decisions[decision_id] = _TableParser(decision, table, ns, language).parse()
        elif literal is not None:
            decisions[decision_id] = _literal_decision(decision, literal, ns, language)
        else:
            logic = next((etree.QName(child).localname for child in decision if isinstance(child.tag, str)
                          and etree.QName(child).localname not in _NOT_LOGIC), None)
            what = f"its <{logic}> logic is not supported" if logic else "it has no decision logic"
            raise DmnError(f"decision '{decision_id}': {what} (use a decision table or a literal expression)")
        requires[decision_id] = _required_ids(decision, ns)
    return _link_requirements(decisions, requires)


_NOT_LOGIC = frozenset({"description", "extensionElements", "question", "allowedAnswers", "variable",
                        "informationRequirement", "knowledgeRequirement", "authorityRequirement"})


# -- evaluation --------------------------------------------------------------------------------

def _coerce(value: Any, type_ref: str | None) -> Any:
    kind = (type_ref or "").strip().lower()
    if isinstance(value, str) and kind in _DATE_TYPES:
        return feel_date_and_time(value)
    if not isinstance(value, str) or kind not in ("integer", "long", "double", "number", "boolean"):
        return value
    if kind in ("integer", "long"):
        if not _INTEGER.fullmatch(value):
            raise ExpressionError(f"value {value!r} is not a valid {kind}")
        return int(value)
    if kind == "boolean":
        if value.strip().lower() not in ("true", "false"):
            raise ExpressionError(f"value {value!r} is not a valid boolean")
        return value.strip().lower() == "true"
    try:
        return float(value)
    except ValueError:
        raise ExpressionError(f"value {value!r} is not a valid {kind}") from None


class _Evaluation:
    """One evaluation of a table against task data; errors name the decision and cell."""

    def __init__(self, table: DecisionTable, data: Mapping[str, Any], evaluator: SafeEvaluator) -> None:
        self.table = table
        self.data = data
        self.evaluator = evaluator

    def fail(self, where: str, message: str) -> DmnError:
        return DmnError(f"decision '{self.table.decision_id}' {where}: {message}")

    def matches(self) -> list[DecisionRule]:
        scopes = []
        for column in self.table.inputs:
            try:
                value = _coerce(self.evaluator.evaluate(column.expression, self.data), column.type_ref)
            except ExpressionError as exc:
                raise self.fail(f"input '{column.label}'", exc.message) from None
            scopes.append(ChainMap({column.variable: value}, self.data))
        matched = []
        for rule in self.table.rules:
            if all(self._holds(rule, index, scopes[index]) for index in range(len(self.table.inputs))):
                matched.append(rule)
                if self.table.hit_policy == "FIRST":
                    break
        return matched

    def _holds(self, rule: DecisionRule, index: int, scope: Mapping[str, Any]) -> bool:
        condition = rule.conditions[index]
        if condition is None:
            return True
        try:
            return bool(self.evaluator.evaluate(condition, scope))
        except ExpressionError as exc:
            raise self.fail(f"{rule.ref} input '{self.table.inputs[index].label}'", exc.message) from None

    def outputs(self, rule: DecisionRule) -> dict[str, Any]:
        result = {}
        for column, python in zip(self.table.outputs, rule.outputs, strict=True):
            try:
                result[column.name] = _coerce(self.evaluator.evaluate(python, self.data), column.type_ref)
            except ExpressionError as exc:
                raise self.fail(f"{rule.ref} output '{column.name}'", exc.message) from None
        return result

    def priority(self, values: dict[str, Any]) -> tuple[int, ...]:
        ranks = []
        for column in self.table.outputs:
            if column.values:
                value = values[column.name]
                ranks.append(column.values.index(value) if value in column.values else len(column.values))
        return tuple(ranks)


def _refs(rules: list[DecisionRule]) -> str:
    return ", ".join(rule.ref for rule in rules)


def _single(run: _Evaluation, matched: list[DecisionRule]) -> dict[str, Any]:
    table = run.table
    if not matched:
        return {column.name: None for column in table.outputs}
    if table.hit_policy == "UNIQUE" and len(matched) > 1:
        raise run.fail("(hit policy UNIQUE)", f"{_refs(matched)} all match, but only one may")
    if table.hit_policy in ("UNIQUE", "FIRST"):
        return run.outputs(matched[0])
    results = [run.outputs(rule) for rule in matched]
    if table.hit_policy == "ANY":
        if any(result != results[0] for result in results[1:]):
            raise run.fail("(hit policy ANY)", f"{_refs(matched)} match with different outputs")
        return results[0]
    return min(results, key=run.priority)


def _aggregate(run: _Evaluation, values: list[Any]) -> Any:
    aggregation = run.table.aggregation
    present = [value for value in values if value is not None]
    if aggregation == "COUNT":
        return len(present)
    if aggregation == "SUM":
        if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in present):
            raise run.fail("(COLLECT SUM)", "can only sum numbers")
        return sum(present)
    if not present:
        return None
    try:
        return min(present) if aggregation == "MIN" else max(present)
    except TypeError as exc:
        raise run.fail(f"(COLLECT {aggregation})", str(exc)) from None


def evaluate_decision(decision: Decision, data: Mapping[str, Any], evaluator: SafeEvaluator) -> dict[str, Any]:
    """Evaluate ``decision`` (its required decisions first) against task data; returns the variables to
    merge into the task data (dates, times and durations as ISO 8601 text)."""
    return {name: plain_value(value) for name, value in _evaluate(decision, data, evaluator).items()}


def _evaluate(decision: Decision, data: Mapping[str, Any], evaluator: SafeEvaluator) -> dict[str, Any]:
    if decision.required:
        # as Camunda 7: each required decision's outputs are variables named by output name (lists for
        # RULE ORDER/COLLECT without aggregation), visible to the decisions that require it
        results: dict[str, Any] = {}
        for required in decision.required:
            results.update(_evaluate(required, data, evaluator))
        data = ChainMap(results, data)
    if isinstance(decision, LiteralDecision):
        try:
            value = _coerce(evaluator.evaluate(decision.expression, data), decision.type_ref)
        except ExpressionError as exc:
            raise DmnError(f"decision '{decision.decision_id}' literal expression: {exc.message}") from None
        return {decision.variable: value}
    return _evaluate_table(decision, data, evaluator)


def _evaluate_table(table: DecisionTable, data: Mapping[str, Any], evaluator: SafeEvaluator) -> dict[str, Any]:
    run = _Evaluation(table, data, evaluator)
    matched = run.matches()
    if table.hit_policy in SINGLE_HIT:
        return _single(run, matched)
    results = [run.outputs(rule) for rule in matched]
    if table.hit_policy == "OUTPUT ORDER":
        results.sort(key=run.priority)
    columns = {column.name: [result[column.name] for result in results] for column in table.outputs}
    if table.aggregation is not None:
        name = table.outputs[0].name
        return {name: _aggregate(run, columns[name])}
    return columns
