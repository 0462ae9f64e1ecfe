// Step through a case's recorded history on its diagram: at each step the tokens, the step just passed,
// who acted, what they entered, the variables as they were then (changes marked) and the time spent.
// Every text is set with textContent: the values are what people typed.
(function () {
  "use strict";
  var box = document.getElementById("replay");
  var source = document.getElementById("replay-data");
  if (!box || !source) { return; }
  var data = JSON.parse(source.textContent);
  var steps = data.steps || [];
  var words = JSON.parse(box.getAttribute("data-words"));
  var opener = document.getElementById("replay-open");
  if (!steps.length || !opener) { return; }
  var slider = box.querySelector("#replay-step");
  var timeInput = box.querySelector("#replay-time");
  var playButton = box.querySelector("[data-replay=play]");
  var current = 0;
  var timer = null;

  // the variables after each step, folded once from the recorded changes
  var states = [];
  (function fold() {
    var vars = {};
    var waiting = [];
    var passed = [];
    steps.forEach(function (step) {
      var next = Object.assign({}, vars);
      Object.keys(step.set || {}).forEach(function (name) { next[name] = step.set[name]; });
      (step.unset || []).forEach(function (name) { delete next[name]; });
      if (step.waiting !== null) { waiting = step.waiting; }
      passed = passed.concat(step.passed);
      states.push({ vars: next, before: vars, waiting: waiting, passed: passed });
      vars = next;
    });
  })();

  function name(id) { return data.names[id] || id; }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) { node.textContent = text; }
    if (cls) { node.className = cls; }
    return node;
  }
  function show(value) { return typeof value === "string" ? value : JSON.stringify(value); }
  function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

  // "step passed ×6, service job created": each kind once, in the order first seen
  function counted(kinds) {
    var order = [];
    var counts = {};
    kinds.forEach(function (kind) {
      if (!counts[kind]) { order.push(kind); counts[kind] = 0; }
      counts[kind] += 1;
    });
    return order.map(function (kind) { return counts[kind] > 1 ? kind + " \u00d7" + counts[kind] : kind; }).join(", ");
  }

  function render() {
    var step = steps[current];
    var state = states[current];
    slider.value = String(current + 1);
    if (window.looplineDiagram) {
      window.looplineDiagram.paint({ passed: state.passed, active: state.waiting, failed: step.failed,
                                     current: step.passed.concat(step.cancelled) });
    }
    box.setAttribute("data-step", String(step.n));
    var facts = box.querySelector(".replay-facts");
    facts.textContent = "";
    facts.appendChild(el("h3", words.step.replace("{n}", step.n).replace("{total}", steps.length)));
    var dl = el("dl", null, "replay-list");
    function fact(term, text) {
      if (!text) { return; }
      dl.appendChild(el("dt", term));
      dl.appendChild(el("dd", text));
    }
    fact(words.when, step.at);
    fact(words.who, step.actor);
    fact(words.spent, step.spent);
    fact(words.what, counted(step.what));
    fact(words.passed, step.passed.map(name).join(", "));
    fact(words.cancelled, step.cancelled.map(name).join(", "));
    fact(words.waiting, step.waiting === null ? words.unrecorded : (state.waiting.map(name).join(", ") || words.none));
    facts.appendChild(dl);
    if (step.values.length) {
      facts.appendChild(el("h4", words.entered));
      var values = el("dl", null, "replay-list replay-values");
      step.values.forEach(function (pair) { values.appendChild(el("dt", pair[0])); values.appendChild(el("dd", pair[1])); });
      facts.appendChild(values);
    }
    renderVariables(state);
  }

  function renderVariables(state) {
    var body = box.querySelector(".replay-vars tbody");
    body.textContent = "";
    var names = Object.keys(Object.assign({}, state.before, state.vars)).sort();
    names.forEach(function (key) {
      var had = Object.prototype.hasOwnProperty.call(state.before, key);
      var has = Object.prototype.hasOwnProperty.call(state.vars, key);
      var row = el("tr");
      row.setAttribute("data-variable", key);
      var change = !has ? "removed" : !had ? "added" : same(state.before[key], state.vars[key]) ? "" : "changed";
      if (change) { row.className = change; }
      var labelled = data.labels && data.labels[key];
      var nameCell = el("td", labelled || key);
      if (labelled && labelled !== key) { nameCell.appendChild(el("span", " " + key, "muted small")); }
      row.appendChild(nameCell);
      var cell = el("td");
      if (change === "changed") { cell.appendChild(el("span", show(state.before[key]), "was")); }
      cell.appendChild(el("span", show(has ? state.vars[key] : state.before[key])));
      row.appendChild(cell);
      row.appendChild(el("td", change ? words[change] : ""));
      body.appendChild(row);
    });
    if (!names.length) {
      var empty = el("tr");
      var cell = el("td", words.none, "muted");
      cell.colSpan = 3;
      empty.appendChild(cell);
      body.appendChild(empty);
    }
  }

  function go(index) {
    current = Math.max(0, Math.min(steps.length - 1, index));
    render();
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playButton.textContent = words.play;
    playButton.setAttribute("aria-pressed", "false");
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (current >= steps.length - 1) { go(0); }
    playButton.textContent = words.pause;
    playButton.setAttribute("aria-pressed", "true");
    timer = setInterval(function () {
      go(current + 1);
      if (current >= steps.length - 1) { stop(); }
    }, 1000);
  }
  // the last step at or before a time typed in the reader's zone (both sides are local ISO text)
  function jump(value) {
    if (!value) { return; }
    // a datetime-local input drops ":00" seconds from its value; the reader meant that second, not the minute
    if (value.length === 16) { value += ":00"; }
    var index = 0;
    steps.forEach(function (step, i) { if (step.local <= value || step.local.slice(0, value.length) === value) { index = i; } });
    stop();
    go(index);
  }

  slider.max = String(steps.length);
  box.querySelectorAll("[data-replay]").forEach(function (button) {
    button.addEventListener("click", function () {
      var act = button.getAttribute("data-replay");
      if (act === "play") { play(); return; }
      stop();
      if (act === "first") { go(0); }
      if (act === "back") { go(current - 1); }
      if (act === "next") { go(current + 1); }
      if (act === "last") { go(steps.length - 1); }
      if (act === "close") { close(); }
    });
  });
  slider.addEventListener("input", function () { stop(); go(Number(slider.value) - 1); });
  timeInput.addEventListener("change", function () { jump(timeInput.value); });
  timeInput.addEventListener("input", function () { jump(timeInput.value); });
  timeInput.min = steps[0].local.slice(0, 16);
  timeInput.max = steps[steps.length - 1].local.slice(0, 16);

  function close() {
    stop();
    box.hidden = true;
    opener.hidden = false;
    box.removeAttribute("data-step");
    if (window.looplineDiagram) { window.looplineDiagram.paint(window.looplineDiagram.now); }
  }
  document.addEventListener("loopline:diagram-ready", function () { if (!box.hidden) { render(); } });
  opener.hidden = false;
  opener.addEventListener("click", function () {
    box.hidden = false;
    opener.hidden = true;
    go(0);
  });
})();
