// The modeler page: bpmn-js with the Camunda 7 properties panel (window.LooplineModeler) or dmn-js (window.DmnJS)
// on a draft; Save draft (also Ctrl+S / ⌘S), Validate and Deploy post the XML with the page's CSRF token, and
// each problem the server finds is marked on its element (red outline + message) and listed; a click on the
// list selects the element.
(function () {
  "use strict";
  var page = document.getElementById("modeler-page");
  var source = document.getElementById("draft-xml");
  if (!page || !source) { return; }
  var kind = page.getAttribute("data-kind");
  var canvasBox = document.getElementById("modeler-canvas");
  var status = document.getElementById("modeler-status");
  var problemBox = document.getElementById("modeler-problems");
  var problemList = document.getElementById("modeler-problem-list");
  var result = document.getElementById("modeler-result");
  var buttons = ["modeler-save", "modeler-validate", "modeler-deploy"].map(function (id) {
    return document.getElementById(id);
  });
  var dirty = false;
  var shown = [];  // [element id, overlay id] of the problems marked now

  function text(name, values) {
    var words = page.getAttribute("data-text-" + name) || name;
    Object.keys(values || {}).forEach(function (key) { words = words.split("{" + key + "}").join(values[key]); });
    return words;
  }
  function say(words, tone) {
    status.textContent = words;
    status.setAttribute("data-tone", tone || "");
  }

  var modeler;
  if (kind === "dmn") {
    if (!window.DmnJS) { return; }
    modeler = new window.DmnJS({ container: canvasBox });
  } else {
    if (!window.LooplineModeler) { return; }
    modeler = window.LooplineModeler.create(canvasBox, document.getElementById("modeler-properties"));
  }
  window.looplineModelerPage = { modeler: modeler };

  function activeViewer() { return kind === "dmn" ? modeler.getActiveViewer() : modeler; }
  function watchChanges() {
    var viewer = activeViewer();
    if (!viewer || viewer.__looplineWatched) { return; }
    viewer.__looplineWatched = true;
    viewer.get("eventBus").on("commandStack.changed", function () {
      dirty = true;
      say(text("unsaved"), "unsaved");
    });
  }

  modeler.importXML(JSON.parse(source.textContent)).then(function () {
    if (kind === "dmn") {
      modeler.on("views.changed", watchChanges);
      // a decision table is what a process owner edits: open the first one instead of the diagram
      var table = modeler.getViews().filter(function (view) { return view.type === "decisionTable"; })[0];
      if (table) { modeler.open(table); }
    } else {
      modeler.get("canvas").zoom("fit-viewport");
    }
    watchChanges();
    page.setAttribute("data-ready", "true");
  }).catch(function (err) {
    canvasBox.textContent = text("not-shown", { error: err.message });
  });

  function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }

  // post the current XML (and the CSRF token) to `url`; resolves with [status, JSON answer]
  function post(url) {
    return modeler.saveXML({ format: true }).then(function (saved) {
      var form = new FormData();
      form.append("csrf_token", page.getAttribute("data-csrf"));
      form.append("content", saved.xml);
      return fetch(url, { method: "POST", body: form, credentials: "same-origin",
                          headers: { "Accept": "application/json" } });
    }).then(function (answer) {
      return answer.json().then(function (body) { return [answer.status, body]; });
    });
  }

  function save() {
    busy(true);
    say(text("saving"));
    return post(page.getAttribute("data-save-url")).then(function (answer) {
      if (answer[0] !== 200) { throw new Error(answer[1].message || String(answer[0])); }
      dirty = false;
      say(text("saved"), "ok");
    }).catch(function (err) { say(err.message || text("failed"), "error"); })
      .then(function () { busy(false); });
  }

  function validate() {
    busy(true);
    say(text("checking"));
    return post(page.getAttribute("data-validate-url")).then(function (answer) {
      if (answer[0] !== 200) { throw new Error(answer[1].message || String(answer[0])); }
      dirty = false;
      showProblems(answer[1].problems);
      result.textContent = answer[1].valid ? text("valid") : text("problems");
      say(answer[1].valid ? text("valid") : text("problems"), answer[1].valid ? "ok" : "error");
    }).catch(function (err) { say(err.message || text("failed"), "error"); })
      .then(function () { busy(false); });
  }

  function deploy() {
    busy(true);
    say(text("deploying"));
    return post(page.getAttribute("data-deploy-url")).then(function (answer) {
      var body = answer[1];
      if (answer[0] === 422 && body.problems) {
        showProblems(body.problems);
        result.textContent = text("refused");
        say(text("refused"), "error");
        busy(false);
        return;
      }
      if (answer[0] !== 200) { throw new Error(body.message || String(answer[0])); }
      dirty = false;
      showProblems([]);
      showDeployed(body);
    }).catch(function (err) {
      say(err.message || text("failed"), "error");
      busy(false);
    });
  }

  // the draft is deployed (and gone): say which version it became and link to it; no more saving here
  function showDeployed(body) {
    var first = body.deployed[0];
    problemBox.hidden = false;
    problemBox.setAttribute("data-state", "deployed");
    result.textContent = "";
    var line = document.createElement("span");
    if (first) {
      line.textContent = text(first["new"] ? "deployed" : "unchanged", { key: first.key, version: first.version }) + " ";
      result.appendChild(line);
      var open = document.createElement("a");
      open.href = first.url;
      open.id = "modeler-new-version";
      open.textContent = text("open-version");
      result.appendChild(open);
      result.appendChild(document.createTextNode(" · "));
    } else {
      line.textContent = text("decisions-deployed") + " ";
      result.appendChild(line);
    }
    var back = document.createElement("a");
    back.href = body.landing;
    back.textContent = text("back");
    result.appendChild(back);
    say(line.textContent, "ok");
  }

  function clearMarks() {
    var viewer = activeViewer();
    if (kind !== "dmn" && viewer) {
      var canvas = viewer.get("canvas");
      var overlays = viewer.get("overlays");
      shown.forEach(function (mark) {
        canvas.removeMarker(mark[0], "ll-problem");
        overlays.remove(mark[1]);
      });
    }
    shown = [];
  }

  function showProblems(problems) {
    clearMarks();
    problemList.textContent = "";
    problemBox.hidden = !problems.length;
    problemBox.removeAttribute("data-state");
    var registry = kind === "dmn" ? null : modeler.get("elementRegistry");
    problems.forEach(function (problem) {
      var element = registry && problem.elementId ? registry.get(problem.elementId) : null;
      var item = document.createElement("li");
      item.setAttribute("data-element", problem.elementId || "");
      var where = document.createElement(element ? "button" : "b");
      where.className = element ? "link problem-element" : "problem-element";
      where.textContent = element ? (element.businessObject.name || problem.elementId)
                                  : (problem.elementId || problem.file || text("whole-file"));
      if (element) {
        where.type = "button";
        where.title = problem.elementId;
        where.addEventListener("click", function () { focus(problem.elementId); });
      }
      item.appendChild(where);
      item.appendChild(document.createTextNode(": " + problem.message));
      problemList.appendChild(item);
      if (element) { mark(element, problem.message); }
    });
  }

  // a red outline on the element and its message in a box under it
  function mark(element, message) {
    var canvas = modeler.get("canvas");
    var box = document.createElement("div");
    box.className = "ll-problem-note";
    box.setAttribute("data-problem-for", element.id);
    box.textContent = message;
    box.title = message;
    canvas.addMarker(element.id, "ll-problem");
    var position = element.waypoints ? { top: 6, left: 0 } : { bottom: -6, left: 0 };  // under it
    shown.push([element.id, modeler.get("overlays").add(element.id, "ll-problem", { position: position, html: box })]);
  }

  // show the element (on its subprocess's plane if it is on one) and select it, so the panel shows its settings
  function focus(elementId) {
    var element = modeler.get("elementRegistry").get(elementId);
    if (!element) { return; }
    var canvas = modeler.get("canvas");
    if (canvas.findRoot && canvas.findRoot(element) !== canvas.getRootElement()) {
      canvas.setRootElement(canvas.findRoot(element));
    }
    // clear of the palette on the left and the toolbar on top
    if (canvas.scrollToElement) { canvas.scrollToElement(element, { top: 80, left: 200, right: 60, bottom: 80 }); }
    modeler.get("selection").select(element);
  }

  buttons[0].addEventListener("click", save);
  buttons[1].addEventListener("click", validate);
  buttons[2].addEventListener("click", deploy);
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && (event.key === "s" || event.key === "S")) {
      event.preventDefault();
      if (!buttons[0].disabled) { save(); }
    }
  });
  window.addEventListener("beforeunload", function (event) {
    if (dirty) { event.preventDefault(); event.returnValue = ""; }
  });
})();
