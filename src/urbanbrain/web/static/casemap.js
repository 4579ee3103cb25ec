// urbanbrain: the case page's map — the case's point and the open cases around it, on the one city map
// (static/citymap.js). Points come from the page (#case-map-data); clicking one opens its case.
(function () {
  "use strict";
  function start() {
    var el = document.getElementById("case-map");
    if (!el || !window.UBCityMap || !window.echarts) return;
    var source = document.getElementById("case-map-data");
    var points = JSON.parse((source && source.textContent) || "[]");
    var map = UBCityMap.create(el, {
      theme: document.documentElement.dataset.theme === "light" ? "light" : "dark", pointSize: 10,
      colors: { self: "#1677ff", duplicate: "#f5a623", nearby: "#2ecc71" },
      onPoint: function (p) { if (p && p.href) window.location.href = p.href; }
    });
    map.setPoints(points);
    map.ready.then(function () {
      if (points.length) {  // centre on the case, close enough to tell the streets' scale
        map.chart.setOption({ geo: { center: [points[0].lon, points[0].lat], zoom: 6 } });
      }
      el.dataset.ready = String(map.districtCount());
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
