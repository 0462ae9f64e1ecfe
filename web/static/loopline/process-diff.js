// Two versions of a process side by side: each diagram drawn with the bpmn-js viewer, its changes marked
// (removed in red on the old one, added in green on the new one, changed in amber on both). Moving or
// zooming one diagram moves the other the same way, so the same place is seen in both.
(function () {
  "use strict";
  if (!window.BpmnJS) { return; }
  var CLASSES = { added: "ll-diff-added", removed: "ll-diff-removed", changed: "ll-diff-changed" };
  var canvases = [];
  var following = false;

  function same(a, b) {
    return Math.abs(a.x - b.x) < 0.5 && Math.abs(a.y - b.y) < 0.5 && Math.abs(a.scale - b.scale) < 0.001;
  }

  // the event comes late (debounced): setting a viewbox equal to the one shown ends the echo
  function follow(from) {
    from.on("canvas.viewbox.changed", function (event) {
      if (following) { return; }
      following = true;
      canvases.forEach(function (other) {
        if (other !== from.canvas && !same(other.viewbox(), event.viewbox)) {
          other.viewbox({ x: event.viewbox.x, y: event.viewbox.y, width: event.viewbox.width,
                          height: event.viewbox.height });
        }
      });
      following = false;
    });
  }

  // the box around the marked elements (shapes and flows) of the drawn diagrams, or null when none is marked
  function markedBox(drawn) {
    var box = null;
    function add(x, y, width, height) {
      if (!box) { box = { x: x, y: y, right: x + width, bottom: y + height }; return; }
      box.x = Math.min(box.x, x); box.y = Math.min(box.y, y);
      box.right = Math.max(box.right, x + width); box.bottom = Math.max(box.bottom, y + height);
    }
    drawn.forEach(function (d) {
      d.marked.forEach(function (element) {
        if (element.waypoints) {
          element.waypoints.forEach(function (p) { add(p.x, p.y, 0, 0); });
        } else {
          add(element.x, element.y, element.width, element.height);
        }
      });
    });
    return box;
  }

  // both diagrams show the same region at one scale: around the changes (not closer than 1:1), else all of
  // either version's elements
  function fitBoth(drawn) {
    var marked = markedBox(drawn);
    var region;
    if (marked) {
      var pad = 120;
      region = { x: marked.x - pad, y: marked.y - pad, width: marked.right - marked.x + 2 * pad,
                 height: marked.bottom - marked.y + 2 * pad };
    } else {
      var boxes = drawn.map(function (d) { return d.canvas.viewbox().inner; });
      var x = Math.min(boxes[0].x, boxes[1].x);
      var y = Math.min(boxes[0].y, boxes[1].y);
      region = { x: x - 20, y: y - 20,
                 width: Math.max(boxes[0].x + boxes[0].width, boxes[1].x + boxes[1].width) - x + 40,
                 height: Math.max(boxes[0].y + boxes[0].height, boxes[1].y + boxes[1].height) - y + 40 };
    }
    drawn.forEach(function (d) {
      var outer = d.canvas.viewbox().outer;
      var scale = Math.min(outer.width / region.width, outer.height / region.height, 1);
      var width = outer.width / scale;
      var height = outer.height / scale;
      d.canvas.viewbox({ x: region.x + (region.width - width) / 2, y: region.y + (region.height - height) / 2,
                         width: width, height: height });
    });
  }

  // +, − and "whole diagram" buttons over a diagram (the other one follows)
  function addZoomButtons(container, canvas) {
    var zh = (document.documentElement.lang || "").indexOf("zh") === 0;
    var words = zh ? { zoomIn: "放大", zoomOut: "缩小", fit: "显示整个图" }
                   : { zoomIn: "Zoom in", zoomOut: "Zoom out", fit: "Show the whole diagram" };
    var bar = document.createElement("div");
    bar.className = "diagram-zoom";
    function button(text, title, act) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.textContent = text;
      b.title = title;
      b.setAttribute("aria-label", title);
      b.addEventListener("click", act);
      bar.appendChild(b);
    }
    button("+", words.zoomIn, function () { canvas.zoom(Math.min(canvas.zoom() * 1.25, 4), "auto"); });
    button("\u2212", words.zoomOut, function () { canvas.zoom(Math.max(canvas.zoom() / 1.25, 0.05), "auto"); });
    button("\u2922", words.fit, function () { canvas.zoom("fit-viewport", "auto"); });
    container.classList.add("diagram-frame");
    container.appendChild(bar);
  }

  function draw(side) {
    var container = document.getElementById("diagram-" + side);
    var source = document.getElementById("diagram-" + side + "-xml");
    if (!container || !source) { return Promise.resolve(); }
    var markers = JSON.parse(container.getAttribute("data-markers") || "{}");
    var viewer = new window.BpmnJS({ container: container });
    return viewer.importXML(JSON.parse(source.textContent)).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      var marked = [];
      Object.keys(CLASSES).forEach(function (change) {
        (markers[change] || []).forEach(function (id) {
          var element = registry.get(id);
          if (element) { canvas.addMarker(id, CLASSES[change]); marked.push(element); }
        });
      });
      canvas.zoom("fit-viewport");
      addZoomButtons(container, canvas);
      container.setAttribute("data-marked", String(marked.length));
      container.setAttribute("data-rendered", "true");
      return { canvas: canvas, eventBus: viewer.get("eventBus"), marked: marked };
    }).catch(function (err) {
      container.textContent = "The diagram could not be shown: " + err.message;
    });
  }

  Promise.all([draw("old"), draw("new")]).then(function (shown) {
    var drawn = shown.filter(Boolean);
    drawn.forEach(function (d) { canvases.push(d.canvas); });
    if (drawn.length === 2) {
      fitBoth(drawn);
      drawn.forEach(function (d) { follow({ canvas: d.canvas, on: d.eventBus.on.bind(d.eventBus) }); });
    }
    document.dispatchEvent(new Event("loopline:diff-ready"));
  });
})();
