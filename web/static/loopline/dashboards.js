// Draws each dashboard chart from the JSON block beside its canvas (no inline script: the CSP allows none);
// a click on a bar, slice or point opens the list of the cases behind it.
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }
  var palette = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6", "#f97316", "#64748b",
                 "#84cc16", "#ec4899"];
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;

  function suffix(percent) { return percent ? " %" : ""; }

  function datasetsOf(spec) {
    return spec.datasets.map(function (set, index) {
      var colour = palette[index % palette.length];
      var shown = {label: set.label, data: set.data, backgroundColor: colour, borderColor: colour};
      if (spec.type === "doughnut") {
        shown.backgroundColor = set.data.map(function (_, i) { return palette[i % palette.length]; });
        shown.borderColor = "#fff";
      }
      if (spec.type === "line") { shown.tension = 0.2; shown.spanGaps = true; shown.pointRadius = 4; }
      if (spec.type === "pareto" && index === 1) {
        shown.type = "line"; shown.yAxisID = "cumulative"; shown.pointRadius = 4;
      } else if (spec.type === "pareto") { shown.type = "bar"; }
      return shown;
    });
  }

  function scalesOf(spec) {
    if (spec.type === "doughnut") { return {}; }
    var values = {beginAtZero: true, stacked: spec.stacked,
                  ticks: {callback: function (value) { return value + suffix(spec.percent[0]); }}};
    var labels = {stacked: spec.stacked, ticks: {autoSkip: true, maxRotation: 45}};
    if (spec.type === "hbar") {
      labels.ticks = {autoSkip: false, callback: function (value) {
        var text = this.getLabelForValue(value);
        return text.length > 28 ? text.slice(0, 27) + "…" : text;
      }};
      return {x: values, y: labels};
    }
    var scales = {x: labels, y: values};
    if (spec.type === "pareto") {
      scales.cumulative = {position: "right", min: 0, max: 100, grid: {drawOnChartArea: false},
                           ticks: {callback: function (value) { return value + " %"; }}};
    }
    return scales;
  }

  function draw(block) {
    var spec = JSON.parse(block.textContent);
    var canvas = document.getElementById(block.dataset.canvas);
    if (!canvas) { return; }
    var type = spec.type === "pareto" || spec.type === "hbar" ? "bar" : spec.type;
    new Chart(canvas, {
      type: type,
      data: {labels: spec.labels, datasets: datasetsOf(spec)},
      options: {
        indexAxis: spec.type === "hbar" ? "y" : "x",
        responsive: true,
        scales: scalesOf(spec),
        plugins: {
          legend: {display: spec.type === "doughnut" || spec.datasets.length > 1, position: "bottom"},
          tooltip: {callbacks: {label: function (item) {
            var value = item.raw === null ? "—" : item.formattedValue;
            var percent = spec.type === "pareto" ? item.datasetIndex === 1 : spec.percent[item.datasetIndex];
            return item.dataset.label + ": " + value + (item.raw === null ? "" : suffix(percent));
          }}}
        },
        onHover: function (event, elements) {
          var link = elements.length ? spec.links[elements[0].index] : null;
          event.native.target.style.cursor = link ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length) { return; }
          var link = spec.links[elements[0].index];
          if (link) { window.location.assign(link); }
        }
      }
    });
    canvas.dataset.ready = "true";
  }

  document.querySelectorAll("script.chart-data").forEach(draw);
})();
