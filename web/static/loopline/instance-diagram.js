// Render the case's BPMN diagram with bpmn-js and mark the path taken, the waiting steps and incidents;
// window.looplineDiagram.paint(markers) repaints it (the replay uses it).
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
    var painted = [];
    // mark the path taken, the waiting steps, incidents and (in a replay) the step just passed
    function paint(m) {
      painted.forEach(function (p) { canvas.removeMarker(p[0], p[1]); });
      painted = [];
      var passed = new Set(m.passed || []);
      var active = new Set(m.active || []);
      function mark(ids, cls) {
        ids.forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, cls); painted.push([id, cls]); }
        });
      }
      mark(m.passed || [], "ll-passed");
      mark(m.active || [], "ll-active");
      mark(m.failed || [], "ll-failed");
      mark(m.current || [], "ll-current");
      var shown = (m.current || []).map(function (id) { return registry.get(id); }).filter(Boolean)[0];
      if (shown && canvas.scrollToElement) { canvas.scrollToElement(shown); }  // only if it is out of view
      // a flow was taken when its source was passed and its target was reached
      registry.filter(function (el) { return el.type === "bpmn:SequenceFlow"; }).forEach(function (flow) {
        var from = flow.businessObject.sourceRef && flow.businessObject.sourceRef.id;
        var to = flow.businessObject.targetRef && flow.businessObject.targetRef.id;
        if (passed.has(from) && (passed.has(to) || active.has(to))) { mark([flow.id], "ll-passed"); }
      });
    }
    paint(markers);
    // the case page's replay repaints the diagram step by step, and back to now
    window.looplineDiagram = { paint: paint, now: markers };
    document.dispatchEvent(new Event("loopline:diagram-ready"));
    canvas.zoom("fit-viewport");
    addZoomButtons(container, canvas);
    container.setAttribute("data-rendered", "true");
  }).catch(function (err) {
    container.textContent = "The diagram could not be shown: " + err.message;
  });

  // +, − and fit buttons over the diagram; data-zoom says the scale (tests and styles read it)
  function addZoomButtons(box, canvas) {
    var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
    var words = zh ? { zoomIn: "放大", zoomOut: "缩小", fit: "适合窗口", group: "缩放" }
                   : { zoomIn: "Zoom in", zoomOut: "Zoom out", fit: "Fit the diagram in the box", group: "Zoom" };
    var bar = document.createElement("div");
    bar.className = "diagram-zoom";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", words.group);
    function show() { box.setAttribute("data-zoom", canvas.zoom().toFixed(3)); }
    function button(text, title, name, act) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.textContent = text;
      b.title = title;
      b.setAttribute("aria-label", title);
      b.setAttribute("data-zoom-action", name);
      b.addEventListener("click", function () { act(); show(); });
      bar.appendChild(b);
    }
    button("+", words.zoomIn, "in", function () { canvas.zoom(Math.min(canvas.zoom() * 1.25, 4), "auto"); });
    button("\u2212", words.zoomOut, "out", function () { canvas.zoom(Math.max(canvas.zoom() / 1.25, 0.05), "auto"); });
    button("\u2922", words.fit, "fit", function () { canvas.zoom("fit-viewport", "auto"); });
    box.classList.add("diagram-frame");
    box.appendChild(bar);
    show();
  }
})();
