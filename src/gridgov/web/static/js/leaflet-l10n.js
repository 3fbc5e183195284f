/*
 * Leaflet's built-in labels in the page's language: the zoom buttons' title and aria-label, a marker's
 * alt text, and the popup close button's aria-label are English in Leaflet itself. The strings come from
 * the server's catalog in the #leaflet-messages JSON block (templates/_leaflet.html). Runs after
 * leaflet.js and before the page's own script (deferred scripts keep their order), so every map, control
 * and marker the page makes starts with these defaults.
 */
(function () {
  "use strict";
  var element = document.getElementById("leaflet-messages");
  if (!element || !window.L) return;
  var messages = JSON.parse(element.textContent || "{}");
  L.Control.Zoom.mergeOptions({ zoomInTitle: messages.zoomIn, zoomOutTitle: messages.zoomOut });
  L.Marker.mergeOptions({ alt: messages.marker });
  L.Map.addInitHook(function () {
    this.on("popupopen", function (event) {
      var button = event.popup && event.popup._closeButton;
      if (button) button.setAttribute("aria-label", messages.closePopup);
    });
  });
})();
