"""Scripts and BPMN models from the outside attack on uploaded models, shared by the security tests."""

from __future__ import annotations

from xml.sax.saxutils import escape

# Each of these took a process down or ran past its limits while scripts ran in the serving process.
SEGFAULT = "x = ()\nfor i in range(200000):\n    x = (x,)\ns = {x}"
TENFOLD_SEGFAULT = "x = ()\nfor i in range(10000):\n    x = (x, x, x, x, x, x, x, x, x, x)\ns = {x}"
_SHARED_LIST = "big = list(range(1000000))\nL = []\nfor i in range(1500):\n    L.append(big)\n"
BUILTIN_LOOP = _SHARED_LIST + "r = all(map(max, L))"
MEMORY_BLOWUP = _SHARED_LIST + "r = len(list(map(list, L)))"

# script → what the failure says; the ten-fold nesting hashes for ages or overflows a smaller C stack
HOSTILE_SCRIPTS = {
    "segfault": (SEGFAULT, ("crashed (SIGSEGV)",)),
    "tenfold-segfault": (TENFOLD_SEGFAULT, ("crashed (SIGSEGV)", "time limit")),
    "builtin-loop": (BUILTIN_LOOP, ("time limit",)),
    "memory-blowup": (MEMORY_BLOWUP, ("MB of memory",)),
}

_HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
           'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}" '
           'targetNamespace="http://loopline.dev/test">\n'
           '<bpmn:process id="{key}" isExecutable="true">\n')
_FOOTER = "</bpmn:process>\n</bpmn:definitions>\n"


def _chain(key: str, steps: list[str]) -> str:
    """A straight process: start → steps… → end, each step an element snippet with id s1, s2, …"""
    ids = ["start"] + [f"s{n}" for n in range(1, len(steps) + 1)] + ["end"]
    body = ['<bpmn:startEvent id="start" />']
    body += [step.replace("{id}", ids[n + 1], 1) for n, step in enumerate(steps)]
    body.append('<bpmn:endEvent id="end" />')
    body += [f'<bpmn:sequenceFlow id="f{n}" sourceRef="{a}" targetRef="{b}" />'
             for n, (a, b) in enumerate(zip(ids, ids[1:], strict=False))]
    return _HEADER.format(key=key) + "\n".join(body) + "\n" + _FOOTER


def script_step(source: str) -> str:
    return ('<bpmn:scriptTask id="{id}" name="Hostile script" scriptFormat="python">'
            f"<bpmn:script>{escape(source)}</bpmn:script></bpmn:scriptTask>")


def job_step(topic: str) -> str:
    return f'<bpmn:serviceTask id="{{id}}" camunda:type="external" camunda:topic="{topic}" />'


def timer_step(duration: str) -> str:
    return (f'<bpmn:intermediateCatchEvent id="{{id}}"><bpmn:timerEventDefinition>'
            f"<bpmn:timeDuration>{duration}</bpmn:timeDuration></bpmn:timerEventDefinition>"
            "</bpmn:intermediateCatchEvent>")


def script_at_start(key: str, source: str) -> str:
    return _chain(key, [script_step(source)])


def script_after_job(key: str, topic: str, source: str) -> str:
    return _chain(key, [job_step(topic), script_step(source)])


def script_after_timer(key: str, duration: str, source: str) -> str:
    return _chain(key, [timer_step(duration), script_step(source)])


def job_only(key: str, topic: str) -> str:
    return _chain(key, [job_step(topic)])
