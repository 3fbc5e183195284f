/*
 * gridgov registry person page: the reveal form (POST /api/registry/people/{id}/reveal with a typed reason,
 * audited; the value is shown on the page, never stored) and the care-tag forms (add, end) for holders of
 * registry.care. Configuration and translated strings arrive in JSON blocks (the CSP allows no inline
 * script); posts carry the session's X-CSRF-Token.
 */
(function () {
  "use strict";

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent || "{}") : {};
  }

  var config = readJson("registry-config");
  var messages = readJson("registry-messages");
  var box = document.getElementById("registry-message");

  function msg(key) {
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  }

  function say(text, isError) {
    if (!box) return;
    box.hidden = !text;
    box.textContent = text;
    box.classList.toggle("is-error", Boolean(isError));
  }

  function post(url, body) {
    var headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (config.csrfToken) headers["X-CSRF-Token"] = config.csrfToken;
    say(msg("sending"), false);
    return fetch(url, { method: "POST", headers: headers, credentials: "same-origin", body: JSON.stringify(body) })
      .then(function (response) {
        return response.json().then(
          function (payload) {
            return { ok: response.ok, status: response.status, payload: payload };
          },
          function () {
            return { ok: response.ok, status: response.status, payload: null };
          }
        );
      })
      .then(function (result) {
        if (!result.ok) {
          var text = result.payload && result.payload.error ? result.payload.error.message : "";
          say((result.status === 403 ? msg("forbidden") : msg("failed")) + (text ? " " + text : ""), true);
          throw new Error("refused");
        }
        say("", false);
        return result.payload;
      });
  }

  var base = config.api || "/api/registry";
  var revealForm = document.getElementById("reveal-form");
  if (revealForm) {
    revealForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(revealForm);
      post(base + "/people/" + config.person + "/reveal", {
        field: String(data.get("field")),
        reason: String(data.get("reason") || "")
      }).then(function (payload) {
        var out = document.getElementById("reveal-result");
        out.hidden = false;
        out.textContent = payload.value === null ? msg("empty") : msg("revealed") + " " + payload.value;
      }, function () {});
    });
  }

  var careForm = document.getElementById("care-form");
  if (careForm) {
    careForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var data = new FormData(careForm);
      post(base + "/people/" + config.person + "/care-tags", {
        category: String(data.get("category")),
        care_every_days: Number(data.get("care_every_days")),
        note: String(data.get("note") || "") || null
      }).then(function () {
        window.location.reload();
      }, function () {});
    });
  }

  document.querySelectorAll("[data-end-tag]").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      post(base + "/care-tags/" + button.getAttribute("data-end-tag") + "/end", {}).then(
        function () {
          window.location.reload();
        },
        function () {
          button.disabled = false;
        }
      );
    });
  });
})();
