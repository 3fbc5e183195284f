/*
 * gridgov grid map: draws our own area polygons from the areas API with Leaflet.
 *
 * Everything comes from this server: configuration and translated strings arrive in
 * <script type="application/json"> blocks (the CSP allows no inline script), vectors from /api/areas.
 * There is no tile layer unless the operator configured one (air-gapped intranets have none).
 *
 * State for tests and monitoring is mirrored on the map element as data-* attributes:
 * data-state (loading|ready|error), data-level, data-code, data-drawn-streets,
 * data-drawn-communities, data-drawn-grids (distinct grid polygons currently drawn).
 */
(function () {
  "use strict";

  function readJson(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent || "{}") : {};
  }

  var config = readJson("map-config");
  var messages = readJson("map-messages");

  // The one translation function of this script; strings come from the server's catalog.
  function t(key, params) {
    var message = Object.prototype.hasOwnProperty.call(messages, key) ? messages[key] : key;
    if (!params) return message;
    return message.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
    });
  }

  var LEVEL_LABEL = {
    district: "level.district",
    street: "level.street",
    community: "level.community",
    grid: "level.grid",
  };
  var CHILD_LEVEL = { district: "street", street: "community", community: "grid" };
  var CHILDREN_TITLE = {
    district: "map.children.street",
    street: "map.children.community",
    community: "map.children.grid",
  };
  // Muted categorical fills: readable for a whole shift and distinct enough between neighbours.
  var PALETTE = ["#cfe0f3", "#d9ecd4", "#f6e3c4", "#e6d9f0", "#d2ebe9", "#f3d6d6", "#e8e6c8", "#d6dcf0", "#f0dccb", "#dbe8dc"];
  var HAS_TILES = Boolean(config.tileUrl);
  var numberFormat = new Intl.NumberFormat(config.lang === "en" ? "en" : "zh-CN");
  var areaFormat = new Intl.NumberFormat(config.lang === "en" ? "en" : "zh-CN", {
    minimumFractionDigits: 2,
    maximumFractionDigits: 2,
  });

  var mapElement = document.getElementById("map");
  var statusElement = document.getElementById("map-status");
  var searchInput = document.getElementById("map-search");
  var searchForm = document.getElementById("map-search-form");
  var searchResults = document.getElementById("map-search-results");
  var breadcrumbElement = document.getElementById("map-breadcrumb");
  var childrenList = document.getElementById("map-children");
  var childrenTitle = document.getElementById("map-children-title");
  var allGridsToggle = document.getElementById("map-all-grids");
  var allGridsLabel = document.getElementById("map-all-grids-label");

  // ---- data access ---------------------------------------------------------------------------

  var cache = new Map();

  function getJson(url) {
    if (cache.has(url)) return cache.get(url);
    var promise = fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" }).then(
      function (response) {
        if (!response.ok) {
          var error = new Error(response.status + " " + url);
          error.status = response.status;
          throw error;
        }
        return response.json();
      }
    );
    cache.set(url, promise);
    // A failed request is not remembered, so retrying after a network hiccup works.
    promise.catch(function () {
      cache.delete(url);
    });
    return promise;
  }

  function areaUrl(code, suffix) {
    return config.api.areas + "/" + encodeURIComponent(code) + (suffix || "");
  }

  // ---- map and layers ------------------------------------------------------------------------

  // One canvas renderer for every vector layer: 1,610 grids stay fast, and hit-testing picks the
  // topmost interactive polygon across layers (separate canvases would swallow each other's clicks).
  var renderer = L.canvas({ padding: 0.3, tolerance: 2 });
  var map = L.map(mapElement, {
    preferCanvas: true,
    renderer: renderer,
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    minZoom: 9,
    maxZoom: 19,
    center: [22.53, 113.93],
    zoom: 11,
    attributionControl: true,
  });
  map.attributionControl.setPrefix(false);
  map.attributionControl.addAttribution(t("map.attribution"));
  L.control.scale({ imperial: false, position: "bottomright" }).addTo(map);
  if (HAS_TILES) {
    L.tileLayer(config.tileUrl, { maxZoom: 19 }).addTo(map);
  }

  // Drawing order, bottom to top: halo, context, focus, allGrids, borders, outline, pin.
  var layers = {
    halo: null,
    context: null,
    focus: null,
    allGrids: null,
    borders: null,
    outline: null,
    pin: null,
  };
  var drawnGridCodes = { focus: [], all: [] };
  var featureLayersByCode = new Map();

  var state = {
    tree: null, // code -> {code, name, level, parent, grid_count, children}
    current: null, // detail of the area drilled into
    token: 0, // increases with every navigation so late answers to an old one are dropped
    gridsVisible: false,
  };

  function setStatus(text, isError) {
    statusElement.textContent = text || "";
    statusElement.hidden = !text;
    statusElement.classList.toggle("is-error", Boolean(isError));
  }

  function removeLayer(name) {
    if (layers[name]) {
      map.removeLayer(layers[name]);
      layers[name] = null;
    }
  }

  // Canvas paths draw in insertion order; put the layers back in their intended order.
  function restack() {
    ["allGrids", "borders", "outline"].forEach(function (name) {
      if (layers[name]) layers[name].bringToFront();
    });
  }

  function updateCounters() {
    var streets = 0;
    var communities = 0;
    ["context", "focus"].forEach(function (name) {
      if (!layers[name]) return;
      layers[name].eachLayer(function (layer) {
        var level = layer.feature.properties.level;
        if (level === "street") streets += 1;
        if (level === "community") communities += 1;
      });
    });
    var grids = new Set(drawnGridCodes.focus.concat(drawnGridCodes.all)).size;
    mapElement.dataset.drawnStreets = String(streets);
    mapElement.dataset.drawnCommunities = String(communities);
    mapElement.dataset.drawnGrids = String(grids);
  }

  function styleFor(role, index) {
    if (role === "context") {
      return {
        color: "#ffffff",
        weight: 1.2,
        fillColor: "#f1f3f6",
        fillOpacity: HAS_TILES ? 0.25 : 1,
      };
    }
    if (role === "halo") {
      return { color: "#0b3b6e", weight: 5, opacity: 1, fill: false, interactive: false };
    }
    if (role === "borders") {
      return { color: "#2b4766", weight: 1.6, opacity: 0.9, fill: false, interactive: false };
    }
    if (role === "outline") {
      return { color: "#0b3b6e", weight: 2.5, opacity: 1, fill: false, interactive: false };
    }
    if (role === "grid") {
      return { color: "#0f766e", weight: 0.6, opacity: 0.6, fillColor: "#14b8a6", fillOpacity: 0.05 };
    }
    return {
      color: "#7d90a6",
      weight: 0.8,
      opacity: 1,
      fillColor: PALETTE[index % PALETTE.length],
      fillOpacity: HAS_TILES ? 0.35 : 1,
    };
  }

  function shortName(properties) {
    if (properties.level === "grid") {
      return String(properties.sequence || properties.code.slice(-3)).padStart(3, "0");
    }
    // "桃源社区居委会" reads as "桃源社区" on a crowded map; the full name stays in the popup.
    return String(properties.name).replace(/居委会$|居民委员会$/, "");
  }

  // A point inside the polygon's largest part for its label. Leaflet's own centre uses the first
  // ring only and can fall outside a concave or multi-part shape (coastal streets, islands).
  function labelPoint(layer) {
    var latlngs = layer.getLatLngs();
    var parts = Array.isArray(latlngs[0][0]) ? latlngs : [latlngs];
    var ring = null;
    var largest = -1;
    parts.forEach(function (rings) {
      var size = Math.abs(ringArea(rings[0]));
      if (size > largest) {
        largest = size;
        ring = rings[0];
      }
    });
    var centre = ringCentroid(ring);
    // Scan the row through the centroid and take the middle of the widest stretch inside the ring.
    var crossings = [];
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var a = ring[i];
      var b = ring[j];
      if ((a.lat > centre.lat) !== (b.lat > centre.lat)) {
        crossings.push(a.lng + ((centre.lat - a.lat) / (b.lat - a.lat)) * (b.lng - a.lng));
      }
    }
    crossings.sort(function (x, y) {
      return x - y;
    });
    var best = null;
    for (var k = 0; k + 1 < crossings.length; k += 2) {
      if (!best || crossings[k + 1] - crossings[k] > best[1] - best[0]) best = [crossings[k], crossings[k + 1]];
    }
    return best ? L.latLng(centre.lat, (best[0] + best[1]) / 2) : centre;
  }

  function ringArea(ring) {
    var sum = 0;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      sum += ring[j].lng * ring[i].lat - ring[i].lng * ring[j].lat;
    }
    return sum / 2;
  }

  function ringCentroid(ring) {
    var area = ringArea(ring);
    if (!area) return L.latLngBounds(ring).getCenter();
    var x = 0;
    var y = 0;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var cross = ring[j].lng * ring[i].lat - ring[i].lng * ring[j].lat;
      x += (ring[j].lng + ring[i].lng) * cross;
      y += (ring[j].lat + ring[i].lat) * cross;
    }
    return L.latLng(y / (6 * area), x / (6 * area));
  }

  function byCode(features) {
    return features.slice().sort(function (a, b) {
      return a.properties.code < b.properties.code ? -1 : 1;
    });
  }

  // ---- popups --------------------------------------------------------------------------------

  function el(tag, className, text) {
    var element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined && text !== null) element.textContent = text;
    return element;
  }

  function syntheticBadge(synthetic) {
    return synthetic
      ? el("span", "badge badge-synthetic", t("map.synthetic.badge"))
      : el("span", "badge badge-public", t("map.public.badge"));
  }

  function areaCard(properties) {
    var card = el("div", "area-popup");
    var head = el("div", "area-popup-head");
    head.appendChild(el("strong", "area-popup-name", properties.name));
    head.appendChild(el("span", "badge badge-level", t(LEVEL_LABEL[properties.level] || properties.level)));
    card.appendChild(head);
    card.appendChild(syntheticBadge(properties.synthetic !== false));
    var list = el("dl", "area-popup-facts");
    function fact(label, value) {
      list.appendChild(el("dt", null, label));
      list.appendChild(el("dd", null, value));
    }
    fact(t("map.popup.code"), properties.code);
    fact(t("map.popup.level"), t(LEVEL_LABEL[properties.level] || properties.level));
    if (typeof properties.area_km2 === "number") {
      fact(t("map.popup.area"), t("map.km2", { value: areaFormat.format(properties.area_km2) }));
    }
    var parent = state.tree && state.tree.get(properties.community_code || properties.parent_code);
    if (parent) fact(t("map.popup.parent"), parent.name);
    card.appendChild(list);
    if (CHILD_LEVEL[properties.level] && (!state.current || state.current.code !== properties.code)) {
      var drill = el(
        "button",
        "button button-small",
        t("map.popup.drill", { level: t(LEVEL_LABEL[properties.level]) })
      );
      drill.type = "button";
      drill.addEventListener("click", function () {
        map.closePopup();
        navigate(properties.code, { push: true });
      });
      card.appendChild(drill);
    }
    return card;
  }

  function locateCard(latlng) {
    var box = el("div", "locate-popup");
    box.appendChild(el("div", "locate-heading", t("map.locate.heading")));
    var body = el("div", "locate-body", t("map.locate.loading"));
    box.appendChild(body);
    box.appendChild(
      el(
        "div",
        "locate-coords",
        t("map.locate.coords") + " " + latlng.lng.toFixed(6) + ", " + latlng.lat.toFixed(6)
      )
    );
    var url =
      config.api.locate +
      "?lon=" +
      encodeURIComponent(latlng.lng.toFixed(7)) +
      "&lat=" +
      encodeURIComponent(latlng.lat.toFixed(7)) +
      "&crs=wgs84";
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        // 403: the point lies in the district but outside the caller's area scope — an answer, not a fault.
        if (response.status === 403) return { inside: false, outOfScope: true };
        if (!response.ok) throw new Error(response.status + " " + url);
        return response.json();
      })
      .then(function (result) {
        body.textContent = "";
        if (result.outOfScope) {
          mapElement.dataset.lastLocate = "out-of-scope";
          body.appendChild(el("span", "locate-outside", t("map.locate.out_of_scope")));
          return;
        }
        mapElement.dataset.lastLocate = result.inside ? "inside" : "outside";
        if (!result.inside) {
          body.appendChild(el("span", "locate-outside", t("map.locate.outside")));
          return;
        }
        var rows = el("dl", "locate-rows");
        [
          ["grid", result.grid],
          ["community", result.community],
          ["street", result.street],
        ].forEach(function (pair) {
          if (!pair[1]) return;
          rows.appendChild(el("dt", null, t(LEVEL_LABEL[pair[0]])));
          var dd = el("dd");
          var link = el("button", "link-button", pair[1].name);
          link.type = "button";
          link.title = pair[1].code;
          var target = pair[0] === "grid" ? pair[1].code.slice(0, 12) : pair[1].code;
          link.addEventListener("click", function () {
            map.closePopup();
            navigate(target, { push: true, highlight: pair[0] === "grid" ? pair[1].code : null });
          });
          dd.appendChild(link);
          dd.appendChild(el("code", "locate-code", pair[1].code));
          rows.appendChild(dd);
        });
        body.appendChild(rows);
      })
      .then(function () {
        // The answer made the popup taller: re-pan so it stays fully in view.
        if (layers.pin && layers.pin.isPopupOpen()) layers.pin.getPopup().update();
      })
      .catch(function (error) {
        body.textContent = t("map.locate.error");
        console.error("locate failed", error);
      });
    return box;
  }

  // One click handler for polygons and empty map alike: the pin marks the point, its popup says
  // what was clicked (when a polygon) and which grid/community/street the point lies in.
  function showPoint(latlng, properties) {
    removeLayer("pin");
    var content = el("div", "map-popup");
    if (properties) content.appendChild(areaCard(properties));
    content.appendChild(locateCard(latlng));
    layers.pin = L.marker(latlng, { keyboard: false, title: "" }).addTo(map);
    layers.pin.bindPopup(content, { maxWidth: 320, minWidth: 220, autoPanPadding: [24, 24] }).openPopup();
    layers.pin.getPopup().on("remove", function () {
      removeLayer("pin");
    });
  }

  map.on("click", function (event) {
    showPoint(event.latlng, null);
  });

  function bindFeature(feature, layer, role) {
    layer.on("click", function (event) {
      L.DomEvent.stopPropagation(event);
      showPoint(event.latlng, feature.properties);
    });
    layer.on("mouseover", function () {
      layer.setStyle({ weight: role === "grid" ? 2 : 3, color: "#0b3b6e" });
    });
    layer.on("mouseout", function () {
      layer.setStyle({ weight: layer.options.baseWeight, color: layer.options.baseColor });
    });
    layer.options.baseWeight = layer.options.weight;
    layer.options.baseColor = layer.options.color;
  }

  function drawCollection(collection, role, withLabels) {
    var index = 0;
    var labels = withLabels ? L.layerGroup() : null;
    var group = L.geoJSON(collection, {
      renderer: renderer,
      style: function () {
        var style = styleFor(role, index);
        index += 1;
        return style;
      },
      onEachFeature: function (feature, layer) {
        // The drilled-into level's own polygons win over the all-grids layer for list hover and focus.
        if (role !== "grid" || !featureLayersByCode.has(feature.properties.code)) {
          featureLayersByCode.set(feature.properties.code, layer);
        }
        bindFeature(feature, layer, role);
        if (labels) {
          L.tooltip({
            // Leaflet closes standalone overlays on any map click unless told otherwise.
            closeOnClick: false,
            permanent: true,
            direction: "center",
            className:
              "area-label area-label-" + feature.properties.level + (role === "context" ? " area-label-context" : ""),
            interactive: false,
          })
            .setLatLng(labelPoint(layer))
            .setContent(shortName(feature.properties))
            .addTo(labels);
        } else if (role === "grid") {
          layer.bindTooltip(feature.properties.name, { sticky: true, className: "area-hover" });
        }
      },
    });
    group.addTo(map);
    // Labels live in their own group so removing the polygons removes their labels too.
    if (labels) {
      labels.addTo(map);
      group.on("remove", function (event) {
        // Child layers' events bubble to the group; only the group leaving the map matters here.
        if (event.target === group) map.removeLayer(labels);
      });
    }
    return group;
  }

  // ---- panel ---------------------------------------------------------------------------------

  function renderBreadcrumb(path) {
    breadcrumbElement.textContent = "";
    var list = el("ol");
    path.forEach(function (node, position) {
      var item = el("li");
      if (position === path.length - 1) {
        var current = el("span", "crumb-current", node.name);
        current.setAttribute("aria-current", "location");
        item.appendChild(current);
      } else {
        var button = el("button", "link-button", node.name);
        button.type = "button";
        button.addEventListener("click", function () {
          navigate(node.code, { push: true });
        });
        item.appendChild(button);
      }
      list.appendChild(item);
    });
    breadcrumbElement.appendChild(list);
  }

  function setStat(name, value) {
    var stat = document.querySelector('#map-area-stats [data-stat="' + name + '"]');
    if (!stat) return;
    stat.hidden = value === null || value === undefined;
    stat.querySelector("dd").textContent = stat.hidden ? "" : value;
  }

  function focusAreaHeading() {
    var heading = document.getElementById("map-area-name");
    heading.tabIndex = -1; // focusable by script only, not a tab stop
    heading.focus({ preventScroll: true });
  }

  function renderSummary(detail) {
    document.getElementById("map-area-name").textContent = detail.name;
    document.getElementById("map-area-level").textContent = t(LEVEL_LABEL[detail.level] || detail.level);
    document.getElementById("map-area-code").textContent = detail.code;
    var counts = detail.counts || {};
    document.getElementById("map-area-size").textContent =
      typeof detail.area_km2 === "number" ? t("map.km2", { value: areaFormat.format(detail.area_km2) }) : "—";
    setStat("streets", counts.streets ? numberFormat.format(counts.streets) : null);
    setStat("communities", counts.communities ? numberFormat.format(counts.communities) : null);
    setStat("grids", counts.grids ? numberFormat.format(counts.grids) : null);
  }

  function renderChildren(detail, features) {
    childrenTitle.textContent = t(CHILDREN_TITLE[detail.level] || "map.children.grid");
    childrenList.textContent = "";
    byCode(features).forEach(function (feature) {
      var properties = feature.properties;
      var item = el("li");
      var button = el("button", "child-item");
      button.type = "button";
      button.dataset.code = properties.code;
      var name = el("span", "child-name", properties.level === "grid" ? shortName(properties) + " · " + properties.name : shortName(properties));
      var meta = el("span", "child-meta");
      var node = state.tree && state.tree.get(properties.code);
      if (node && typeof node.grid_count === "number") {
        meta.textContent = t("map.children.grid_count", { count: numberFormat.format(node.grid_count) });
      } else if (typeof properties.area_km2 === "number") {
        meta.textContent = t("map.km2", { value: areaFormat.format(properties.area_km2) });
      }
      button.appendChild(name);
      button.appendChild(meta);
      button.addEventListener("click", function () {
        if (properties.level === "grid") {
          focusFeature(properties.code);
        } else {
          navigate(properties.code, { push: true });
        }
      });
      // Hovering a list entry lights its polygon, so operators connect the list and the map.
      button.addEventListener("mouseenter", function () {
        var layer = featureLayersByCode.get(properties.code);
        if (layer) layer.fire("mouseover");
      });
      button.addEventListener("mouseleave", function () {
        var layer = featureLayersByCode.get(properties.code);
        if (layer) layer.fire("mouseout");
      });
      item.appendChild(button);
      childrenList.appendChild(item);
    });
  }

  function focusFeature(code) {
    var layer = featureLayersByCode.get(code);
    if (!layer) return Promise.resolve();
    var token = state.token;
    return fitTo(layer.getBounds(), { padding: [48, 48], maxZoom: 17 }).then(function () {
      // Open the popup only once the view has settled, so its auto-pan is not undone by the zoom.
      if (token === state.token) showPoint(labelPoint(layer), layer.feature.properties);
    });
  }

  // Leaflet ignores a new view asked for while a zoom animation runs (a fast click during the
  // previous drill-down would leave the map at the old place), so wait for that animation first.
  // Resolves once the map has settled on the new view.
  var zooming = false;
  map.on("zoomanim", function () {
    zooming = true;
  });
  map.on("zoomend", function () {
    zooming = false;
  });

  function fitTo(bounds, options) {
    return new Promise(function (resolve) {
      function go() {
        var settled = false;
        function finish() {
          if (settled) return;
          settled = true;
          map.off("moveend", finish);
          resolve();
        }
        map.on("moveend", finish);
        // moveend always follows fitBounds in Leaflet 1.9; the timer only guards against a stuck map.
        window.setTimeout(finish, 2000);
        map.fitBounds(bounds, options);
      }
      if (zooming) map.once("zoomend", go);
      else go();
    });
  }

  // ---- navigation ----------------------------------------------------------------------------

  function indexTree(root) {
    var index = new Map();
    (function walk(node, parent) {
      index.set(node.code, {
        code: node.code,
        name: node.name,
        level: node.level,
        parent: parent,
        grid_count: node.grid_count,
      });
      (node.children || []).forEach(function (child) {
        walk(child, node.code);
      });
    })(root, null);
    return index;
  }

  function pathTo(detail) {
    var path = [{ code: detail.code, name: detail.name, level: detail.level }];
    var parentCode = detail.level === "district" ? null : detail.parent_code;
    while (parentCode && state.tree.has(parentCode)) {
      var node = state.tree.get(parentCode);
      path.unshift({ code: node.code, name: node.name, level: node.level });
      parentCode = node.parent;
    }
    return path;
  }

  function updateUrl(code, push) {
    var url = new URL(window.location.href);
    if (code === config.districtCode) url.searchParams.delete("focus");
    else url.searchParams.set("focus", code);
    var method = push ? "pushState" : "replaceState";
    window.history[method]({ focus: code }, "", url.pathname + url.search);
  }

  function navigate(code, options) {
    options = options || {};
    // Grids have no children: open their community and point at the grid.
    if (code.length === 15) {
      options.highlight = code;
      code = code.slice(0, 12);
    }
    var token = ++state.token;
    mapElement.dataset.state = "loading";
    if (!options.keepStatus) setStatus(t("map.status.loading"));
    return getJson(areaUrl(code))
      .then(function (detail) {
        var parentCode = detail.level === "district" ? null : detail.parent_code;
        return Promise.all([
          detail,
          getJson(areaUrl(code, "/children.geojson")),
          parentCode ? getJson(areaUrl(parentCode, "/children.geojson")) : null,
        ]);
      })
      .then(function (results) {
        if (token !== state.token) return null;
        if (options.push !== undefined) updateUrl(results[0].code, options.push);
        return draw(results[0], results[1], results[2], options, token);
      })
      .catch(function (error) {
        if (token !== state.token) return;
        if (error.status === 404 && code !== config.districtCode) {
          setStatus(t("map.status.not_found", { code: code }), true);
          navigate(config.districtCode, { push: false, keepStatus: true });
          return;
        }
        mapElement.dataset.state = "error";
        setStatus(t("map.status.error"), true);
        console.error("map: could not load area", code, error);
      });
  }

  function draw(detail, children, siblings, options, token) {
    state.current = detail;
    featureLayersByCode.clear();
    ["halo", "context", "focus", "borders", "outline"].forEach(removeLayer);
    if (layers.pin) map.closePopup();

    var self = null;
    if (siblings) {
      var others = siblings.features.filter(function (feature) {
        if (feature.properties.code === detail.code) {
          self = feature;
          return false;
        }
        return true;
      });
      layers.context = drawCollection({ type: "FeatureCollection", features: others }, "context", true);
    } else if (!HAS_TILES) {
      // No polygon for the district itself: a thick stroke under the opaque street fills leaves
      // exactly the outer boundary visible.
      layers.halo = L.geoJSON(children, { renderer: renderer, style: styleFor("halo"), interactive: false }).addTo(map);
    }
    var childRole = detail.level === "community" ? "focusGrid" : "focus";
    layers.focus = drawCollection(children, childRole, true);
    // The sub-area borders again, stroke only, above the optional 1,610 grids so they stay readable.
    layers.borders = L.geoJSON(children, { renderer: renderer, style: styleFor("borders"), interactive: false }).addTo(map);
    if (self) {
      layers.outline = L.geoJSON(self, { renderer: renderer, style: styleFor("outline"), interactive: false }).addTo(map);
    }
    restack();

    drawnGridCodes.focus = detail.level === "community"
      ? children.features.map(function (feature) {
          return feature.properties.code;
        })
      : [];

    var bounds = (layers.outline || layers.focus).getBounds();

    // The list entry or breadcrumb button that was chosen is about to be replaced: without care the
    // keyboard focus would fall back to the top of the page (WCAG 2.4.3). It moves to the chosen area's
    // heading instead, from where Tab reaches the new list.
    var active = document.activeElement;
    var focusWasInPanel = Boolean(active) && (childrenList.contains(active) || breadcrumbElement.contains(active));
    renderBreadcrumb(pathTo(detail));
    renderSummary(detail);
    renderChildren(detail, children.features);
    if (focusWasInPanel) focusAreaHeading();
    mapElement.dataset.level = detail.level;
    mapElement.dataset.code = detail.code;
    updateCounters();
    var settled = bounds.isValid() ? fitTo(bounds, { padding: [24, 24] }) : Promise.resolve();
    return settled
      .then(function () {
        if (token !== state.token) return null;
        return options.highlight ? focusFeature(options.highlight) : null;
      })
      .then(function () {
        // "ready" only once the view has settled: tests and screenshots see the final picture.
        if (token !== state.token) return;
        mapElement.dataset.state = "ready";
        if (!options.keepStatus) setStatus("");
      });
  }

  window.addEventListener("popstate", function (event) {
    var code = (event.state && event.state.focus) || new URL(window.location.href).searchParams.get("focus");
    navigate(code || config.districtCode, {});
  });

  // ---- all grids -----------------------------------------------------------------------------

  function setAllGrids(visible) {
    state.gridsVisible = visible;
    if (!visible) {
      removeLayer("allGrids");
      drawnGridCodes.all = [];
      updateCounters();
      return Promise.resolve();
    }
    mapElement.dataset.state = "loading";
    setStatus(t("map.status.grids_loading"));
    return getJson(areaUrl(config.districtCode, "/grids.geojson"))
      .then(function (collection) {
        if (!state.gridsVisible || layers.allGrids) return;
        layers.allGrids = drawCollection(collection, "grid", false);
        restack();
        drawnGridCodes.all = collection.features.map(function (feature) {
          return feature.properties.code;
        });
        updateCounters();
        mapElement.dataset.state = "ready";
        setStatus("");
      })
      .catch(function (error) {
        mapElement.dataset.state = "error";
        setStatus(t("map.status.error"), true);
        console.error("map: could not load grids", error);
      });
  }

  allGridsToggle.addEventListener("change", function () {
    setAllGrids(allGridsToggle.checked);
  });

  // ---- search --------------------------------------------------------------------------------

  var searchTimer = null;
  var searchSeq = 0;

  function hideResults() {
    searchResults.hidden = true;
    searchResults.textContent = "";
    searchInput.setAttribute("aria-expanded", "false");
  }

  function showResults(items) {
    searchResults.textContent = "";
    if (!items.length) {
      searchResults.appendChild(el("li", "search-empty", t("map.search.none")));
    }
    items.forEach(function (item) {
      var li = el("li");
      li.setAttribute("role", "option");
      var button = el("button", "search-item");
      button.type = "button";
      button.appendChild(el("span", "search-name", item.name));
      button.appendChild(el("span", "badge badge-level", t(LEVEL_LABEL[item.level] || item.level)));
      button.appendChild(el("code", "search-code", item.code));
      button.addEventListener("click", function () {
        hideResults();
        // The result's button is gone with the list: focus stays in the search field, not the page top.
        searchInput.focus({ preventScroll: true });
        searchInput.value = item.name;
        navigate(item.code, { push: true });
      });
      li.appendChild(button);
      searchResults.appendChild(li);
    });
    searchResults.hidden = false;
    searchInput.setAttribute("aria-expanded", "true");
  }

  function runSearch() {
    var query = searchInput.value.trim();
    if (!query) {
      hideResults();
      return;
    }
    var seq = ++searchSeq;
    var url = config.api.areas + "/search?limit=20&q=" + encodeURIComponent(query);
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) throw new Error(response.status + " " + url);
        return response.json();
      })
      .then(function (items) {
        if (seq === searchSeq) showResults(items);
      })
      .catch(function (error) {
        if (seq !== searchSeq) return;
        searchResults.textContent = "";
        searchResults.appendChild(el("li", "search-empty", t("map.search.error")));
        searchResults.hidden = false;
        console.error("map: search failed", error);
      });
  }

  searchInput.addEventListener("input", function () {
    window.clearTimeout(searchTimer);
    searchTimer = window.setTimeout(runSearch, 200);
  });
  searchForm.addEventListener("submit", function (event) {
    event.preventDefault();
    window.clearTimeout(searchTimer);
    var first = searchResults.querySelector(".search-item");
    if (first && !searchResults.hidden) first.click();
    else runSearch();
  });
  searchInput.addEventListener("keydown", function (event) {
    if (event.key === "Escape") hideResults();
  });
  document.addEventListener("click", function (event) {
    if (!searchForm.contains(event.target)) hideResults();
  });

  // ---- events by state (for those who may read events; the route keeps to their scope) -------

  // Literal keys (the catalog check reads them); the page sends the "events.state." strings.
  var EVENT_STATE_KEYS = {
    reported: "events.state.reported",
    accepted: "events.state.accepted",
    dispatched: "events.state.dispatched",
    signed: "events.state.signed",
    handled: "events.state.handled",
    verified: "events.state.verified",
    closed: "events.state.closed",
    evaluated: "events.state.evaluated",
    cancelled: "events.state.cancelled",
  };
  var EVENT_COLOURS = {
    reported: "#d9480f",
    accepted: "#e67700",
    dispatched: "#1971c2",
    signed: "#1864ab",
    handled: "#5f3dc4",
    verified: "#2b8a3e",
    closed: "#868e96",
    evaluated: "#adb5bd",
    cancelled: "#ced4da",
  };

  function loadEvents() {
    if (!config.api.events) return;
    getJson(config.api.events)
      .then(function (collection) {
        var counts = {};
        var group = L.layerGroup();
        collection.features.forEach(function (feature) {
          var p = feature.properties;
          var xy = feature.geometry.coordinates;
          counts[p.state] = (counts[p.state] || 0) + 1;
          var marker = L.circleMarker([xy[1], xy[0]], {
            renderer: renderer,
            radius: p.urgent ? 6 : 4,
            color: p.deadline_status === "red" ? "#c92a2a" : "#ffffff",
            weight: p.deadline_status === "red" ? 2 : 1,
            fillColor: EVENT_COLOURS[p.state] || "#495057",
            fillOpacity: 0.9,
          });
          var card = el("div", "event-card");
          var link = el("a", "", p.ticket);
          link.href = config.eventPage + encodeURIComponent(p.ticket);
          card.appendChild(link);
          card.appendChild(el("div", "", p.subtype + " · " + t(EVENT_STATE_KEYS[p.state] || p.state)));
          marker.bindPopup(card);
          group.addLayer(marker);
        });
        group.addTo(map);
        mapElement.dataset.events = String(collection.features.length);
        var legend = L.control({ position: "bottomleft" });
        legend.onAdd = function () {
          var box = el("div", "map-event-legend");
          box.appendChild(el("strong", "", t("map.events.title")));
          var list = el("ul", "legend-items");
          Object.keys(EVENT_COLOURS).forEach(function (name) {
            if (!counts[name]) return;
            var item = el("li", "");
            var swatch = el("span", "swatch");
            swatch.style.background = EVENT_COLOURS[name];
            item.appendChild(swatch);
            item.appendChild(document.createTextNode(t(EVENT_STATE_KEYS[name]) + " " + numberFormat.format(counts[name])));
            list.appendChild(item);
          });
          box.appendChild(list);
          return box;
        };
        legend.addTo(map);
      })
      .catch(function (error) {
        console.error("map: could not load events", error);
      });
  }

  // ---- start ---------------------------------------------------------------------------------

  getJson(config.api.areas)
    .then(function (tree) {
      state.tree = indexTree(tree);
      return getJson(areaUrl(config.districtCode));
    })
    .then(function (district) {
      if (district.counts && district.counts.grids) {
        allGridsLabel.textContent = t("map.all_grids.count", { count: numberFormat.format(district.counts.grids) });
      }
      return navigate(config.focus || config.districtCode, { push: false });
    })
    .then(loadEvents)
    .catch(function (error) {
      mapElement.dataset.state = "error";
      setStatus(t("map.status.error"), true);
      console.error("map: could not start", error);
    });
})();
