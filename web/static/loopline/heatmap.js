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
  var STOPS = [[103, 150, 205], [160, 203, 226], [255, 255, 191], [252, 141, 89], [215, 48, 39]];
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

  var BADGE_ZOOM = 0.7;  // below this the badges of neighbouring steps overlap: colours only
  var SHARE_ZOOM = 0.55;

  // +, − and fit buttons over the diagram; data-zoom says the scale (tests and styles read it)
  function addZoomButtons(box, canvas) {
    var bar = document.createElement("div");
    bar.className = "diagram-zoom";
    bar.setAttribute("role", "group");
    bar.setAttribute("aria-label", data.words.zoom);
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
    button("+", data.words.zoom_in, "in", function () { canvas.zoom(Math.min(canvas.zoom() * 1.25, 4), "auto"); });
    button("\u2212", data.words.zoom_out, "out", function () {
      canvas.zoom(Math.max(canvas.zoom() / 1.25, 0.05), "auto");
    });
    button("\u2922", data.words.fit, "fit", function () { canvas.zoom("fit-viewport", "auto"); });
    box.classList.add("diagram-frame");
    box.appendChild(bar);
    viewer.get("eventBus").on("canvas.viewbox.changed", show);
    show();
  }

  // a "show" button per row of the steps table: the diagram zooms to 100 % centred on that step
  function addShowButtons(canvas, registry) {
    document.querySelectorAll("table.heatmap-elements tr[data-element]").forEach(function (row) {
      var el = registry.get(row.getAttribute("data-element"));
      if (!el || el.waypoints) { return; }
      var b = document.createElement("button");
      b.type = "button";
      b.className = "small show-step";
      b.textContent = data.words.show;
      b.setAttribute("aria-label", data.words.show_step + ": " + row.cells[0].textContent.trim());
      b.title = data.words.show_step;
      b.addEventListener("click", function () {
        canvas.zoom(1);
        var box = canvas.viewbox();
        canvas.viewbox({ x: el.x + el.width / 2 - box.width / 2, y: el.y + el.height / 2 - box.height / 2,
                         width: box.width, height: box.height });
        container.setAttribute("data-zoom", canvas.zoom().toFixed(3));
        container.setAttribute("data-focus", el.id);
        container.scrollIntoView({ block: "center" });
      });
      row.cells[0].appendChild(b);
    });
  }

  // a wide diagram fitted into the box leaves its lower part empty: make the box only as tall as needed
  function fitHeight(canvas) {
    canvas.zoom("fit-viewport");
    var inner = canvas.viewbox().inner;
    if (inner && inner.width > 0) {
      var needed = container.clientWidth * inner.height / inner.width + 40;
      var height = Math.max(360, Math.min(container.clientHeight, Math.ceil(needed)));
      if (height < container.clientHeight) {
        container.style.height = height + "px";
        canvas.resized();
        canvas.zoom("fit-viewport");
      }
    }
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
        if (!node.hasAttribute("data-fill")) { node.setAttribute("data-fill", node.style.fill || ""); }
        node.style.fill = t === null ? node.getAttribute("data-fill") : colourAt(t);  // bpmn-js's own fill back
        if (t === null) { canvas.addMarker(el.id, "heat-none"); } else { canvas.removeMarker(el.id, "heat-none"); }
      });
      var scale = data.scale[metric];
      container.setAttribute("data-metric", metric);
      document.querySelectorAll("[data-legend]").forEach(function (span) {
        span.textContent = scale[span.getAttribute("data-legend") + "_text"] || "";
      });
    }

    // a badge under every task and subprocess a case passed: passes · median / p90 · % late (events and
    // gateways take no time: their colour and the table say enough); shown once zoomed in far enough to read
    shapes.forEach(function (el) {
      var figures = elements[el.id];
      if (!figures || !el.businessObject.$instanceOf("bpmn:Activity")) { return; }
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
                                          html: badge, scale: { min: 0.75, max: 1.5 }, show: { minZoom: BADGE_ZOOM } });
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
                                          scale: { min: 0.75, max: 1.5 }, show: { minZoom: SHARE_ZOOM } });
    });

    var toggle = document.querySelectorAll("input[name='heat-metric']");
    toggle.forEach(function (input) {
      input.addEventListener("change", function () { if (input.checked) { paint(input.value); } });
    });
    var chosen = Array.prototype.filter.call(toggle, function (input) { return input.checked; })[0];
    paint(chosen ? chosen.value : "median");
    fitHeight(canvas);
    addZoomButtons(container, canvas);
    addShowButtons(canvas, registry);
    container.setAttribute("data-rendered", "true");
  }).catch(function (err) {
    container.textContent = "The diagram could not be shown: " + err.message;
  });
})();
