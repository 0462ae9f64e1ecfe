"""The models' own words in the reader's language: translation files deployed with the model, checked at
deploy, and shown on the inbox, the forms and the case page in the language the page is in."""

from __future__ import annotations

import html
import json
import re

import pytest

from orchestrator.case_facts import variable_labels
from orchestrator.definitions import ModelFile
from orchestrator.errors import InvalidModel
from orchestrator.model_texts import LocalizedProcess
from orchestrator.query_filters import InstanceFilter
from orchestrator.settings import REPO_ROOT
from tests.conftest import ADMIN
from tests.web.test_pages import RETURN, signed_in, site, start_return  # noqa: F401 (site is a fixture)

MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="tiny" name="Tiny return" isExecutable="true">
    <bpmn:startEvent id="start" name="Asked"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
    <bpmn:userTask id="check" name="Check the item">
      <bpmn:documentation>Look at the item.</bpmn:documentation>
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="grade" label="Grade" type="enum">
            <camunda:properties><camunda:property id="help" value="A is as new."/></camunda:properties>
            <camunda:value id="A" name="As new"/>
            <camunda:value id="C" name="Broken"/>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>
"""
TINY_ZH = {"elements": {"tiny": {"name": "小退货"}, "check": {"name": "检查商品", "documentation": "查看商品。"}},
           "fields": {"grade": {"label": "等级", "help": "A 为全新。", "options": {"A": "全新", "C": "损坏"}}}}
BUNDLED = {"returns.bpmn", "recall.bpmn", "capa.bpmn"}
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def _deploy(engine, translation: dict | str):
    content = translation if isinstance(translation, str) else json.dumps(translation, ensure_ascii=False)
    return engine.deployments.deploy([ModelFile("tiny.bpmn", MODEL), ModelFile("tiny.zh.json", content)], actor=ADMIN)


def test_a_translation_file_is_deployed_and_stored_with_its_model(web_engine):
    [deployed] = _deploy(web_engine, TINY_ZH)
    model = web_engine.queries.process_model(deployed.id)
    zh = LocalizedProcess(model, "zh_Hans_CN")
    assert zh.title == "小退货" and zh.step_name("check") == "检查商品" and zh.documentation("check") == "查看商品。"
    [grade] = zh.form(web_engine.queries.process_model(deployed.id).form_fields.values())
    assert grade["label"] == "等级" and grade["properties"]["help"] == "A 为全新。"
    assert [o["name"] for o in grade["options"]] == ["全新", "损坏"]
    assert zh.display_value("grade", "C") == "损坏"
    english = LocalizedProcess(model, "en")
    assert english.title == "Tiny return" and english.display_value("grade", "C") == "Broken"
    # the model deployed again with a corrected translation is a new version; unchanged, it is not
    assert not _deploy(web_engine, TINY_ZH)[0].new
    assert _deploy(web_engine, {**TINY_ZH, "elements": {"tiny": {"name": "小型退货"}}})[0].new


@pytest.mark.parametrize(("translation", "named"), [
    ({"elements": {"chek": {"name": "检查"}}}, "element 'chek' is not in the model"),
    ({"fields": {"grad": {"label": "等级"}}}, "form field 'grad' is not in the model"),
    ({"fields": {"grade": {"options": {"B": "二手"}}}}, "form field 'grade' option 'B' is not in the model"),
    ({"elements": {"done": {"name": "完成"}}}, "element 'done' name: the model has no such text"),
    ({"elements": {"check": {"title": "检查"}}}, "element 'check' title: unknown text"),
    ({"elements": {"check": {"name": ""}}}, "element 'check' name: the translation must be non-empty text"),
    ("{not json", "tiny.zh.json: not valid JSON"),
])
def test_a_translation_the_model_does_not_match_is_refused_naming_it(web_engine, translation, named):
    with pytest.raises(InvalidModel) as refused:
        _deploy(web_engine, translation)
    assert any(named in problem and "tiny.zh.json" in problem for problem in refused.value.problems), \
        refused.value.problems


def test_a_translation_file_without_its_model_is_refused(web_engine):
    with pytest.raises(InvalidModel) as refused:
        web_engine.deployments.deploy([ModelFile("tiny.bpmn", MODEL), ModelFile("other.zh.json", "{}")], actor=ADMIN)
    assert "other.zh.json: there is no model other.bpmn or other.dmn in the bundle" in str(refused.value.problems)


def _zh(site_app, who: str):
    client = signed_in(site_app, who)
    client.post("/language", data={"csrf_token": client.csrf, "lang": "zh_Hans_CN", "next": "/inbox"})
    return client


def test_inbox_task_form_and_case_page_show_the_model_in_chinese(site, web_engine):  # noqa: F811
    clerk = signed_in(site, "customer.service")
    assert start_return(clerk).status_code == 302
    chinese = _zh(site, "customer.service")
    inbox = html.unescape(chinese.get("/inbox").data.decode())
    assert "审核退货申请" in inbox and "退货 / 回收（RMA）" in inbox and "质量缺陷" in inbox
    assert "Review return request" not in inbox and "Quality defect" not in inbox
    [instance] = web_engine.queries.list_instances(ADMIN, InstanceFilter()).items
    [task] = web_engine.queries.open_human_tasks_for(ADMIN, instance[0].id)
    form = html.unescape(chinese.get(f"/tasks/{task.id}").data.decode())
    assert "审核结论" in form and "接受退货" in form and "给客户的说明" in form and "退货原因" in form
    assert "Accept return" not in form and "Note to the customer" not in form
    case = html.unescape(chinese.get(f"/instances/{instance[0].id}").data.decode())
    diagram = re.search(r'<script type="application/json" id="diagram-xml">(.*?)</script>', case, re.S).group(1)
    assert "审核退货申请" in json.loads(diagram)  # the diagram's labels (its form data is not shown)
    case = case.replace(diagram, "")
    assert "退货 / 回收（RMA）" in case and "客户姓名" in case and "审核退货申请" in case
    assert "Customer name" not in case and "Review return request" not in case
    # what the routing decision worked out: its output labels and the reason it returned (returns_routing.zh.json)
    assert "客户保留商品" in case and "判定依据" in case and "质量缺陷" in case and "检验方" in case
    assert "Customer keeps item" not in case and "quality defect" not in case and "Inspected by" not in case
    start = html.unescape(chinese.get("/new/returns").data.decode())
    assert "客户通知语言" in start and "简体中文" in start and "Customer's language for notices" not in start
    chinese.post("/language", data={"csrf_token": chinese.csrf, "lang": "en", "next": "/inbox"})
    english = html.unescape(chinese.get(f"/tasks/{task.id}").data.decode())
    assert "Accept return" in english and "Review return request" in english


def test_the_browser_language_chooses_the_model_texts_before_sign_in_settings(site):  # noqa: F811
    client = site.test_client()
    page = client.get("/login", headers=ZH).data.decode()
    assert "登录" in page  # web/i18n.py reads Accept-Language for the page and so for the models' words


def test_every_bundled_text_has_its_chinese_translation_in_the_deployed_model(site, web_engine):  # noqa: F811
    for definition in web_engine.queries.list_definitions():
        model = web_engine.queries.process_model(definition.id)
        if model.source_file not in BUNDLED:
            continue
        missing = [key for key in model.texts.source if key not in model.texts.translations.get("zh", {})]
        assert not missing, f"{model.source_file}: no zh text for {missing[:10]}"
    assert sorted(p.name for p in (REPO_ROOT / "bpmn").glob("*.zh.json")) == [
        "capa.zh.json", "capa_countersign.zh.json", "recall.zh.json", "recall_effectiveness.zh.json",
        "recall_risk.zh.json", "recall_strategy.zh.json", "returns.zh.json", "returns_routing.zh.json"]


DECIDING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="sorting" name="Sorting" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sort"/>
    <bpmn:businessRuleTask id="sort" name="Sort" camunda:decisionRef="bin"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sort" targetRef="done"/>
    <bpmn:endEvent id="done"/>
  </bpmn:process>
</bpmn:definitions>
"""
BIN = """<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="bins" name="Bins" namespace="t">
  <decision id="bin" name="Choose the bin">
    <decisionTable id="bin_table">
      <input id="in_weight" label="Weight"><inputExpression typeRef="double"><text>weight</text></inputExpression></input>
      <output id="out_bin" label="Bin" name="bin" typeRef="string"><outputValues><text>"heavy","light"</text></outputValues></output>
      <output id="out_why" label="Why" name="binReason" typeRef="string"/>
      <rule id="r1"><inputEntry><text>&gt; 10</text></inputEntry>
        <outputEntry><text>"heavy"</text></outputEntry><outputEntry><text>"too heavy to lift"</text></outputEntry></rule>
      <rule id="r2"><inputEntry><text>-</text></inputEntry>
        <outputEntry><text>"light"</text></outputEntry><outputEntry><text>weight * 2</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"""
BIN_ZH = {"decisions": {"bin": {"name": "选择货箱", "outputs": {
    "bin": {"label": "货箱", "values": {"heavy": "重货箱", "light": "轻货箱"}},
    "binReason": {"label": "原因", "values": {"too heavy to lift": "太重，搬不动"}}}}}}


def _deploy_decision(engine, translation: dict | str):
    content = translation if isinstance(translation, str) else json.dumps(translation, ensure_ascii=False)
    return engine.deployments.deploy([ModelFile("sorting.bpmn", DECIDING), ModelFile("bins.dmn", BIN),
                                      ModelFile("bins.zh.json", content)], actor=ADMIN)


def test_a_decision_files_translation_gives_the_process_its_labels_and_returned_texts(web_engine):
    [deployed] = _deploy_decision(web_engine, BIN_ZH)
    model = web_engine.queries.process_model(deployed.id)
    assert variable_labels(LocalizedProcess(model, "zh")) == {"bin": "货箱", "binReason": "原因"}
    assert variable_labels(model) == {"bin": "Bin", "binReason": "Why"}
    zh = LocalizedProcess(model, "zh_Hans_CN")
    assert zh.display_value("bin", "heavy") == "重货箱" and zh.display_value("binReason", "too heavy to lift") == "太重，搬不动"
    assert zh.display_value("binReason", "made up") == "made up" and zh.display_value("bin", 3) == 3
    assert zh.texts.text(("decision", "bin", "name"), "zh") == "选择货箱"
    assert LocalizedProcess(model, "en").display_value("bin", "heavy") == "heavy"
    # a corrected translation of the decision is a new version of the process that calls it
    assert not _deploy_decision(web_engine, BIN_ZH)[0].new
    assert _deploy_decision(web_engine, {"decisions": {"bin": {"name": "选货箱"}}})[0].new


def test_a_process_deployed_later_reads_the_deployed_decisions_translation(web_engine):
    web_engine.deployments.deploy([ModelFile("bins.dmn", BIN), ModelFile("bins.zh.json", json.dumps(BIN_ZH))],
                                  actor=ADMIN)
    [deployed] = web_engine.deployments.deploy([ModelFile("sorting.bpmn", DECIDING)], actor=ADMIN)
    model = LocalizedProcess(web_engine.queries.process_model(deployed.id), "zh")
    assert model.variable_label("bin") == "货箱" and model.display_value("bin", "light") == "轻货箱"


def test_a_decision_file_deployed_again_with_a_changed_translation_is_stored_again(web_engine):
    def deploy_decision(name: str) -> None:
        translation = {"decisions": {"bin": {"outputs": {"bin": {"label": name}}}}}
        web_engine.deployments.deploy([ModelFile("bins.dmn", BIN), ModelFile(
            "bins.zh.json", json.dumps(translation, ensure_ascii=False))], actor=ADMIN)

    def label_for_a_new_process() -> str:
        web_engine.deployments.deploy([ModelFile("sorting.bpmn", DECIDING.replace("Sorting", "Sorting again"))],
                                      actor=ADMIN)
        latest = max((d for d in web_engine.queries.list_definitions() if d.key == "sorting"), key=lambda d: d.version)
        return LocalizedProcess(web_engine.queries.process_model(latest.id), "zh").variable_label("bin")

    deploy_decision("货箱")
    assert label_for_a_new_process() == "货箱"
    deploy_decision("箱子")
    assert label_for_a_new_process() == "箱子"


@pytest.mark.parametrize(("translation", "named"), [
    ({"decisions": {"bni": {"name": "选择"}}}, "decision 'bni' is not in the file"),
    ({"decisions": {"bin": {"outputs": {"box": {"label": "箱"}}}}}, "decision 'bin' output 'box' is not in"),
    ({"decisions": {"bin": {"outputs": {"bin": {"values": {"medium": "中"}}}}}},
     "decision 'bin' output 'bin' value 'medium': the decision has no such text"),
    ({"decisions": {"bin": {"outputs": {"binReason": {"values": {"weight * 2": "重量乘二"}}}}}},
     "value 'weight * 2': the decision has no such text"),
    ({"decisions": {"bin": {"rules": {}}}}, "decision 'bin' rules: unknown text"),
    ({"elements": {"bin": {"name": "选择"}}}, "unknown section 'elements'"),
])
def test_a_decision_translation_the_file_does_not_match_is_refused_naming_it(web_engine, translation, named):
    with pytest.raises(InvalidModel) as refused:
        _deploy_decision(web_engine, translation)
    assert any(named in problem and "bins.zh.json" in problem for problem in refused.value.problems), \
        refused.value.problems


def test_task_labels_of_variables_are_translated_in_the_facts(site, web_engine):  # noqa: F811
    [recall] = [d for d in web_engine.queries.list_definitions() if d.key == "recall"]
    model = LocalizedProcess(web_engine.queries.process_model(recall.id), "zh")
    labels = variable_labels(model)
    assert labels["partnerCount"] == "需通知的经销商和零售商" and labels["riskRationale"] == "判定依据"
    assert model.display_value("riskRationale", "minor harm") == "轻微危害"
