// impactlib dashboard: draws what /api/totals answers. Every number and unit shown here is
// written by the server (impactlib.units, the lab report's figures); this script only places
// them, so the page cannot round or label a figure differently from the other outputs.
"use strict";

const FILTERS = ["project", "user", "host", "since", "until"];
const pageQuery = new URLSearchParams(location.search);
const token = pageQuery.get("token");
const charts = {};

// Writes each bar's value (as the server formatted it, with its unit) above the bar.
const valueLabels = {
  id: "impactlibValueLabels",
  afterDatasetsDraw(chart) {
    const ctx = chart.ctx;
    ctx.save();
    ctx.font = "12px Helvetica, Arial, sans-serif";
    ctx.fillStyle = "#222";
    ctx.textAlign = "center";
    ctx.textBaseline = "bottom";
    chart.data.datasets.forEach((dataset, i) => {
      chart.getDatasetMeta(i).data.forEach((bar, j) => {
        ctx.fillText(dataset.texts[j], bar.x, bar.y - 3);
      });
    });
    ctx.restore();
  },
};

function query() {
  const q = new URLSearchParams();
  for (const f of FILTERS) {
    const v = document.getElementById("f-" + f).value.trim();
    if (v) q.set(f, v);
  }
  if (token) q.set("token", token);
  return q.toString();
}

// What a screen reader says of a chart (a canvas has no text of its own).
function describe(data) {
  const bars = data.labels.map((label, i) => `${label} ${data.texts[i]}`);
  return `${data.title}: ${bars.length ? bars.join(", ") : "no runs"}`;
}

function drawChart(data) {
  const canvas = document.getElementById("c-" + data.id);
  canvas.setAttribute("aria-label", describe(data));
  const config = {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [{
        label: data.unit,
        data: data.values,
        texts: data.texts,
        backgroundColor: canvas.dataset.colour,
      }],
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {y: {beginAtZero: true, grace: "12%", title: {display: true, text: data.unit}}},
      plugins: {legend: {display: false}},
    },
    plugins: [valueLabels],
  };
  if (charts[data.id]) charts[data.id].destroy();
  charts[data.id] = new Chart(canvas, config);
}

function clearCharts() {
  for (const id of Object.keys(charts)) {
    charts[id].destroy();
    delete charts[id];
  }
}

async function draw() {
  const total = document.getElementById("total");
  const response = await fetch("api/totals?" + query());
  const data = await response.json();
  total.classList.toggle("error", !response.ok);
  if (!response.ok) {
    total.textContent = data.error;
    clearCharts();
    return;
  }
  total.textContent = data.summary;
  for (const chart of data.charts) drawChart(chart);
}

// Filters given in the page's address (a shared link) start filled in.
for (const f of FILTERS) {
  const field = document.getElementById("f-" + f);
  if (pageQuery.get(f)) field.value = pageQuery.get(f);
  field.addEventListener("change", draw);
}
draw();
