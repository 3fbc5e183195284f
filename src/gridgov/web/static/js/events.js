/*
 * gridgov event pages: the public snap-report map (click to place the pin) and the event detail (the map with
 * the pin, the workflow action forms, the whistle and the summoned departments' steps).
 *
 * Configuration and translated strings arrive in <script type="application/json"> blocks (the CSP allows no
 * inline script). The maps draw only our own street outlines; tiles only when an intranet tile server is
 * configured. Actions post to /api/events/{ticket}/... with the event version the page was rendered with and
 * the session's X-CSRF-Token; on success the page reloads, a refusal (409: stale or illegal) is shown.
 * The report form's address field is a type-ahead (an ARIA combobox): after a pause in typing it asks
 * /report/addresses for building addresses, shown as a list usable by arrow keys, Enter, Escape and taps;
 * choosing one fills the field and moves the pin to the address. The detail page lists likely duplicates,
 * whose merge buttons post to /api/events/{ticket}/merge like the other actions.
 * State for tests is mirrored as data-* attributes: #report-map[data-state], #report-pin-status[data-pinned],
 * #report-address-list[data-count].
 */
(function () {
  "use strict";

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent || "{}") : {};
  }

  var config = readJson("events-config");
  var messages = readJson("events-messages");

  function msg(key) {
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  // ---- maps -----------------------------------------------------------------------------------------

  function makeMap(element, onReady) {
    var map = L.map(element, { zoomSnap: 0.25, minZoom: 9, maxZoom: 19, center: [22.53, 113.93], zoom: 11 });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(msg("map.attribution"));
    L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
    if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    // Tests (and scripts) find the map through its element.
    element.gridgovMap = map;
    fetch(config.outlines, { headers: { Accept: "application/geo+json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.json();
      })
      .then(function (collection) {
        var layer = L.geoJSON(collection, {
          interactive: false,
          style: { color: "#1f4e8c", weight: 1.2, fillColor: "#eef3f9", fillOpacity: 0.85 },
        }).addTo(map);
        if (layer.getBounds().isValid()) map.fitBounds(layer.getBounds(), { padding: [8, 8] });
      })
      .catch(function () {
        // No areas loaded: the pin still works on the bare ground.
      })
      .finally(function () {
        if (onReady) onReady(map);
        element.dataset.state = "ready";
      });
    return map;
  }

  // ---- the address type-ahead of the public form ------------------------------------------------------

  var TYPEAHEAD_DELAY_MS = 250; // wait for a pause in typing: one request per word, not per key
  var TYPEAHEAD_MIN = 2; // the endpoint refuses shorter queries

  function addressTypeahead(onChoose) {
    var input = byId("report-address");
    var list = byId("report-address-list");
    var note = byId("report-address-status");
    if (!input || !list || !note || !config.addresses) return;
    var timer = null;
    var pending = null;
    var asked = "";
    var items = [];
    var active = -1;

    function setNote(text) {
      note.textContent = text;
    }

    function close() {
      list.hidden = true;
      list.textContent = "";
      list.dataset.count = "0";
      items = [];
      active = -1;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
    }

    function highlight(index) {
      var options = list.querySelectorAll("[role=option]");
      active = index;
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      if (index >= 0 && options[index]) {
        input.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function choose(index) {
      var chosen = items[index];
      if (!chosen) return;
      window.clearTimeout(timer);
      if (pending) pending.abort();
      input.value = chosen.text;
      asked = chosen.text;
      close();
      onChoose(chosen);
      setNote(msg("address.chosen"));
      input.dataset.chosen = chosen.text;
    }

    function show(found) {
      close();
      items = found;
      if (!found.length) {
        setNote(msg("address.none"));
        return;
      }
      found.forEach(function (suggestion, index) {
        var option = document.createElement("li");
        option.id = "report-address-option-" + index;
        option.className = "typeahead-option";
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.dataset.lon = String(suggestion.lon);
        option.dataset.lat = String(suggestion.lat);
        option.textContent = suggestion.text;
        // Keep the focus in the field (no blur before the choice lands), for mouse and touch alike.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
        });
        option.addEventListener("click", function () {
          choose(index);
        });
        list.appendChild(option);
      });
      list.dataset.count = String(found.length);
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      setNote(msg("address.count").replace("{count}", String(found.length)));
    }

    function ask(text) {
      if (pending) pending.abort();
      pending = window.AbortController ? new AbortController() : null;
      var url = config.addresses + "?q=" + encodeURIComponent(text);
      fetch(url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
        signal: pending ? pending.signal : undefined,
      })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (found) {
          if (input.value.trim() !== text) return; // typed on meanwhile: a newer answer is coming
          show(found);
        })
        .catch(function (error) {
          if (error && error.name === "AbortError") return;
          close();
          setNote(msg("address.failed"));
        });
    }

    input.addEventListener("input", function () {
      var text = input.value.trim();
      window.clearTimeout(timer);
      delete input.dataset.chosen;
      if (text.length < TYPEAHEAD_MIN) {
        if (pending) pending.abort();
        asked = "";
        close();
        setNote(msg("address.hint"));
        return;
      }
      if (text === asked && !list.hidden) return; // e.g. a trailing space: the list already answers it
      timer = window.setTimeout(function () {
        asked = text;
        ask(text);
      }, TYPEAHEAD_DELAY_MS);
    });

    input.addEventListener("keydown", function (event) {
      var open = !list.hidden && items.length > 0;
      if (event.key === "ArrowDown" && open) {
        event.preventDefault();
        highlight((active + 1) % items.length);
      } else if (event.key === "ArrowUp" && open) {
        event.preventDefault();
        highlight(active <= 0 ? items.length - 1 : active - 1);
      } else if (event.key === "Enter" && open && active >= 0) {
        event.preventDefault(); // choose the address, do not submit the form
        choose(active);
      } else if (event.key === "Escape" && open) {
        event.preventDefault();
        close();
      }
    });

    input.addEventListener("blur", function () {
      // Leaving the field (Tab, a tap elsewhere) puts the list away; a tap on an option keeps the focus.
      window.setTimeout(close, 150);
    });
  }

  // ---- the public snap-report form ------------------------------------------------------------------

  var reportMap = byId("report-map");
  if (reportMap && window.L) {
    var lonInput = byId("report-lon");
    var latInput = byId("report-lat");
    var status = byId("report-pin-status");
    var marker = null;

    var place = function (map, lat, lon) {
      if (marker) marker.setLatLng([lat, lon]);
      else marker = L.marker([lat, lon], { keyboard: true }).addTo(map);
      lonInput.value = lon.toFixed(6);
      latInput.value = lat.toFixed(6);
      status.textContent = msg("pinned") + " " + lon.toFixed(5) + ", " + lat.toFixed(5);
      status.dataset.pinned = "true";
    };

    var leaflet = makeMap(reportMap, function (map) {
      if (lonInput.value && latInput.value) {
        var lon = Number(lonInput.value);
        var lat = Number(latInput.value);
        if (isFinite(lon) && isFinite(lat)) place(map, lat, lon);
      }
      map.on("click", function (event) {
        place(map, event.latlng.lat, event.latlng.lng);
      });
    });

    addressTypeahead(function (suggestion) {
      place(leaflet, suggestion.lat, suggestion.lon);
      leaflet.setView([suggestion.lat, suggestion.lon], Math.max(leaflet.getZoom(), 16));
    });

    var reportForm = byId("report-form");
    reportForm.addEventListener("submit", function () {
      // A second press while the first is on its way changes nothing (the idempotency key covers retries).
      window.setTimeout(function () {
        byId("report-submit").disabled = true;
      }, 0);
    });
  }

  // ---- the event detail -----------------------------------------------------------------------------

  var eventMap = byId("event-map");
  if (eventMap && window.L) {
    makeMap(eventMap, function (map) {
      if (config.lon !== null && config.lat !== null && config.lon !== undefined) {
        L.marker([config.lat, config.lon], { keyboard: true }).addTo(map);
        map.setView([config.lat, config.lon], 16);
      }
    });
  }

  var messageBox = byId("event-message");

  function say(text, isError) {
    if (!messageBox) return;
    messageBox.hidden = !text;
    messageBox.textContent = text;
    messageBox.classList.toggle("is-error", Boolean(isError));
  }

  // Every button that posts: disabled while a post is on its way, so one click makes one change.
  var POSTING_BUTTONS = "#event-actions button, #summons-table button, #event-duplicates button";

  function post(url, body) {
    var headers = { Accept: "application/json", "Content-Type": "application/json" };
    if (config.csrfToken) headers["X-CSRF-Token"] = config.csrfToken;
    say(msg("sending"), false);
    document.querySelectorAll(POSTING_BUTTONS).forEach(function (button) {
      button.disabled = true;
    });
    return fetch(url, { method: "POST", headers: headers, credentials: "same-origin", body: JSON.stringify(body) })
      .then(function (response) {
        return response.text().then(function (text) {
          var payload = null;
          try {
            payload = text ? JSON.parse(text) : null;
          } catch (ignored) {
            payload = null;
          }
          if (!response.ok) {
            var error = (payload && payload.error) || {};
            var details = (error.details || [])
              .map(function (d) {
                return (d.field ? d.field + ": " : "") + d.message;
              })
              .join("; ");
            var lead = response.status === 409 ? msg("conflict") : response.status === 403 ? msg("forbidden") : msg("failed");
            throw new Error(lead + " " + (error.message || response.status) + (details ? " (" + details + ")" : ""));
          }
          return payload;
        });
      })
      .then(function () {
        say(msg("done"), false);
        window.location.reload();
      })
      .catch(function (error) {
        say(error.message, true);
        document.querySelectorAll(POSTING_BUTTONS).forEach(function (button) {
          button.disabled = false;
        });
      });
  }

  function valueOf(form, name) {
    var input = form.elements.namedItem(name);
    if (!input || input.value === undefined) return null;
    var raw = String(input.value).trim();
    return raw === "" ? null : raw;
  }

  function actionBody(action, form) {
    var body = { action: action, version: config.version };
    var note = valueOf(form, "note");
    if (note) body.note = note;
    ["reason", "unit"].forEach(function (name) {
      var value = valueOf(form, name);
      if (value !== null) body[name] = value;
    });
    ["rating", "duration"].forEach(function (name) {
      var value = valueOf(form, name);
      if (value !== null) body[name] = Number(value);
    });
    return body;
  }

  var simple = byId("event-simple-actions");
  if (simple) {
    simple.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = event.submitter;
      if (!button || !button.dataset.action) return;
      post(config.api.actions, actionBody(button.dataset.action, simple));
    });
  }

  document.querySelectorAll("form.event-action").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      post(config.api.actions, actionBody(form.dataset.action, form));
    });
  });

  var whistle = byId("form-whistle");
  if (whistle) {
    whistle.addEventListener("submit", function (event) {
      event.preventDefault();
      var departments = Array.prototype.filter
        .call(whistle.elements.namedItem("departments").options, function (option) {
          return option.selected;
        })
        .map(function (option) {
          return option.value;
        });
      var body = {
        ground: valueOf(whistle, "ground"),
        departments: departments,
        hard_case: whistle.elements.namedItem("hard_case").checked,
        version: config.version,
      };
      var note = valueOf(whistle, "note");
      if (note) body.note = note;
      post(config.api.whistle, body);
    });
  }

  document.querySelectorAll("[data-summons-action]").forEach(function (button) {
    button.addEventListener("click", function () {
      post(config.api.summons, { department: button.dataset.department, action: button.dataset.summonsAction });
    });
  });

  document.querySelectorAll("[data-merge-url]").forEach(function (button) {
    button.addEventListener("click", function () {
      post(button.dataset.mergeUrl, { into: button.dataset.into, version: Number(button.dataset.version) });
    });
  });

  document.querySelectorAll("form.summons-rate").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      post(config.api.summons, {
        department: form.dataset.department,
        action: "whistle_rate",
        rating: Number(valueOf(form, "rating")),
      });
    });
  });
})();
