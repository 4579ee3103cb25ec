// urbanbrain console: the overview's ECharts charts, Ctrl+Enter in the SQL workbench. Everything else is HTMX.
(function () {
  "use strict";
  var PALETTE = ["#38c8ff", "#2fd08a", "#f2b33d", "#ff5f6d", "#a78bfa", "#5eead4"];
  var AXIS = { axisLine: { lineStyle: { color: "#22304f" } }, axisLabel: { color: "#7f8fae" },
               splitLine: { lineStyle: { color: "#18233d" } } };

  function axis(extra) { return Object.assign({}, AXIS, extra); }

  function departmentsOption(data) {
    var rows = data.overview.by_department.slice(0, 20).reverse();
    return {
      color: PALETTE, animationDuration: 300, grid: { left: 8, right: 24, top: 8, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: axis({ type: "value" }),
      yAxis: axis({ type: "category", data: rows.map(function (d) { return d.name; }) }),
      series: [{ name: data.labels.records, type: "bar", barMaxWidth: 18, data: rows.map(function (d) { return d.records; }) }]
    };
  }

  function ingestOption(data, span) {
    var buckets = data.overview["ingest_" + span];
    var label = function (b) {
      var d = new Date(b.start);
      return span === "hourly" ? d.getHours().toString().padStart(2, "0") + ":00"
                               : (d.getMonth() + 1) + "-" + d.getDate();
    };
    return {
      color: PALETTE, animationDuration: 300, grid: { left: 8, right: 12, top: 30, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: "#7f8fae" } },
      tooltip: { trigger: "axis" },
      xAxis: axis({ type: "category", data: buckets.map(label) }),
      yAxis: [axis({ type: "value", name: "", }), axis({ type: "value", splitLine: { show: false } })],
      series: [
        { name: data.labels.rows_written, type: "bar", barMaxWidth: 16, data: buckets.map(function (b) { return b.rows_written; }) },
        { name: data.labels.runs, type: "line", yAxisIndex: 1, symbolSize: 4,
          data: buckets.map(function (b) { return b.runs; }) },
        { name: data.labels.failed, type: "line", yAxisIndex: 1, symbolSize: 4, color: "#ff5f6d",
          data: buckets.map(function (b) { return b.failed; }) }
      ]
    };
  }

  function overviewCharts() {
    var source = document.getElementById("overview-data");
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var span = "hourly";
    var depts = echarts.init(document.getElementById("chart-departments"), null, { renderer: "canvas" });
    var ingest = echarts.init(document.getElementById("chart-ingest"), null, { renderer: "canvas" });
    var draw = function () {
      depts.setOption(departmentsOption(data), true);
      ingest.setOption(ingestOption(data, span), true);
    };
    draw();
    window.addEventListener("resize", function () { depts.resize(); ingest.resize(); });
    document.querySelectorAll("#ingest-tabs .tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        span = tab.dataset.span;
        document.querySelectorAll("#ingest-tabs .tab").forEach(function (t) { t.classList.toggle("active", t === tab); });
        draw();
      });
    });
    // keep the charts live, like the figures above them (which HTMX refreshes)
    setInterval(function () {
      fetch("/api/overview").then(function (r) { return r.ok ? r.json() : null; }).then(function (ov) {
        if (ov) { data.overview = ov; draw(); }
      }).catch(function () {});
    }, 30000);
  }

  function sqlShortcut() {
    var input = document.getElementById("sql-input");
    if (!input) return;
    input.addEventListener("keydown", function (ev) {
      if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
        ev.preventDefault();
        document.getElementById("sql-run").click();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { overviewCharts(); sqlShortcut(); });
})();
