// The heatmap: draw the version's diagram with bpmn-js, colour each step from cool to hot by its median time
// spent (or its share of overdue passes, a toggle), put a badge of its figures under it, and draw each flow
// as wide as the share of cases taking it. The figures come from <script id="heatmap-data"> (no inline script).
(function () {
  "use strict";
  var container = document.getElementById("heatmap-diagram");
  var source = document.getElementById("diagram-xml");
  var dataBlock = document.getElementById("heatmap-data");
  if (!container || !source || !dataBlock || !window.BpmnJS) { return; }
  var data = JSON.parse(dataBlock.textContent);
  var elements = {};
  data.elements.forEach(function (e) { elements[e.id] = e; });
  var flows = {};
  data.flows.forEach(function (f) { flows[f.id] = f; });

  // cool (blue) to hot (red) through pale yellow: light enough that the step's name stays readable
  var STOPS = [[69, 117, 180], [145, 191, 219], [255, 255, 191], [252, 141, 89], [215, 48, 39]];
  function colourAt(t) {
    t = Math.max(0, Math.min(1, t));
    var position = t * (STOPS.length - 1);
    var i = Math.min(Math.floor(position), STOPS.length - 2);
    var f = position - i;
    var rgb = STOPS[i].map(function (c, k) { return Math.round(c + (STOPS[i + 1][k] - c) * f); });
    return "rgb(" + rgb.join(",") + ")";
  }
  // where a step sits on the scale: log of the median between the quickest and the slowest, or its overdue share
  function heat(e, metric) {
    if (metric === "overdue") { return e.overdue === null ? null : e.overdue; }
    var scale = data.scale.median;
    if (e.median === null || scale.low === null) { return null; }
    if (scale.high <= scale.low) { return 0.5; }
    var value = Math.max(e.median, scale.low);
    return (Math.log(value) - Math.log(scale.low)) / (Math.log(scale.high) - Math.log(scale.low));
  }

  var viewer = new window.BpmnJS({ container: container });
  viewer.importXML(JSON.parse(source.textContent)).then(function () {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var shapes = registry.filter(function (el) {
      return el.businessObject && el.businessObject.$instanceOf && el.businessObject.$instanceOf("bpmn:FlowNode")
        && el.type !== "label";
    });
    var connections = registry.filter(function (el) { return el.type === "bpmn:SequenceFlow"; });

    function visual(el) {
      var gfx = registry.getGraphics(el);
      return gfx && gfx.querySelector(".djs-visual > :first-child");
    }

    function paint(metric) {
      shapes.forEach(function (el) {
        var node = visual(el);
        var figures = elements[el.id];
        var t = figures ? heat(figures, metric) : null;
        if (!node) { return; }
        node.style.fill = t === null ? "" : colourAt(t);
        if (t === null) { canvas.addMarker(el.id, "heat-none"); } else { canvas.removeMarker(el.id, "heat-none"); }
      });
      var scale = data.scale[metric];
      container.setAttribute("data-metric", metric);
      document.querySelectorAll("[data-legend]").forEach(function (span) {
        span.textContent = scale[span.getAttribute("data-legend") + "_text"] || "";
      });
    }

    // a badge under every step a case passed: passes · median / p90 · % late
    shapes.forEach(function (el) {
      var figures = elements[el.id];
      if (!figures) { return; }
      var badge = document.createElement("div");
      badge.className = "heat-badge";
      badge.setAttribute("data-element", el.id);
      var first = document.createElement("span");
      first.textContent = figures.passes + "\u00d7 \u00b7 " + figures.median_text;
      first.title = data.words.passes + " \u00b7 " + data.words.median;
      var second = document.createElement("span");
      second.textContent = data.words.p90 + " " + figures.p90_text + " \u00b7 " + figures.overdue_text + " " +
        data.words.late;
      badge.appendChild(first);
      badge.appendChild(second);
      overlays.add(el.id, "heat-badge", { position: { top: el.height + 3, left: Math.min(0, (el.width - 96) / 2) },
                                          html: badge, scale: { min: 0.75, max: 1.5 } });
    });

    // flows: width and darkness by the share of cases taking them, the share written at their middle
    connections.forEach(function (el) {
      var bo = el.businessObject;
      var key = (bo.sourceRef && bo.sourceRef.id) + ">" + (bo.targetRef && bo.targetRef.id);
      var figures = flows[key];
      var path = visual(el);
      if (!figures || figures.share === null) {
        canvas.addMarker(el.id, "heat-none");
        return;
      }
      var share = Math.max(0, Math.min(1, figures.share));
      if (path) {
        path.style.stroke = "rgb(" + Math.round(120 - 90 * share) + "," + Math.round(120 - 80 * share) + "," +
          Math.round(140 + 40 * share) + ")";
        path.style.strokeWidth = (1.5 + 7 * share).toFixed(1) + "px";
      }
      var points = el.waypoints || [];
      if (points.length < 2) { return; }
      var middle = Math.floor((points.length - 1) / 2);
      var x = (points[middle].x + points[middle + 1].x) / 2;
      var y = (points[middle].y + points[middle + 1].y) / 2;
      var minX = Math.min.apply(null, points.map(function (p) { return p.x; }));
      var minY = Math.min.apply(null, points.map(function (p) { return p.y; }));
      var label = document.createElement("div");
      label.className = "heat-share";
      label.setAttribute("data-flow", key);
      label.textContent = figures.share_text;
      label.title = figures.passes + " " + data.words.passes + " \u00b7 " + figures.share_text + " " +
        data.words.of_cases;
      overlays.add(el.id, "heat-share", { position: { left: x - minX + 4, top: y - minY - 18 }, html: label,
                                          scale: { min: 0.75, max: 1.5 } });
    });

    var toggle = document.querySelectorAll("input[name='heat-metric']");
    toggle.forEach(function (input) {
      input.addEventListener("change", function () { if (input.checked) { paint(input.value); } });
    });
    var chosen = Array.prototype.filter.call(toggle, function (input) { return input.checked; })[0];
    paint(chosen ? chosen.value : "median");
    canvas.zoom("fit-viewport");
    container.setAttribute("data-rendered", "true");
  }).catch(function (err) {
    container.textContent = "The diagram could not be shown: " + err.message;
  });
})();
