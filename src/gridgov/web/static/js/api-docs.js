/*
 * Starts Swagger UI from the vendored swagger-ui-dist (no CDN) on the API documentation page.
 * The OpenAPI URL comes from a JSON block because the Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("api-docs-config").textContent || "{}");
  window.SwaggerUIBundle({
    url: config.openapiUrl,
    dom_id: "#swagger-ui",
    // Deep links put a link inside each operation's toggle button: a control nested in a control,
    // which screen readers and keyboards cannot reach (WCAG 4.1.2, axe "nested-interactive").
    deepLinking: false,
    layout: "BaseLayout",
    presets: [window.SwaggerUIBundle.presets.apis],
    // Swagger UI would otherwise fetch a validator badge from swagger.io.
    validatorUrl: null,
  });
})();
