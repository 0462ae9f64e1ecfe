"""Decisions as public Camunda 7 models write them: FEEL built-ins (`date and time(..)`, `duration(..)`,
`starts with(..)`, ...), inputs without an input expression, literal-expression decisions, required decisions
(DRDs), DMN-only deployments used by processes deployed later, and `.bpmn20.xml`/`.dmn11.xml` file names.
Each runs deploy → start → result observed; what is unsupported is refused at deploy naming the decision."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest
from sqlalchemy import func, select

from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidModel
from orchestrator.models import Deployment
from tests.conformance.conftest import deploy, model
from tests.conftest import ADMIN
from tests.support import inspect

DMN13 = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def dmn(*decisions: str, name: str = "rules.dmn", namespace: str = DMN13) -> ModelFile:
    return ModelFile(name, f'<?xml version="1.0" encoding="UTF-8"?><definitions xmlns="{namespace}" '
                           f'xmlns:camunda="http://camunda.org/schema/1.0/dmn" id="drd" name="Rules" '
                           f'namespace="http://camunda.org/schema/1.0/dmn">{"".join(decisions)}</definitions>')


def table(decision_id: str, inputs: list[tuple[str, str]], outputs: list[str], rules: list[tuple[list[str], list[str]]],
          hit_policy: str = "FIRST", requires: tuple[str, ...] = ()) -> str:
    """A decision table; inputs are (input expression, typeRef) — an empty expression writes none."""
    parts = [f'<decision id="{decision_id}" name="{decision_id}">']
    parts += [f'<informationRequirement id="req_{decision_id}_{r}"><requiredDecision href="#{r}"/>'
              "</informationRequirement>" for r in requires]
    parts.append(f'<decisionTable id="{decision_id}_table" hitPolicy="{hit_policy}">')
    for number, (expression, type_ref) in enumerate(inputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        text = f"<text>{escape(expression)}</text>" if expression else ""
        parts.append(f'<input id="{decision_id}_in{number}" label="Input {number}">'
                     f'<inputExpression id="{decision_id}_ie{number}"{type_attr}>{text}</inputExpression></input>')
    parts += [f'<output id="{decision_id}_out{n}" name="{name}" typeRef="string"/>' for n, name in enumerate(outputs)]
    for number, (cells, results) in enumerate(rules, start=1):
        parts.append(f'<rule id="{decision_id}_r{number}">')
        parts += [f'<inputEntry id="{decision_id}_r{number}i{i}"><text>{escape(c)}</text></inputEntry>'
                  for i, c in enumerate(cells)]
        parts += [f'<outputEntry id="{decision_id}_r{number}o{i}"><text>{escape(c)}</text></outputEntry>'
                  for i, c in enumerate(results)]
        parts.append("</rule>")
    return "".join(parts) + "</decisionTable></decision>"


def literal(decision_id: str, text: str, variable: str, type_ref: str = "string", requires: tuple[str, ...] = ()) -> str:
    required = "".join(f'<informationRequirement id="req_{decision_id}_{r}"><requiredDecision href="#{r}"/>'
                       "</informationRequirement>" for r in requires)
    return (f'<decision id="{decision_id}" name="{decision_id}">{required}'
            f'<variable id="{decision_id}_var" name="{variable}" typeRef="{type_ref}"/>'
            f'<literalExpression id="{decision_id}_expr"><text>{escape(text)}</text></literalExpression></decision>')


def rule_task_process(process_id: str, decision_ref: str, extra: str = "") -> ModelFile:
    return model(f'<bpmn:process id="{process_id}" isExecutable="true"><bpmn:startEvent id="start"/>'
                 f'<bpmn:businessRuleTask id="decide" camunda:decisionRef="{decision_ref}" {extra}/>'
                 '<bpmn:endEvent id="end"/>'
                 '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>'
                 '<bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="end"/></bpmn:process>',
                 name=f"{process_id}.bpmn")


def deploy_alone(engine, *files: ModelFile):
    """Deploy without the shared re-parse check, which sees only the files given (not deployed decisions)."""
    return engine.deployments.deploy(list(files), actor=ADMIN)


def decided(engine, process_id: str, **variables) -> dict:
    started = engine.instances.start_instance(process_id, actor=ADMIN, variables=variables)
    row = inspect.instance(engine, started.id)
    assert row.status == "completed"
    return row.variables


def single_cell(decision_id: str, input_expression: str, type_ref: str, cell: str) -> str:
    """One input, one rule `cell` → "hit", else "miss"."""
    return table(decision_id, [(input_expression, type_ref)], ["result"],
                 [([cell], ['"hit"']), (["-"], ['"miss"'])])


@pytest.mark.parametrize(("input_expression", "type_ref", "cell", "variables", "expected"), [
    ("submitted", "date", '< date and time("2024-01-01T00:00:00")', {"submitted": "2023-12-31T23:00:00"}, "hit"),
    ("submitted", "date", '< date and time("2024-01-01T00:00:00")', {"submitted": "2024-01-01T00:00:00Z"}, "miss"),
    ("submitted", "date", '[date and time("2024-01-01T00:00:00")..date and time("2024-12-31T23:59:59")]',
     {"submitted": "2024-06-01T12:00:00+02:00"}, "hit"),
    ("date(day)", "", '[date("2024-01-01")..date("2024-01-31")]', {"day": "2024-01-15"}, "hit"),
    ("time(at)", "", '< time("12:00:00")', {"at": "09:30:00"}, "hit"),
    ("duration(waited)", "", '> duration("P1D")', {"waited": "P2DT1H"}, "hit"),
    ("duration(waited)", "", '> duration("P1D")', {"waited": "PT23H"}, "miss"),
    ('number(amount)', "", "> 100", {"amount": "150.5"}, "hit"),
    ("string(code)", "", '"42"', {"code": 42}, "hit"),
    ("count(items)", "", ">= 2", {"items": ["a", "b"]}, "hit"),
    ("sum(items)", "", "> 10", {"items": [4, 5, 6]}, "hit"),
    ("min(items)", "", "1", {"items": [4, 1, 6]}, "hit"),
    ("max(items)", "", "6", {"items": [4, 1, 6]}, "hit"),
    ("upper case(country)", "", '"DE"', {"country": "de"}, "hit"),
    ("lower case(country)", "", '"de"', {"country": "DE"}, "hit"),
    ("customer.address.city", "", '"Berlin"', {"customer": {"address": {"city": "Berlin"}}}, "hit"),
    ("sku", "string", 'starts with(?, "RMA-")', {"sku": "RMA-9"}, "hit"),
    ("sku", "string", 'ends with(?, "-X")', {"sku": "RMA-9"}, "miss"),
    ("note", "string", 'contains(?, "urgent")', {"note": "is urgent"}, "hit"),
    ("tags", "", 'list contains(?, "vip")', {"tags": ["new", "vip"]}, "hit"),
    ("reason", "string", 'not("defect", "damaged")', {"reason": "other"}, "hit"),
    ("contains(note, \"urgent\")", "boolean", "true", {"note": "urgent!"}, "hit"),
])
def test_feel_built_ins_decide_as_camunda_does(conformance_engine, input_expression, type_ref, cell, variables,
                                               expected):
    deploy(conformance_engine, dmn(single_cell("check", input_expression, type_ref, cell)),
           rule_task_process("feel_check", "check"))
    assert decided(conformance_engine, "feel_check", **variables)["result"] == expected


def test_an_input_without_expression_tests_each_entry_on_its_own(conformance_engine):
    # the Modeler's default: no input expression; Camunda 7 then has no input value (null) and each entry
    # is a FEEL expression over the variables that matches when it is true
    rules = table("route", [("", ""), ("", "")], ["approver"], [
        (["amount > 1000", 'reason = "defect"'], ['"manager"']),
        (["amount > 1000", "-"], ['"lead"']),
        (["-", "-"], ['"clerk"']),
    ])
    deploy(conformance_engine, dmn(rules), rule_task_process("routing", "route"))
    assert decided(conformance_engine, "routing", amount=5000, reason="defect")["approver"] == "manager"
    assert decided(conformance_engine, "routing", amount=5000, reason="other")["approver"] == "lead"
    assert decided(conformance_engine, "routing", amount=10, reason="defect")["approver"] == "clerk"


def test_a_literal_expression_decision_sets_its_variable(conformance_engine):
    files = [dmn(literal("fee", 'if amount > 100 then amount * 0.1 else 5', "fee", "double")),
             rule_task_process("fees", "fee", 'camunda:resultVariable="charged" camunda:mapDecisionResult="singleEntry"'),
             rule_task_process("fees_plain", "fee")]
    deploy(conformance_engine, *files)
    assert decided(conformance_engine, "fees", amount=200)["charged"] == 20.0
    assert decided(conformance_engine, "fees_plain", amount=50)["fee"] == 5


def test_required_decisions_are_evaluated_first_and_seen_by_output_name(conformance_engine):
    season = table("season", [("month", "integer")], ["season"], [
        (["[3..5]"], ['"Spring"']), (["[6..8]"], ['"Summer"']), (["-"], ['"Other"'])])
    guests = table("guestKinds", [("guests", "integer")], ["kind"], [
        (["> 0"], ['"any"']), (["> 5"], ['"many"'])], hit_policy="COLLECT")
    dish = table("dish", [("season", "string"), ("count(kind)", "")], ["dish"], [
        (['"Summer"', "2"], ['"Barbecue"']), (['"Summer"', "-"], ['"Salad"']), (["-", "-"], ['"Stew"'])],
        requires=("season", "guestKinds"))
    label = literal("menu", 'dish + " for " + season', "menu", requires=("dish", "season"))
    deploy(conformance_engine, dmn(season, guests, dish, label),
           rule_task_process("dinner", "dish"), rule_task_process("menu_card", "menu"))
    assert decided(conformance_engine, "dinner", month=7, guests=8)["dish"] == "Barbecue"
    assert decided(conformance_engine, "dinner", month=7, guests=2)["dish"] == "Salad"
    assert decided(conformance_engine, "dinner", month=1, guests=8)["dish"] == "Stew"
    assert decided(conformance_engine, "menu_card", month=7, guests=8)["menu"] == "Barbecue for Summer"


def test_a_dmn_only_deployment_serves_processes_deployed_later(conformance_engine):
    assert deploy(conformance_engine, dmn(single_cell("vip", "tier", "string", '"gold"'), name="vip.dmn")) == []
    deploy_alone(conformance_engine, rule_task_process("vip_check", "vip"))
    assert decided(conformance_engine, "vip_check", tier="gold")["result"] == "hit"
    # a newer version of the decision: processes deployed from now on use it; the deployed version keeps its own
    deploy(conformance_engine, dmn(single_cell("vip", "tier", "string", '"platinum"'), name="vip.dmn"))
    assert decided(conformance_engine, "vip_check", tier="gold")["result"] == "hit"
    [redeployed] = deploy_alone(conformance_engine, rule_task_process("vip_check", "vip"))
    assert redeployed.new and redeployed.version == 2
    assert decided(conformance_engine, "vip_check", tier="gold")["result"] == "miss"
    assert decided(conformance_engine, "vip_check", tier="platinum")["result"] == "hit"


def test_deploying_the_same_decisions_again_adds_no_deployment(conformance_engine):
    rules = dmn(single_cell("same", "tier", "string", '"gold"'), name="same.dmn")
    deploy(conformance_engine, rules)
    with conformance_engine.db.transaction() as session:
        before = session.scalar(select(func.count()).select_from(Deployment))
    deploy(conformance_engine, rules)
    with conformance_engine.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == before


def test_camunda_file_names_bpmn20_xml_and_dmn11_xml(conformance_engine):
    decision_file = dmn(single_cell("legacy", "tier", "string", '"gold"'), name="legacy.dmn11.xml",
                        namespace="http://www.omg.org/spec/DMN/20151101/dmn.xsd")
    process = rule_task_process("legacy_check", "legacy")
    deploy(conformance_engine, decision_file, ModelFile("legacy_check.bpmn20.xml", process.content))
    assert decided(conformance_engine, "legacy_check", tier="gold")["result"] == "hit"


@pytest.mark.parametrize(("decisions", "problem"), [
    ([table("a", [("x", "")], ["y"], [(["-"], ["1"])], requires=("nowhere",))],
     "decision 'a': required decision 'nowhere' is not in this file"),
    ([table("a", [("x", "")], ["y"], [(["-"], ["1"])], requires=("b",)),
      table("b", [("x", "")], ["z"], [(["-"], ["1"])], requires=("a",))],
     "required decisions form a cycle (a -> b -> a)"),
    (['<decision id="a"><context id="c"/></decision>'],
     "decision 'a': its <context> logic is not supported (use a decision table or a literal expression)"),
    ([literal("a", "substring(x, 1)", "y")], "decision 'a' literal expression: unsupported FEEL expression"),
    ([table("a", [("x", "")], ["y"], [(['< date("2024-02-30")'], ["1"])])],
     "decision 'a' rule 1 ('a_r1') input 'Input 0': unsupported FEEL unary test"),
    ([table("a", [("x", "")], ["y"], [(['> duration("P1Y2D")'], ["1"])])], "mixes years or months with days"),
])
def test_unsupported_decisions_are_refused_at_deploy_naming_the_decision(conformance_engine, decisions, problem):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, dmn(*decisions), rule_task_process("refused", "a"))
    assert any(problem in message for message in refused.value.details["problems"]), refused.value.details


def test_a_decision_deployed_nowhere_is_refused_naming_the_task(conformance_engine):
    with pytest.raises(InvalidModel) as refused:
        deploy(conformance_engine, rule_task_process("orphan", "nowhere"))
    [message] = refused.value.details["problems"]
    assert "decide" in message and "decision 'nowhere' is not deployed" in message
