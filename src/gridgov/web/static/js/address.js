/*
 * gridgov address pages: the search page (type-ahead, detail, pin on the map) and the address-admin page
 * (create, edit with a reason, retire, names, history). Everything goes through the address API.
 *
 * Configuration and translated strings arrive in <script type="application/json"> blocks (the CSP allows
 * no inline script). The map draws only our own street outlines; tiles only when an intranet tile server
 * is configured. State for tests is mirrored as data-* attributes: #address-map[data-state][data-marker],
 * #address-detail[data-code][data-status].
 */
(function () {
  "use strict";

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent || "{}") : {};
  }

  var config = readJson("address-config");
  var messages = readJson("address-messages");

  // Strings come from the server's catalog, translated in the template.
  function msg(key) {
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
  }

  function byId(id) {
    return document.getElementById(id);
  }

  function setText(id, value) {
    var element = byId(id);
    if (element) element.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
  }

  // ---- API ------------------------------------------------------------------------------------

  function request(method, url, body) {
    var headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && config.csrfToken) headers["X-CSRF-Token"] = config.csrfToken;
    return fetch(url, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (response) {
      return response.text().then(function (text) {
        var payload = text ? JSON.parse(text) : null;
        if (!response.ok) {
          var error = (payload && payload.error) || {};
          var details = (error.details || [])
            .map(function (d) {
              return (d.field ? d.field + ": " : "") + d.message;
            })
            .join("; ");
          throw new Error((error.message || response.status) + (details ? " (" + details + ")" : ""));
        }
        return payload;
      });
    });
  }

  function addressUrl(code, suffix) {
    return config.api.addresses + "/" + encodeURIComponent(code) + (suffix || "");
  }

  // ---- search -----------------------------------------------------------------------------------

  var searchInput = byId("address-search");
  var searchForm = byId("address-search-form");
  var resultsList = byId("address-results");
  var searchTimer = null;
  var searchToken = 0;

  function showResults(items) {
    resultsList.replaceChildren();
    if (!items.length) {
      var empty = document.createElement("li");
      empty.className = "search-empty";
      empty.textContent = msg("no_results");
      resultsList.appendChild(empty);
      return;
    }
    items.forEach(function (item) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "address-item";
      button.dataset.code = item.code;
      var text = document.createElement("span");
      text.className = "address-item-text";
      text.textContent = item.text;
      var code = document.createElement("code");
      code.className = "search-code";
      code.textContent = item.code;
      var level = document.createElement("span");
      level.className = "badge badge-level";
      level.textContent = msg("level." + item.level);
      button.append(text, level, code);
      button.addEventListener("click", function () {
        select(item.code);
      });
      li.appendChild(button);
      resultsList.appendChild(li);
    });
  }

  function runSearch() {
    var query = searchInput.value.trim();
    var token = ++searchToken;
    if (!query) {
      resultsList.replaceChildren();
      return;
    }
    resultsList.setAttribute("aria-busy", "true");
    request("GET", config.api.addresses + "/search?limit=20&q=" + encodeURIComponent(query))
      .then(function (items) {
        if (token === searchToken) showResults(items);
      })
      .catch(function () {
        if (token !== searchToken) return;
        resultsList.replaceChildren();
        var li = document.createElement("li");
        li.className = "search-empty";
        li.textContent = msg("error");
        resultsList.appendChild(li);
      })
      .finally(function () {
        resultsList.removeAttribute("aria-busy");
      });
  }

  if (searchInput) {
    searchInput.addEventListener("input", function () {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(runSearch, 180);
    });
    searchForm.addEventListener("submit", function (event) {
      event.preventDefault();
      clearTimeout(searchTimer);
      runSearch();
    });
  }

  // ---- detail -------------------------------------------------------------------------------------

  var current = null;

  function showDetail(address) {
    var detail = byId("address-detail");
    detail.hidden = false;
    detail.dataset.code = address.code;
    detail.dataset.status = address.status;
    setText("address-text", address.text);
    setText("address-level", msg("level." + address.level));
    var status = byId("address-status");
    status.textContent = msg("status." + address.status);
    status.classList.toggle("is-retired", address.status === "retired");
    setText("address-code", address.code);
    setText("address-street", address.street_text || address.street_code);
    setText("address-community", address.community_text || address.community_code);
    setText("address-grid", address.grid_code);
    ["road", "house_number", "site_name", "building", "unit", "floor", "room", "valid_to"].forEach(function (name) {
      setText("address-" + name, address[name]);
    });
    setText(
      "address-location",
      address.lon !== null && address.lat !== null ? address.lon.toFixed(6) + ", " + address.lat.toFixed(6) : null
    );
    var replaced = byId("address-replaced_by");
    replaced.replaceChildren();
    if (address.replaced_by_code) {
      var link = document.createElement("a");
      link.href = "?code=" + encodeURIComponent(address.replaced_by_code);
      link.textContent = address.replaced_by_code;
      replaced.appendChild(link);
    } else {
      replaced.textContent = "—";
    }
    var aliases = byId("address-aliases");
    aliases.replaceChildren();
    address.aliases.forEach(function (alias) {
      var li = document.createElement("li");
      li.textContent = alias.alias + " ";
      var kind = document.createElement("span");
      kind.className = "badge badge-level";
      kind.textContent = msg("alias." + alias.kind);
      li.appendChild(kind);
      aliases.appendChild(li);
    });
    if (!address.aliases.length) {
      var none = document.createElement("li");
      none.className = "hint";
      none.textContent = msg("no_aliases");
      aliases.appendChild(none);
    }
  }

  function select(code) {
    return request("GET", addressUrl(code))
      .then(function (address) {
        current = address;
        showDetail(address);
        resultsList.replaceChildren();
        var url = new URL(window.location.href);
        url.searchParams.set("code", address.code);
        window.history.replaceState(null, "", url.toString());
        if (map) pin(address);
        if (admin) admin.load(address);
        return address;
      })
      .catch(function (error) {
        setMapStatus(msg("error") + " " + error.message, true);
      });
  }

  // ---- map (search page) -------------------------------------------------------------------------

  var mapElement = byId("address-map");
  var mapStatus = byId("address-map-status");
  var map = null;
  var marker = null;

  function setMapStatus(text, isError) {
    if (!mapStatus) return;
    mapStatus.textContent = text || "";
    mapStatus.classList.toggle("is-error", Boolean(isError));
  }

  if (mapElement && window.L) {
    map = L.map(mapElement, {
      preferCanvas: true,
      zoomSnap: 0.25,
      minZoom: 9,
      maxZoom: 19,
      center: [22.53, 113.93],
      zoom: 11,
    });
    map.attributionControl.setPrefix(false);
    map.attributionControl.addAttribution(msg("map.attribution"));
    L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
    if (config.tileUrl) L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
    request("GET", config.api.areas + "/" + encodeURIComponent(config.districtCode) + "/children.geojson")
      .then(function (collection) {
        L.geoJSON(collection, {
          interactive: false,
          style: { color: "#1f4e8c", weight: 1.2, fillColor: "#eef3f9", fillOpacity: 0.85 },
        }).addTo(map);
        mapElement.dataset.state = "ready";
      })
      .catch(function () {
        // Outside-the-district scopes or no areas loaded: the pin still shows on the bare ground.
        mapElement.dataset.state = "ready";
      });
  }

  function pin(address) {
    if (marker) {
      marker.remove();
      marker = null;
    }
    if (address.lon === null || address.lat === null) {
      mapElement.dataset.marker = "";
      setMapStatus(msg("no_location"), false);
      return;
    }
    setMapStatus("", false);
    marker = L.marker([address.lat, address.lon], { title: address.text, keyboard: true }).addTo(map);
    var popup = document.createElement("div");
    popup.className = "address-popup";
    var strong = document.createElement("strong");
    strong.textContent = address.text;
    var code = document.createElement("code");
    code.textContent = address.code;
    popup.append(strong, document.createElement("br"), code);
    marker.bindPopup(popup);
    map.setView([address.lat, address.lon], 17);
    mapElement.dataset.marker = address.code;
  }

  // ---- admin page ----------------------------------------------------------------------------------

  var FIELDS = ["text", "road", "house_number", "site_name", "building", "unit", "floor", "room", "grid_code", "lon", "lat"];
  var NUMBERS = { floor: true, lon: true, lat: true };

  function formValue(form, name) {
    var input = form.elements.namedItem(name);
    if (!input) return undefined;
    var raw = input.value.trim();
    if (raw === "") return null;
    return NUMBERS[name] ? Number(raw) : raw;
  }

  function say(id, text, isError) {
    var element = byId(id);
    element.textContent = text;
    element.classList.toggle("is-error", Boolean(isError));
  }

  function failed(id) {
    return function (error) {
      say(id, msg("failed") + " " + error.message, true);
    };
  }

  function changeText(change) {
    function show(value) {
      return value === null || value === undefined || value === "" ? "—" : String(value);
    }
    return show(change.old) + " → " + show(change["new"]);
  }

  function fieldLabel(name) {
    if (name.indexOf("alias.") === 0) return msg(name);
    var key = "field." + name;
    return Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : name;
  }

  var admin = null;
  if (byId("address-admin")) {
    var editForm = byId("edit-form");
    var createForm = byId("create-form");
    var aliasForm = byId("alias-form");
    var retireForm = byId("retire-form");
    var timeFormat = new Intl.DateTimeFormat(config.lang === "en" ? "en" : "zh-CN", {
      dateStyle: "medium",
      timeStyle: "short",
    });

    admin = {
      load: function (address) {
        byId("address-none").hidden = true;
        byId("address-tools").hidden = false;
        FIELDS.forEach(function (name) {
          var input = editForm.elements.namedItem(name);
          if (input) input.value = address[name] === null || address[name] === undefined ? "" : address[name];
        });
        var retired = address.status === "retired";
        Array.prototype.forEach.call(document.querySelectorAll("#address-tools form"), function (form) {
          Array.prototype.forEach.call(form.elements, function (element) {
            element.disabled = retired;
          });
        });
        admin.aliases(address);
        admin.history(address.code);
      },
      aliases: function (address) {
        var list = byId("alias-list");
        list.replaceChildren();
        address.aliases.forEach(function (alias) {
          var li = document.createElement("li");
          li.dataset.alias = alias.alias;
          var name = document.createElement("span");
          name.textContent = alias.alias + " ";
          var kind = document.createElement("span");
          kind.className = "badge badge-level";
          kind.textContent = msg("alias." + alias.kind);
          var remove = document.createElement("button");
          remove.type = "button";
          remove.className = "link-button alias-remove";
          remove.textContent = msg("remove");
          remove.disabled = address.status === "retired";
          remove.addEventListener("click", function () {
            request("DELETE", addressUrl(address.code, "/aliases/" + alias.id))
              .then(function (updated) {
                say("alias-message", msg("alias_removed"), false);
                refresh(updated);
              })
              .catch(failed("alias-message"));
          });
          li.append(name, kind, document.createTextNode(" "), remove);
          list.appendChild(li);
        });
        if (!address.aliases.length) {
          var none = document.createElement("li");
          none.className = "hint";
          none.textContent = msg("no_aliases");
          list.appendChild(none);
        }
      },
      history: function (code) {
        var list = byId("history-list");
        return request("GET", addressUrl(code, "/history")).then(function (entries) {
          list.replaceChildren();
          if (!entries.length) {
            var none = document.createElement("li");
            none.className = "hint";
            none.textContent = msg("no_history");
            list.appendChild(none);
          }
          entries.forEach(function (entry) {
            var li = document.createElement("li");
            li.className = "history-entry";
            li.dataset.action = entry.action;
            var head = document.createElement("div");
            head.className = "history-head";
            var action = document.createElement("strong");
            action.textContent = msg("action." + entry.action);
            var who = document.createElement("span");
            who.className = "history-meta";
            who.textContent = timeFormat.format(new Date(entry.changed_at)) + " · " + entry.actor_name;
            head.append(action, document.createTextNode(" "), who);
            li.appendChild(head);
            if (entry.reason) {
              var reason = document.createElement("p");
              reason.className = "history-reason";
              reason.textContent = entry.reason;
              li.appendChild(reason);
            }
            var changes = document.createElement("ul");
            changes.className = "history-changes";
            Object.keys(entry.changes).forEach(function (field) {
              var item = document.createElement("li");
              item.textContent = fieldLabel(field) + ": " + changeText(entry.changes[field]);
              changes.appendChild(item);
            });
            li.appendChild(changes);
            list.appendChild(li);
          });
        });
      },
    };

    var refresh = function (address) {
      current = address;
      showDetail(address);
      admin.load(address);
    };

    createForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { level: createForm.elements.namedItem("level").value };
      FIELDS.concat(["parent_code", "reason"]).forEach(function (name) {
        var value = formValue(createForm, name);
        if (value !== null && value !== undefined) body[name] = value;
      });
      request("POST", config.api.addresses, body)
        .then(function (address) {
          say("create-message", msg("created") + " " + address.code, false);
          createForm.reset();
          refresh(address);
        })
        .catch(failed("create-message"));
    });

    editForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current) return;
      var body = { reason: editForm.elements.namedItem("reason").value.trim(), revision: current.revision };
      var changed = 0;
      FIELDS.forEach(function (name) {
        var value = formValue(editForm, name);
        var before = current[name] === undefined ? null : current[name];
        if (value !== before) {
          body[name] = value;
          changed += 1;
        }
      });
      if (!changed) {
        say("edit-message", msg("nothing_changed"), true);
        return;
      }
      request("PATCH", addressUrl(current.code), body)
        .then(function (address) {
          say("edit-message", msg("saved"), false);
          editForm.elements.namedItem("reason").value = "";
          refresh(address);
        })
        .catch(failed("edit-message"));
    });

    aliasForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current) return;
      var body = {
        alias: aliasForm.elements.namedItem("alias").value.trim(),
        kind: aliasForm.elements.namedItem("kind").value,
      };
      request("POST", addressUrl(current.code, "/aliases"), body)
        .then(function (address) {
          say("alias-message", msg("alias_added"), false);
          aliasForm.reset();
          refresh(address);
        })
        .catch(failed("alias-message"));
    });

    retireForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!current) return;
      var body = { reason: retireForm.elements.namedItem("reason").value.trim() };
      var replacement = retireForm.elements.namedItem("replaced_by").value.trim();
      if (replacement) body.replaced_by = replacement;
      request("POST", addressUrl(current.code, "/retire"), body)
        .then(function (address) {
          say("retire-message", msg("retired"), false);
          retireForm.reset();
          refresh(address);
        })
        .catch(failed("retire-message"));
    });
  }

  if (config.code) select(config.code);
})();
