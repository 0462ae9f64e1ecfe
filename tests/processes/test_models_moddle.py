"""The model files themselves: they load in bpmn-moddle + camunda-bpmn-moddle (what the Camunda Modeler
uses) without warnings, every flow node is drawn, they follow the modelling rules of bpmn/README.md,
the DMN tables parse and decide as intended, and the folder deploys as a whole."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from lxml import etree

from orchestrator.dmn import evaluate_decision, parse_decisions
from orchestrator.expressions import SafeEvaluator
from tests.conftest import ADMIN, require_service
from tests.processes.driver import CONNECTORS, MODELS, REPO

BPMN_FILES = sorted(MODELS.glob("*.bpmn"))
DMN_FILES = sorted(MODELS.glob("*.dmn"))
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
}
C = "{http://camunda.org/schema/1.0/bpmn}"
GROUPS = {
    "customer_service",
    "warehouse",
    "qa",
    "finance",
    "sales_manager",
    "legal",
    "engineering",
    "management",
    "asset_management",
}
TOPICS = {
    "erp.adjust_stock",
    "erp.quarantine_stock",
    "erp.create_credit_note",
    "erp.create_replacement_order",
    "qms.create_ticket",
    "qms.update_ticket",
    "crm.log_activity",
    "notify.sms",
    "notify.email",
    "notify.campaign",
    "notify.campaign_status",
    "trace.recall_scope",
    "trace.record_event",
    "recall.progress",
    "recall.registrations",
    "loopline.send_message",
    "capa.count_cases",
}
DECISIONS = {
    decision: table
    for path in DMN_FILES
    for decision, table in parse_decisions(etree.parse(str(path))).items()
}
FLOW_NODES = (
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "userTask",
    "serviceTask",
    "sendTask",
    "businessRuleTask",
    "scriptTask",
    "subProcess",
    "exclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "inclusiveGateway",
    "task",
)


def test_the_three_processes_and_their_decisions_are_there():
    assert [p.name for p in BPMN_FILES] == ["capa.bpmn", "recall.bpmn", "returns.bpmn"]
    assert [p.name for p in DMN_FILES] == [
        "capa_countersign.dmn",
        "recall_effectiveness.dmn",
        "recall_risk.dmn",
        "recall_strategy.dmn",
        "returns_routing.dmn",
    ]


def test_models_load_in_bpmn_moddle_with_camunda_extensions_without_warnings():
    node = shutil.which("node")
    require_service("node", node is not None, "install Node.js 18+")
    installed = (REPO / "node_modules" / "bpmn-moddle").is_dir() and (
        REPO / "node_modules" / "camunda-bpmn-moddle"
    ).is_dir()
    require_service("bpmn-moddle", installed, "run `npm ci` in the repository root")
    script = Path(__file__).with_name("moddle_check.mjs")
    done = subprocess.run(
        [node, str(script), *map(str, BPMN_FILES)], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    reports = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(reports) == len(BPMN_FILES), done.stderr
    for report in reports:
        assert "error" not in report, report
        assert report["warnings"] == [], report["file"]
        assert report["nodesWithoutShape"] == [], report["file"]
        assert report["flowsWithoutEdge"] == [], report["file"]
        assert report["diagramElementsWithoutModel"] == [], report["file"]
        assert report["flowNodes"] > 30
    assert done.returncode == 0, done.stderr


def _models():
    return [(path.name, etree.parse(str(path)).getroot()) for path in BPMN_FILES]


def _all(root, local):
    return root.findall(f".//bpmn:{local}", NS)


@pytest.mark.parametrize(("name", "root"), _models(), ids=[p.name for p in BPMN_FILES])
def test_every_flow_node_has_a_shape_inside_its_lane(name, root):
    shapes = {
        s.get("bpmnElement"): s.find("{http://www.omg.org/spec/DD/20100524/DC}Bounds")
        for s in root.iterfind(".//bpmndi:BPMNShape", NS)
    }
    edges = {e.get("bpmnElement") for e in root.iterfind(".//bpmndi:BPMNEdge", NS)}
    lanes = {lane.get("id"): shapes[lane.get("id")] for lane in _all(root, "lane")}
    assert lanes, "lanes are drawn"
    in_lane = {
        ref.text: lane.get("id")
        for lane in _all(root, "lane")
        for ref in lane.findall("bpmn:flowNodeRef", NS)
    }
    for local in FLOW_NODES:
        for element in _all(root, local):
            assert element.get("id") in shapes, f"{name}: {element.get('id')} has no shape"
            if element.getparent().tag.endswith("process"):
                bounds, lane = shapes[element.get("id")], lanes[in_lane[element.get("id")]]
                y, height = float(bounds.get("y")), float(bounds.get("height"))
                assert (
                    float(lane.get("y")) <= y
                    and y + height <= float(lane.get("y")) + float(lane.get("height")) + 18
                ), f"{name}: {element.get('id')} is drawn outside its lane"
    for flow in _all(root, "sequenceFlow"):
        assert flow.get("id") in edges, f"{name}: {flow.get('id')} has no edge"


@pytest.mark.parametrize(("name", "root"), _models(), ids=[p.name for p in BPMN_FILES])
def test_modelling_rules(name, root):
    """Forms, candidate groups, due dates, external topics, JUEL conditions; nothing the engine runs wrongly."""
    for task in _all(root, "userTask"):
        where = f"{name}: {task.get('id')}"
        groups = task.get(f"{C}candidateGroups", "")
        assert groups, f"{where} has no candidate groups"
        if "${" not in groups:
            assert {g.strip() for g in groups.split(",")} <= GROUPS, where
        assert re.fullmatch(r"P(T\d+H|\d+D)", task.get(f"{C}dueDate", "")), f"{where} needs a dueDate"
        fields = task.findall(".//camunda:formField", NS)
        assert fields, f"{where} has no form"
        assert any(f.find(".//camunda:constraint[@name='required']", NS) is not None for f in fields), where
        for field in fields:
            assert field.get("label") and field.get("type"), f"{where}: {field.get('id')}"
            if field.get("type") == "enum":
                assert len(field.findall("camunda:value", NS)) >= 2, f"{where}: {field.get('id')}"
    for local in ("serviceTask", "sendTask"):
        for task in _all(root, local):
            assert task.get(f"{C}type") == "external", task.get("id")
            assert task.get(f"{C}topic") in TOPICS, task.get("id")
    for flow in _all(root, "sequenceFlow"):
        condition = flow.find("bpmn:conditionExpression", NS)
        if condition is not None:
            assert condition.text.startswith("${") and condition.text.endswith("}"), flow.get("id")
    for gateway in _all(root, "exclusiveGateway"):
        outgoing = [f for f in _all(root, "sequenceFlow") if f.get("sourceRef") == gateway.get("id")]
        if len(outgoing) > 1:
            for flow in outgoing:
                assert flow.find("bpmn:conditionExpression", NS) is not None or gateway.get(
                    "default"
                ) == flow.get("id"), f"{name}: {flow.get('id')} has neither a condition nor is the default"
    for rule in _all(root, "businessRuleTask"):
        assert rule.get(f"{C}decisionRef") in DECISIONS, rule.get("id")
    text = etree.tostring(root).decode()
    for construct in (
        "standardLoopCharacteristics",
        "eventBasedGateway",
        "intermediateThrowEvent",
        "camunda:class",
        "camunda:delegateExpression",
    ):
        assert construct not in text, f"{name} uses {construct}"
    for timer in root.iterfind(".//bpmn:timerEventDefinition/*", NS):
        assert re.fullmatch(r"(R\d+/)?P(T\d+H|\d+D)|\$\{.+\}", timer.text.strip()), timer.text


def test_sla_timers_on_the_returns_inspection():
    root = dict(_models())["returns.bpmn"]
    boundaries = {
        b.get("id"): b for b in _all(root, "boundaryEvent") if b.get("attachedToRef") == "inspect_return"
    }
    reminder, escalation = boundaries["inspection_reminder"], boundaries["inspection_escalation"]
    assert reminder.get("cancelActivity") == "false" and escalation.get("cancelActivity") is None
    assert reminder.find(".//bpmn:timeDuration", NS).text == "PT24H"
    assert escalation.find(".//bpmn:timeDuration", NS).text == "PT48H"


def test_capa_starts_by_message_or_by_hand_and_countersigns_per_department():
    root = dict(_models())["capa.bpmn"]
    starts = {s.get("id"): s for s in _all(root, "startEvent") if s.getparent().tag.endswith("process")}
    assert set(starts) == {"capa_requested", "capa_raised_manually"}
    ref = starts["capa_requested"].find("bpmn:messageEventDefinition", NS).get("messageRef")
    assert root.find(f"bpmn:message[@id='{ref}']", NS).get("name") == "CapaRequested"
    countersign = root.find(".//bpmn:userTask[@id='countersign_root_cause']", NS)
    loop = countersign.find("bpmn:multiInstanceLoopCharacteristics", NS)
    assert (loop.get(f"{C}collection"), loop.get(f"{C}elementVariable")) == ("departments", "department")
    assert countersign.get(f"{C}candidateGroups") == "${department}" and loop.get("isSequential") is None


# -- decisions ---------------------------------------------------------------------------------------


def decide(decision: str, **inputs):
    return evaluate_decision(DECISIONS[decision], inputs, SafeEvaluator())


def test_dmn_files_parse_with_one_decision_each():
    assert sorted(DECISIONS) == ["capa_countersign", "recall_effectiveness_sample", "recall_risk", "recall_strategy",
                                 "return_routing"]
    assert {d: t.hit_policy for d, t in DECISIONS.items()} == {
        "capa_countersign": "COLLECT",
        "recall_effectiveness_sample": "UNIQUE",
        "recall_risk": "FIRST",
        "recall_strategy": "FIRST",
        "return_routing": "FIRST",
    }
    for path in DMN_FILES:
        assert len(parse_decisions(etree.parse(str(path)))) == 1, path.name


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        (("take_back", 300.0, "consumer", "recycle"), ("none", "warehouse", False, "take-back")),
        (
            ("quality_defect", 6000.0, "business", "refund"),
            ("sales_manager", "qa", False, "high value, quality defect"),
        ),
        (
            ("wrong_item", 5000.01, "consumer", "exchange"),
            ("sales_manager", "warehouse", False, "high value"),
        ),
        (("no_reason", 5000.0, "consumer", "refund"), ("none", "warehouse", False, "no-reason return")),
        (
            ("quality_defect", 80.0, "vip", "refund"),
            ("customer_service", "none", True, "keep item (VIP, below 100 EUR)"),
        ),
        (
            ("transit_damage", 29.99, "consumer", "refund"),
            ("customer_service", "none", True, "keep item (below 30 EUR)"),
        ),
        (
            ("quality_defect", 29.99, "consumer", "exchange"),
            ("customer_service", "qa", False, "quality defect"),
        ),
        (("wrong_item", 30.0, "consumer", "refund"), ("customer_service", "warehouse", False, "standard")),
    ],
)
def test_return_routing_rules(inputs, expected):
    reason, value, segment, outcome = inputs
    result = decide(
        "return_routing",
        returnReason=reason,
        returnValue=value,
        customerSegment=segment,
        requestedOutcome=outcome,
    )
    assert (
        result["reviewGroup"],
        result["inspectionGroup"],
        result["keepItem"],
        result["routingRule"],
    ) == expected


@pytest.mark.parametrize(
    ("severity", "likelihood", "injuries", "expected"),
    [
        ("serious", "improbable", 2, "I"),
        ("catastrophic", "remote", 0, "I"),
        ("catastrophic", "improbable", 0, "II"),
        ("serious", "occasional", 0, "I"),
        ("serious", "remote", 0, "II"),
        ("moderate", "probable", 3, "II"),
        ("moderate", "occasional", 0, "III"),
        ("minor", "frequent", 0, "III"),
        ("minor", "remote", 0, "none"),
        ("negligible", "frequent", 0, "none"),
    ],
)
def test_recall_risk_matrix(severity, likelihood, injuries, expected):
    result = decide("recall_risk", severity=severity, likelihood=likelihood, injuriesReported=injuries)
    assert result["recallClass"] == expected and result["riskRationale"]


@pytest.mark.parametrize(
    ("recall_class", "consumers", "expected"),
    [
        ("I", 0, ("consumer", True, "A", "P7D")),
        ("II", 5, ("consumer", False, "B", "P14D")),
        ("II", 0, ("retail", False, "B", "P14D")),
        ("III", 9, ("wholesale", False, "D", "P30D")),
    ],
)
def test_recall_strategy_defaults(recall_class, consumers, expected):
    result = decide("recall_strategy", recallClass=recall_class, consumerCount=consumers)
    assert (
        result["depth"],
        result["publicWarning"],
        result["effectivenessLevel"],
        result["statusReportInterval"],
    ) == expected


@pytest.mark.parametrize(
    ("capa_type", "severity", "party", "expected"),
    [
        ("product_defect", "critical", "supplier", ["qa", "engineering", "management", "legal"]),
        ("packaging", "major", "warehouse", ["qa", "engineering", "warehouse"]),
        ("logistics_damage", "minor", "logistics", ["qa", "warehouse"]),
        ("description_mismatch", "minor", "service", ["qa", "customer_service", "sales_manager"]),
    ],
)
def test_countersigning_departments(capa_type, severity, party, expected):
    result = decide("capa_countersign", capaType=capa_type, severity=severity, responsibleParty=party)
    assert result["department"] == expected


# -- deployment --------------------------------------------------------------------------------------


def test_the_folder_deploys_as_a_whole_and_a_second_deploy_changes_nothing(make_engine, sqlite_database):
    engine = make_engine(sqlite_database, connector_modules=CONNECTORS)
    first = engine.deployments.deploy_directory(MODELS, actor=ADMIN)
    assert sorted((d.key, d.version, d.new) for d in first) == [
        ("capa", 1, True),
        ("recall", 1, True),
        ("returns", 1, True),
    ]
    again = engine.deployments.deploy_directory(MODELS, actor=ADMIN)
    assert all(not d.new for d in again)


def test_the_shipped_connectors_cover_every_topic_but_the_message_relay(make_engine, sqlite_database):
    """`loopline serve` deploys bpmn/ with the built-in connectors; the one topic they lack is reported."""
    used = {
        task.get(f"{C}topic")
        for _, root in _models()
        for local in ("serviceTask", "sendTask")
        for task in _all(root, local)
    }
    assert used == TOPICS
    shipped = set(make_engine(sqlite_database, connector_modules=()).known_topics())
    missing = used - shipped
    assert missing <= {"loopline.send_message"}, missing
