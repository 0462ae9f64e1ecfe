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

  // both diagrams show the region that holds either version's elements, at one scale
  function fitBoth(drawn) {
    var boxes = drawn.map(function (d) { return d.canvas.viewbox().inner; });
    var x = Math.min(boxes[0].x, boxes[1].x);
    var y = Math.min(boxes[0].y, boxes[1].y);
    var right = Math.max(boxes[0].x + boxes[0].width, boxes[1].x + boxes[1].width);
    var bottom = Math.max(boxes[0].y + boxes[0].height, boxes[1].y + boxes[1].height);
    var pad = 20;
    var region = { x: x - pad, y: y - pad, width: right - x + 2 * pad, height: bottom - y + 2 * pad };
    drawn.forEach(function (d) {
      var outer = d.canvas.viewbox().outer;
      var scale = Math.min(outer.width / region.width, outer.height / region.height);
      d.canvas.viewbox({ x: region.x, y: region.y, width: outer.width / scale, height: outer.height / scale });
    });
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
      var marked = 0;
      Object.keys(CLASSES).forEach(function (change) {
        (markers[change] || []).forEach(function (id) {
          if (registry.get(id)) { canvas.addMarker(id, CLASSES[change]); marked += 1; }
        });
      });
      canvas.zoom("fit-viewport");
      container.setAttribute("data-marked", String(marked));
      container.setAttribute("data-rendered", "true");
      return { canvas: canvas, eventBus: viewer.get("eventBus") };
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
