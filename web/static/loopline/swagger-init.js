// Start Swagger UI from a file, not an inline script: the Content-Security-Policy allows only our own scripts.
(function () {
  "use strict";
  var container = document.getElementById("swagger-ui-container");
  if (!container || !window.SwaggerUIBundle) { return; }
  var config = JSON.parse(container.getAttribute("data-config") || "{}");
  config.url = container.getAttribute("data-spec-url");
  config.dom_id = "#swagger-ui-container";
  window.ui = window.SwaggerUIBundle(config);
})();
