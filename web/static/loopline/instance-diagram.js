// Render the case's BPMN diagram with bpmn-js and mark the path taken, the waiting steps and incidents.
(function () {
  "use strict";
  var container = document.getElementById("diagram");
  var source = document.getElementById("diagram-xml");
  if (!container || !source || !window.BpmnJS) { return; }
  var markers = JSON.parse(container.getAttribute("data-markers") || "{}");
  var viewer = new window.BpmnJS({ container: container });
  viewer.importXML(JSON.parse(source.textContent)).then(function () {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var passed = new Set(markers.passed || []);
    var active = new Set(markers.active || []);
    function mark(ids, cls) {
      ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, cls); } });
    }
    mark(markers.passed || [], "ll-passed");
    mark(markers.active || [], "ll-active");
    mark(markers.failed || [], "ll-failed");
    // a flow was taken when its source was passed and its target was reached
    registry.filter(function (el) { return el.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
      var from = flow.businessObject.sourceRef && flow.businessObject.sourceRef.id;
      var to = flow.businessObject.targetRef && flow.businessObject.targetRef.id;
      if (passed.has(from) && (passed.has(to) || active.has(to))) { canvas.addMarker(flow.id, "ll-passed"); }
    });
    canvas.zoom("fit-viewport");
    container.setAttribute("data-rendered", "true");
  }).catch(function (err) {
    container.textContent = "The diagram could not be shown: " + err.message;
  });
})();
