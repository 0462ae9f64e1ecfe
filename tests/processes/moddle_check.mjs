// Read BPMN files the way the Camunda Modeler does (bpmn-moddle + camunda-bpmn-moddle) and report,
// as one JSON line per file: import warnings, flow nodes and sequence flows without a diagram element,
// diagram elements pointing nowhere. Exit code 1 when any file has a problem.
//
//   node tests/processes/moddle_check.mjs bpmn/returns.bpmn bpmn/recall.bpmn ...

import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { BpmnModdle } from 'bpmn-moddle';

const camundaModdle = createRequire(import.meta.url)('camunda-bpmn-moddle/resources/camunda.json');

const moddle = new BpmnModdle({ camunda: camundaModdle });

function flowElementsOf(container, found = []) {
  for (const element of container.flowElements || []) {
    found.push(element);
    if (element.$instanceOf('bpmn:SubProcess')) {
      flowElementsOf(element, found);
    }
  }
  return found;
}

function diagramElements(definitions) {
  const ids = new Set();
  for (const diagram of definitions.diagrams || []) {
    for (const element of diagram.plane.planeElement || []) {
      if (element.bpmnElement) {
        ids.add(element.bpmnElement.id);
      }
    }
    if (diagram.plane.bpmnElement) {
      ids.add(diagram.plane.bpmnElement.id);
    }
  }
  return ids;
}

async function check(path) {
  const xml = await readFile(path, 'utf8');
  const { rootElement: definitions, warnings } = await moddle.fromXML(xml, 'bpmn:Definitions');
  const drawn = diagramElements(definitions);
  const processes = definitions.rootElements.filter((e) => e.$instanceOf('bpmn:Process'));
  const nodes = [];
  const flows = [];
  for (const process of processes) {
    for (const element of flowElementsOf(process)) {
      if (element.$instanceOf('bpmn:FlowNode')) nodes.push(element);
      if (element.$instanceOf('bpmn:SequenceFlow')) flows.push(element);
    }
  }
  const unresolved = [];
  for (const diagram of definitions.diagrams || []) {
    for (const element of diagram.plane.planeElement || []) {
      if (!element.bpmnElement) unresolved.push(element.id);
    }
  }
  return {
    file: path,
    processes: processes.map((p) => p.id),
    flowNodes: nodes.length,
    sequenceFlows: flows.length,
    warnings: warnings.map((w) => w.message),
    nodesWithoutShape: nodes.filter((n) => !drawn.has(n.id)).map((n) => n.id),
    flowsWithoutEdge: flows.filter((f) => !drawn.has(f.id)).map((f) => f.id),
    diagramElementsWithoutModel: unresolved,
  };
}

let failed = false;
for (const path of process.argv.slice(2)) {
  let report;
  try {
    report = await check(path);
  } catch (error) {
    report = { file: path, error: String(error && error.message || error) };
  }
  const problems = report.error || report.warnings.length || report.nodesWithoutShape.length
    || report.flowsWithoutEdge.length || report.diagramElementsWithoutModel.length;
  failed = failed || Boolean(problems);
  console.log(JSON.stringify(report));
}
process.exit(failed ? 1 : 0);
