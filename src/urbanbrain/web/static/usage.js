// urbanbrain console: the usage page's two bar charts (calls per capability, per consuming department).
(function () {
  "use strict";
  var PALETTE = ["#38c8ff", "#ff5f6d"];
  var AXIS = { axisLine: { lineStyle: { color: "#22304f" } }, axisLabel: { color: "#7f8fae" },
               splitLine: { lineStyle: { color: "#18233d" } } };

  function axis(extra) { return Object.assign({}, AXIS, extra); }

  function bars(names, series) {
    return {
      color: PALETTE, animationDuration: 300, grid: { left: 8, right: 24, top: 24, bottom: 8, containLabel: true },
      legend: { top: 0, textStyle: { color: "#7f8fae" } },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: axis({ type: "value", minInterval: 1 }),
      yAxis: axis({ type: "category", data: names }),
      series: series
    };
  }

  function draw() {
    var source = document.getElementById("usage-data");
    if (!source || !window.echarts) return;
    var data = JSON.parse(source.textContent);
    var caps = data.usage.by_capability.slice().sort(function (a, b) { return b.calls - a.calls; }).slice(0, 20).reverse();
    var depts = data.usage.by_department.slice(0, 20).reverse();
    var capChart = echarts.init(document.getElementById("chart-capabilities"), null, { renderer: "canvas" });
    var deptChart = echarts.init(document.getElementById("chart-usage-departments"), null, { renderer: "canvas" });
    capChart.setOption(bars(caps.map(function (c) { return c.capability + " v" + c.version; }), [
      { name: data.labels.calls, type: "bar", stack: "c", barMaxWidth: 18,
        data: caps.map(function (c) { return c.calls - c.errors; }) },
      { name: data.labels.errors, type: "bar", stack: "c", barMaxWidth: 18, data: caps.map(function (c) { return c.errors; }) }
    ]));
    deptChart.setOption(bars(depts.map(function (d) { return d.department; }), [
      { name: data.labels.calls, type: "bar", barMaxWidth: 18, data: depts.map(function (d) { return d.calls; }) }
    ]));
    window.addEventListener("resize", function () { capChart.resize(); deptChart.resize(); });
  }

  document.addEventListener("DOMContentLoaded", draw);
})();
