// The import centre: batches still running update in place until they finish (GET /api/ingest/batches/{id},
// same origin, the session cookie; a GET needs no CSRF token). Every element marked data-batch-ref="{id}"
// (the batch's row, its source's "last batch" cell) takes the new status and counts. Labels and the
// summary message come translated in the page's JSON block.
(function () {
  "use strict";
  var block = document.getElementById("ingest-config");
  if (!block) return;
  var config = JSON.parse(block.textContent || "{}");
  var statuses = config.statuses || {};
  var base = config.batchUrl || "/api/ingest/batches/";
  var POLL_MS = 1500;
  var COUNTS = ["rows", "accepted", "merged", "unchanged", "quarantined"];
  var numbers = new Intl.NumberFormat("en-US");

  function summary(batch) {
    return String(config.summary || "").replace(/\{(\w+)\}/g, function (whole, name) {
      return COUNTS.indexOf(name) >= 0 ? numbers.format(batch[name] || 0) : whole;
    });
  }

  function setField(element, name, text) {
    element.querySelectorAll('[data-field="' + name + '"]').forEach(function (cell) {
      cell.textContent = text;
    });
  }

  function update(id, batch) {
    var label = statuses[batch.status] || batch.status;
    document.querySelectorAll('[data-batch-ref="' + id + '"]').forEach(function (element) {
      COUNTS.forEach(function (name) { setField(element, name, numbers.format(batch[name] || 0)); });
      setField(element, "status", batch.error ? label + " — " + batch.error : label);
      setField(element, "summary", summary(batch));
      element.setAttribute("data-status", batch.status);
      var link = element.querySelector('[data-field="quarantine"] form');
      if (link) link.hidden = !(batch.quarantined > 0);
    });
  }

  function poll(id) {
    fetch(base + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (batch) {
        update(id, batch);
        if (batch.status === "running") window.setTimeout(function () { poll(id); }, POLL_MS);
      })
      .catch(function () {
        window.setTimeout(function () { poll(id); }, POLL_MS * 4);
      });
  }

  var running = {};
  document.querySelectorAll('[data-batch-ref][data-status="running"]').forEach(function (element) {
    running[element.getAttribute("data-batch-ref")] = true;
  });
  Object.keys(running).forEach(poll);
})();
