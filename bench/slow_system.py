"""A stand-in for an outside system (an ERP) on loopback that answers every request after a fixed delay.

Service tasks in real processes wait on such systems for tens of milliseconds; while one worker waits, a
second one can work. `bench_erp_model` is bench_jobs with both service tasks calling it through the real
`http.request` connector.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from orchestrator.definitions import ModelFile

ANSWER = b'{"booked": true}'


class SlowSystem:
    """Start on a free port; `host` goes into LOOPLINE_HTTP_ALLOWED_HOSTS, `url` into the model."""

    def __init__(self, latency: float):
        delay = latency

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server hook name
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(delay)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(ANSWER)))
                self.end_headers()
                self.wfile.write(ANSWER)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.httpd.server_port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def bench_erp_model(url: str) -> ModelFile:
    """start → book stock (POST to the ERP) → notify (POST) → end."""
    calls = "".join(f"""
    <bpmn:serviceTask id="{step}" camunda:type="external" camunda:topic="http.request">
      <bpmn:extensionElements><camunda:inputOutput>
        <camunda:inputParameter name="method">POST</camunda:inputParameter>
        <camunda:inputParameter name="url">{url}/{step}</camunda:inputParameter>
        <camunda:inputParameter name="body"><camunda:map><camunda:entry key="step">{step}</camunda:entry></camunda:map></camunda:inputParameter>
      </camunda:inputOutput></bpmn:extensionElements>
      <bpmn:incoming>{incoming}</bpmn:incoming><bpmn:outgoing>{outgoing}</bpmn:outgoing>
    </bpmn:serviceTask>""" for step, incoming, outgoing in (("book", "f1", "f2"), ("notify", "f2", "f3")))
    return ModelFile("bench_erp_jobs.bpmn", f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="bench_erp_defs" targetNamespace="http://loopline.dev/bench">
  <bpmn:process id="bench_erp_jobs" name="Bench jobs that wait on an ERP" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>{calls}
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="book" />
    <bpmn:sequenceFlow id="f2" sourceRef="book" targetRef="notify" />
    <bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""")
