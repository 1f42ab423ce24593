// impactlib dashboard: draws what /api/totals, /api/units, /api/whatif and /api/budgets
// answer. Every number and unit shown here is written by the server (impactlib.units, the lab
// report's figures); this script only places them, so the page cannot round or label a figure
// differently from the other outputs.
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

// The what-if view: what /api/whatif answers for the chosen lever and the filters above,
// as `impactlib report --what-if` computes it. The server writes every cell; cells are set
// as text, never as markup.
function cellRow(tag, cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement(tag);
    td.textContent = cell;
    tr.appendChild(td);
  }
  return tr;
}

function listInto(id, items) {
  const list = document.getElementById(id);
  list.replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

async function drawWhatIf() {
  const headline = document.getElementById("w-headline");
  const q = new URLSearchParams(query());
  q.set("what_if", document.getElementById("w-spec").value);
  const response = await fetch("api/whatif?" + q.toString());
  const data = await response.json();
  headline.classList.toggle("error", !response.ok);
  const tables = document.getElementById("w-tables");
  if (!response.ok) {
    headline.textContent = data.error;
    tables.replaceChildren();
    listInto("w-unpriced", []);
    listInto("w-assumptions", []);
    return;
  }
  headline.textContent = data.headline;
  tables.replaceChildren(...Object.entries(data.tables).map(([key, table]) => {
    const element = document.createElement("table");
    element.id = "w-by-" + key;
    element.appendChild(cellRow("th", table.header));
    for (const row of table.rows) element.appendChild(cellRow("td", row));
    if (table.total) element.appendChild(cellRow("th", table.total));
    return element;
  }));
  listInto("w-unpriced", data.not_priced.map((u) => `${u.id} (${u.user}, ${u.project}): ${u.reason}`));
  listInto("w-assumptions", data.assumptions);
}

// A shared link may name the lever (?what_if=pue%3D1.2) when the select offers it.
const spec = document.getElementById("w-spec");
if ([...spec.options].some((o) => o.value === pageQuery.get("what_if"))) {
  spec.value = pageQuery.get("what_if");
}
spec.addEventListener("change", drawWhatIf);
for (const f of FILTERS) document.getElementById("f-" + f).addEventListener("change", drawWhatIf);
drawWhatIf();

// The per-unit panel: what /api/units answers for the filters above, per project and per user
// (`impactlib report --by project|user`'s figures per unit of work). The server writes every
// cell, as the lab report's table writes it.
async function drawUnits() {
  const status = document.getElementById("u-status");
  const tables = document.getElementById("u-tables");
  const response = await fetch("api/units?" + query());
  const data = await response.json();
  status.classList.toggle("error", !response.ok);
  status.textContent = response.ok ? data.status : data.error;
  if (!response.ok) {
    tables.replaceChildren();
    return;
  }
  tables.replaceChildren(...Object.entries(data.tables).map(([key, table]) => {
    const element = document.createElement("table");
    element.id = "u-by-" + key;
    element.appendChild(cellRow("th", table.header));
    for (const row of table.rows) element.appendChild(cellRow("td", row));
    return element;
  }));
}
for (const f of FILTERS) document.getElementById("f-" + f).addEventListener("change", drawUnits);
drawUnits();

// The budget panel: what /api/budgets answers (`impactlib budget show --format json`). The
// server writes every cell; a bar shows the share used and, as a mark, the projection.
function budgetBar(budget) {
  const bar = document.createElement("div");
  bar.className = "b-bar";
  const t = budget.texts;
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", `${t.used} of ${t.budget} used, ${t.projected} projected`);
  const used = document.createElement("div");
  used.className = "b-used";
  used.style.width = `${Math.min(budget.share, 1) * 100}%`;
  bar.appendChild(used);
  if (budget.projected !== null) {
    const mark = document.createElement("div");
    mark.className = "b-projected";
    mark.style.left = `${Math.min(budget.projected / budget.amount, 1) * 100}%`;
    bar.appendChild(mark);
  }
  return bar;
}

async function drawBudgets() {
  const status = document.getElementById("b-status");
  const table = document.getElementById("b-table");
  const q = new URLSearchParams();
  if (token) q.set("token", token);
  const response = await fetch("api/budgets?" + q.toString());
  const data = await response.json();
  status.classList.toggle("error", !response.ok);
  if (!response.ok) {
    status.textContent = data.error;
    table.replaceChildren();
    return;
  }
  status.textContent = data.budgets.length
    ? `${data.budgets.length} budget(s) at ${data.at}`
    : "no budgets; set one with `impactlib budget set`";
  document.getElementById("b-method").textContent = data.method;
  if (!data.budgets.length) {
    table.replaceChildren();
    return;
  }
  const rows = [cellRow("th", [...data.columns.map((c) => c.title), "used / projected"])];
  for (const budget of data.budgets) {
    const row = cellRow("td", data.columns.map((c) => budget.texts[c.key]));
    row.id = "b-" + budget.scope + "-" + budget.name + "-" + budget.period + "-" + budget.unit;
    const cell = document.createElement("td");
    cell.appendChild(budgetBar(budget));
    row.appendChild(cell);
    rows.push(row);
  }
  table.replaceChildren(...rows);
}
drawBudgets();
