"""DMN decision tables: parsing, deploy-time cell translation and every hit policy."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from orchestrator.dmn import DecisionTable, DmnError, evaluate_decision, parse_decisions
from orchestrator.expressions import ExpressionError, SafeEvaluator

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"
DMN12 = "http://www.omg.org/spec/DMN/20180521/MODEL/"
DMN11 = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"
CAMUNDA = "http://camunda.org/schema/1.0/dmn"
EVALUATOR = SafeEvaluator()

Column = tuple[str, str] | tuple[str, str, str]


def decision(decision_id: str, hit_policy: str | None, inputs: Sequence[Column], outputs: Sequence[Column],
             rules: Sequence[tuple[Sequence[str], Sequence[str]]], aggregation: str | None = None,
             input_attrs: str = "") -> str:
    """XML for one <decision>; inputs are (label, expression[, typeRef]), outputs (name, typeRef[, values])."""
    policy = f' hitPolicy="{hit_policy}"' if hit_policy else ""
    aggregate = f' aggregation="{aggregation}"' if aggregation else ""
    parts = [f'<decision id="{decision_id}" name="{decision_id.title()}">',
             f'<decisionTable id="{decision_id}_table"{policy}{aggregate}>']
    for number, column in enumerate(inputs):
        type_ref = f' typeRef="{column[2]}"' if len(column) > 2 else ""
        parts.append(f'<input id="in{number}" label="{column[0]}"{input_attrs}>'
                     f'<inputExpression id="ie{number}"{type_ref}><text>{escape(column[1])}</text>'
                     "</inputExpression></input>")
    for number, column in enumerate(outputs):
        values = f"<outputValues><text>{escape(column[2])}</text></outputValues>" if len(column) > 2 else ""
        parts.append(f'<output id="out{number}" name="{column[0]}" typeRef="{column[1]}">{values}</output>')
    for number, (cells, results) in enumerate(rules, start=1):
        parts.append(f'<rule id="r{number}">')
        parts += [f'<inputEntry id="r{number}i{i}"><text>{escape(c)}</text></inputEntry>' for i, c in enumerate(cells)]
        parts += [f'<outputEntry id="r{number}o{i}"><text>{escape(c)}</text></outputEntry>'
                  for i, c in enumerate(results)]
        parts.append("</rule>")
    parts.append("</decisionTable></decision>")
    return "".join(parts)


def document(*decisions: str, namespace: str = DMN13) -> etree._Element:
    xml = (f'<definitions xmlns="{namespace}" xmlns:camunda="{CAMUNDA}" id="defs" name="d" '
           f'namespace="http://camunda.org/schema/1.0/dmn">{"".join(decisions)}</definitions>')
    return etree.fromstring(xml.encode())


def table(*args: object, **kwargs: object) -> DecisionTable:
    tables = parse_decisions(document(decision("route", *args, **kwargs)))  # type: ignore[arg-type]
    return tables["route"]


def run(decision_table: DecisionTable, **data: object) -> dict[str, object]:
    return evaluate_decision(decision_table, data, EVALUATOR)


ROUTING_RULES = [
    (["< 1000", '"standard"'], ['"auto"']),
    (["[1000..5000]", "-"], ['"team_lead"']),
    (["> 5000", "-"], ['"finance"']),
]
ROUTING_INPUTS = [("Amount", "amount", "double"), ("Customer", "customer.tier", "string")]


# -- UNIQUE (default) ------------------------------------------------------------------------------

def test_unique_is_the_default_hit_policy_and_returns_the_single_match() -> None:
    routing = table(None, ROUTING_INPUTS, [("approver", "string")], ROUTING_RULES)
    assert routing.hit_policy == "UNIQUE"
    assert run(routing, amount=500, customer={"tier": "standard"}) == {"approver": "auto"}
    assert run(routing, amount=1000, customer={"tier": "gold"}) == {"approver": "team_lead"}
    assert run(routing, amount=9000, customer={"tier": "gold"}) == {"approver": "finance"}


def test_unique_without_match_sets_outputs_to_none() -> None:
    routing = table("UNIQUE", ROUTING_INPUTS, [("approver", "string")], ROUTING_RULES)
    assert run(routing, amount=500, customer={"tier": "gold"}) == {"approver": None}


def test_unique_with_overlapping_rules_names_the_rules() -> None:
    overlapping = table("UNIQUE", [("Amount", "amount")], [("level", "string")],
                        [([">= 10"], ['"a"']), (["< 100"], ['"b"']), (["> 1000"], ['"c"'])])
    with pytest.raises(DmnError) as info:
        run(overlapping, amount=50)
    message = str(info.value)
    assert "decision 'route'" in message and "UNIQUE" in message
    assert "rule 1 ('r1')" in message and "rule 2 ('r2')" in message and "rule 3" not in message


def test_several_outputs_single_hit() -> None:
    classify = table("UNIQUE", [("Reason", "reason")], [("category", "string"), ("refund", "boolean")],
                     [(['"damaged"'], ['"claim"', "true"]), (['"changed_mind"'], ['"return"', "false"])])
    assert run(classify, reason="damaged") == {"category": "claim", "refund": True}
    assert run(classify, reason="other") == {"category": None, "refund": None}


# -- FIRST / PRIORITY / ANY ------------------------------------------------------------------------

def test_first_returns_the_first_match_in_rule_order() -> None:
    first = table("FIRST", [("Amount", "amount")], [("level", "string")],
                  [(["> 100"], ['"high"']), (["> 10"], ['"medium"']), (["-"], ['"low"'])])
    assert run(first, amount=500) == {"level": "high"}
    assert run(first, amount=50) == {"level": "medium"}
    assert run(first, amount=1) == {"level": "low"}


def test_first_stops_evaluating_after_the_match() -> None:
    first = table("FIRST", [("Amount", "amount")], [("level", "string")],
                  [(["> 100"], ['"high"']), (["-"], ["missing_variable"])])
    assert run(first, amount=500) == {"level": "high"}


def test_priority_picks_the_output_ranked_first_in_output_values() -> None:
    priority = table("PRIORITY", [("Amount", "amount")], [("risk", "string", '"high","medium","low"')],
                     [(["> 0"], ['"low"']), (["> 100"], ['"high"']), (["> 10"], ['"medium"'])])
    assert run(priority, amount=500) == {"risk": "high"}
    assert run(priority, amount=50) == {"risk": "medium"}
    assert run(priority, amount=-1) == {"risk": None}


def test_priority_needs_output_values() -> None:
    with pytest.raises(DmnError, match="needs output values"):
        table("PRIORITY", [("A", "a")], [("risk", "string")], [(["-"], ['"x"'])])


def test_any_returns_the_agreed_output() -> None:
    agreed = table("ANY", [("Amount", "amount")], [("flag", "boolean")],
                   [(["> 10"], ["true"]), (["> 100"], ["true"]), (["< 0"], ["false"])])
    assert run(agreed, amount=500) == {"flag": True}
    assert run(agreed, amount=5) == {"flag": None}


def test_any_with_conflicting_outputs_names_the_rules() -> None:
    conflicting = table("ANY", [("Amount", "amount")], [("flag", "boolean")],
                        [(["> 10"], ["true"]), (["> 100"], ["false"])])
    with pytest.raises(DmnError, match=r"decision 'route' \(hit policy ANY\): rule 1 \('r1'\), rule 2 \('r2'\)"):
        run(conflicting, amount=500)


# -- multi-hit ------------------------------------------------------------------------------------

CHECKS = [(["> 0"], ['"id_check"', "1"]), (["> 1000"], ['"manager"', "5"]), (["> 100"], ['"photo"', "2"])]


def test_rule_order_lists_outputs_in_rule_order_per_column() -> None:
    ordered = table("RULE ORDER", [("Amount", "amount")], [("check", "string"), ("cost", "integer")], CHECKS)
    assert run(ordered, amount=5000) == {"check": ["id_check", "manager", "photo"], "cost": [1, 5, 2]}
    assert run(ordered, amount=500) == {"check": ["id_check", "photo"], "cost": [1, 2]}
    assert run(ordered, amount=0) == {"check": [], "cost": []}


def test_output_order_sorts_by_output_values() -> None:
    ordered = table("OUTPUT ORDER", [("Amount", "amount")],
                    [("check", "string", '"manager","photo","id_check"')], [(r[0], r[1][:1]) for r in CHECKS])
    assert run(ordered, amount=5000) == {"check": ["manager", "photo", "id_check"]}


def test_collect_single_output_is_a_list() -> None:
    collect = table("COLLECT", [("Amount", "amount")], [("check", "string")], [(r[0], r[1][:1]) for r in CHECKS])
    assert run(collect, amount=500) == {"check": ["id_check", "photo"]}
    assert run(collect, amount=-5) == {"check": []}


@pytest.mark.parametrize(("aggregation", "amount", "expected"), [
    ("SUM", 5000, 8), ("SUM", 500, 3), ("SUM", -1, 0),
    ("COUNT", 5000, 3), ("COUNT", 50, 1), ("COUNT", -1, 0),
    ("MIN", 5000, 1), ("MIN", -1, None),
    ("MAX", 5000, 5), ("MAX", 500, 2), ("MAX", -1, None),
])
def test_collect_aggregations(aggregation: str, amount: int, expected: object) -> None:
    collect = table("COLLECT", [("Amount", "amount")], [("cost", "integer")],
                    [(r[0], r[1][1:]) for r in CHECKS], aggregation=aggregation)
    assert collect.aggregation == aggregation
    assert run(collect, amount=amount) == {"cost": expected}


def test_collect_aggregation_needs_one_output_column() -> None:
    with pytest.raises(DmnError, match="aggregation SUM needs exactly one output column"):
        table("COLLECT", [("Amount", "amount")], [("check", "string"), ("cost", "integer")], CHECKS,
              aggregation="SUM")


def test_collect_sum_of_strings_is_an_error() -> None:
    collect = table("COLLECT", [("A", "a")], [("x", "string")], [(["-"], ['"s"'])], aggregation="SUM")
    with pytest.raises(DmnError, match="can only sum numbers"):
        run(collect, a=1)


def test_aggregation_only_with_collect() -> None:
    with pytest.raises(DmnError, match="needs hit policy COLLECT"):
        table("FIRST", [("A", "a")], [("x", "integer")], [(["-"], ["1"])], aggregation="SUM")


# -- parsing ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("namespace", [DMN11, DMN12, DMN13, "https://www.omg.org/spec/DMN/20211108/MODEL/"])
def test_all_dmn_namespaces(namespace: str) -> None:
    root = document(decision("route", "FIRST", [("A", "a")], [("x", "integer")], [(["-"], ["1"])]),
                    namespace=namespace)
    assert run(parse_decisions(root)["route"], a=0) == {"x": 1}


def test_several_decisions_per_file_tables_and_literal_expressions() -> None:
    literal = '<decision id="lit"><literalExpression><text>1</text></literalExpression></decision>'
    root = document(decision("first", "FIRST", [("A", "a")], [("x", "integer")], [(["-"], ["1"])]),
                    decision("second", "COLLECT", [("A", "a")], [("y", "integer")], [(["> 0"], ["2"])]),
                    literal)
    tables = parse_decisions(root)
    assert set(tables) == {"first", "second", "lit"}
    assert run(tables["lit"]) == {"lit": 1}  # no <variable>: the result is named by the decision id
    assert tables["second"].name == "Second"
    assert run(tables["second"], a=1) == {"y": [2]}
    assert parse_decisions(etree.ElementTree(root)).keys() == tables.keys()


def test_duplicate_decision_ids_are_rejected() -> None:
    one = decision("route", "FIRST", [("A", "a")], [("x", "integer")], [(["-"], ["1"])])
    with pytest.raises(DmnError, match="decision id 'route' is used twice"):
        parse_decisions(document(one, one))


def test_not_a_dmn_document() -> None:
    bpmn = etree.fromstring(b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>')
    with pytest.raises(DmnError, match="not a DMN document"):
        parse_decisions(bpmn)


@pytest.mark.parametrize(("cell", "problem"), [
    ('substring("abc", 1)', "FEEL function 'substring(...)' is not supported"),
    ("__import__('os')", "name '__import__' is not allowed"),
    ("[1..", "unexpected end of text"),
])
def test_bad_input_cell_is_rejected_at_parse_time_with_location(cell: str, problem: str) -> None:
    rules = [(["-", "-"], ['"a"']), (["-", "-"], ['"b"']), (["-", cell], ['"c"'])]
    with pytest.raises(DmnError) as info:
        table("FIRST", ROUTING_INPUTS, [("approver", "string")], rules)
    message = str(info.value)
    assert message.startswith("decision 'route' rule 3 ('r3') input 'Customer': ")
    assert problem in message


def test_bad_output_cell_and_input_expression_are_rejected_at_parse_time() -> None:
    with pytest.raises(DmnError, match=r"decision 'route' rule 1 \('r1'\) output 'x': .*attribute '__class__'"):
        table("FIRST", [("A", "a")], [("x", "string")], [(["-"], ["a.__class__"])])
    with pytest.raises(DmnError, match="decision 'route' input 'Amount': .*FEEL function 'substring"):
        table("FIRST", [("Amount", "substring(items, 1)")], [("x", "string")], [(["-"], ["1"])])


def test_wrong_number_of_entries_is_rejected() -> None:
    with pytest.raises(DmnError, match=r"rule 1 \('r1'\): has 1 input and 1 output entries, the table has 2 inputs"):
        table("FIRST", ROUTING_INPUTS, [("x", "string")], [(["-"], ["1"])])


def test_unknown_hit_policy() -> None:
    with pytest.raises(DmnError, match="decision 'route': unknown hit policy 'SOMETIMES'"):
        table("SOMETIMES", [("A", "a")], [("x", "string")], [(["-"], ["1"])])


def test_dmn_error_is_an_expression_error() -> None:
    assert issubclass(DmnError, ExpressionError)


def test_cells_are_translated_at_parse_time() -> None:
    routing = table("UNIQUE", ROUTING_INPUTS, [("approver", "string")], ROUTING_RULES)
    assert routing.rules[0].conditions == ("(cellInput is not None and cellInput < 1000)", "(cellInput == 'standard')")
    assert routing.rules[1].conditions[1] is None
    assert routing.rules[2].outputs == ("'finance'",)
    assert routing.inputs[1].expression == "customer.tier"


# -- evaluation details -----------------------------------------------------------------------------

def test_evaluation_error_names_decision_rule_and_column() -> None:
    compare = table("FIRST", [("Amount", "amount")], [("x", "string")], [(["> limit"], ['"a"'])])
    with pytest.raises(DmnError, match=r"decision 'route' rule 1 \('r1'\) input 'Amount': unknown variable 'limit'"):
        run(compare, amount=5)
    with pytest.raises(DmnError, match="decision 'route' input 'Amount': unknown variable 'amount'"):
        run(compare)


def test_type_ref_coerces_form_strings() -> None:
    routing = table("UNIQUE", ROUTING_INPUTS, [("approver", "string")], ROUTING_RULES)
    assert run(routing, amount="7000", customer={"tier": "x"}) == {"approver": "finance"}
    counting = table("FIRST", [("Qty", "qty", "integer"), ("Ok", "ok", "boolean")], [("n", "integer")],
                     [(["> 2", "true"], ["qty"])])
    assert run(counting, qty="3", ok="true") == {"n": 3}
    with pytest.raises(DmnError, match="value 'three' is not a valid integer"):
        run(counting, qty="three", ok="true")


def test_juel_and_camunda_input_variable() -> None:
    xml = decision("route", "FIRST", [("Amount", "${order.amount}")], [("x", "string")],
                   [(["> 10"], ['"big"']), (["${amount % 2 == 0}"], ['"even"'])],
                   input_attrs=' camunda:inputVariable="amount"')
    routing = parse_decisions(document(xml))["route"]
    assert routing.inputs[0].variable == "amount"
    assert run(routing, order={"amount": 50}) == {"x": "big"}
    assert run(routing, order={"amount": 4}) == {"x": "even"}


def test_juel_expression_language_attribute() -> None:
    xml = decision("route", "FIRST", [("Amount", "amount")], [("x", "string")], [(["amount > 10"], ['"big"'])])
    xml = xml.replace('<inputEntry id="r1i0">', '<inputEntry id="r1i0" expressionLanguage="juel">')
    routing = parse_decisions(document(xml))["route"]
    assert run(routing, amount=11) == {"x": "big"}


def test_unsupported_expression_language() -> None:
    xml = decision("route", "FIRST", [("Amount", "amount")], [("x", "string")], [(["-"], ['"a"'])])
    xml = xml.replace('<inputExpression id="ie0"', '<inputExpression id="ie0" expressionLanguage="javascript"')
    with pytest.raises(DmnError, match="expression language 'javascript' is not supported"):
        parse_decisions(document(xml))


def test_output_entries_can_use_data_and_empty_means_null() -> None:
    compute = table("FIRST", [("Amount", "amount")], [("fee", "double"), ("note", "string")],
                    [(["> 100"], ["amount * 0.1", ""])])
    assert run(compute, amount=200) == {"fee": 20.0, "note": None}


def test_output_name_falls_back_to_label_then_id() -> None:
    xml = decision("route", "FIRST", [("A", "a")], [("x", "string"), ("y", "string")], [(["-"], ['"1"', '"2"'])])
    xml = xml.replace('name="x" ', 'label="Label X" ').replace('name="y" ', "")
    assert run(parse_decisions(document(xml))["route"], a=1) == {"Label X": "1", "out1": "2"}


def test_hostile_data_cannot_escape_through_cells() -> None:
    routing = table("FIRST", [("Reason", "reason")], [("x", "string")], [(['"a"'], ['"b"'])])
    assert run(routing, reason={"__class__": 1}) == {"x": None}


# -- inputs without expression, literal expressions, required decisions ----------------------------------

def test_an_input_without_expression_has_no_value_and_each_entry_is_its_own_test() -> None:
    xml = decision("route", "FIRST", [("Amount", "")], [("approver", "string")],
                   [(["amount > 1000"], ['"lead"']), (["< 10"], ['"never"']), (["-"], ['"clerk"'])])
    routing = parse_decisions(document(xml))["route"]
    assert run(routing, amount=5000) == {"approver": "lead"}
    assert run(routing, amount=5) == {"approver": "clerk"}  # '< 10' compares the missing input: no match


def literal_decision(decision_id: str, text: str, variable: str = "", requires: Sequence[str] = ()) -> str:
    named = f'<variable name="{variable}" typeRef="string"/>' if variable else ""
    required = "".join(f'<informationRequirement><requiredDecision href="#{r}"/></informationRequirement>'
                       for r in requires)
    return (f'<decision id="{decision_id}">{required}{named}<literalExpression><text>{escape(text)}</text>'
            "</literalExpression></decision>")


def test_required_decisions_feed_the_decision_that_requires_them() -> None:
    season = decision("season", "FIRST", [("Month", "month", "integer")], [("season", "string")],
                      [(["[6..8]"], ['"Summer"']), (["-"], ['"Other"'])])
    sizes = decision("sizes", "COLLECT", [("Guests", "guests", "integer")], [("size", "string")],
                     [(["> 0"], ['"some"']), (["> 5"], ['"many"'])])
    label = literal_decision("label", 'season + " x" + string(count(size))', "label", requires=("season", "sizes"))
    decisions = parse_decisions(document(season, sizes, label))
    assert [d.decision_id for d in decisions["label"].required] == ["season", "sizes"]
    assert run(decisions["label"], month=7, guests=8) == {"label": "Summer x2"}  # COLLECT: a list by output name


def test_date_results_become_iso_text_and_date_inputs_are_read_as_date_times() -> None:
    due = literal_decision("due", 'date and time(submitted) + duration("P1D")', "due")
    late = decision("late", "FIRST", [("Submitted", "submitted", "date")], [("late", "boolean")],
                    [(['< date and time("2024-01-01T00:00:00")'], ["true"]), (["-"], ["false"])])
    decisions = parse_decisions(document(due, late))
    assert run(decisions["due"], submitted="2024-01-01T10:00:00") == {"due": "2024-01-02T10:00:00+00:00"}
    assert run(decisions["late"], submitted="2023-06-01T00:00:00Z") == {"late": True}


@pytest.mark.parametrize(("decisions", "problem"), [
    ([literal_decision("a", "1", requires=("b",)), literal_decision("b", "1", requires=("a",))],
     "decision 'a': its required decisions form a cycle (a -> b -> a)"),
    ([literal_decision("a", "1", requires=("zz",))], "decision 'a': required decision 'zz' is not in this file"),
    (['<decision id="a"><invocation/></decision>'], "decision 'a': its <invocation> logic is not supported"),
    (['<decision id="a"/>'], "decision 'a': it has no decision logic"),
    ([literal_decision("a", "")], "decision 'a' literal expression: is empty"),
])
def test_decision_graph_problems_are_refused_naming_the_decision(decisions: list[str], problem: str) -> None:
    with pytest.raises(DmnError) as refused:
        parse_decisions(document(*decisions))
    assert problem in str(refused.value)
