// assay dashboard: live lists and logs (polling small JSON endpoints of this server), charts.
// Ours, no dependencies; plotly.js (served from the plotly wheel) draws the charts.
"use strict";

const POLL_MS = 1500;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null) node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function statusBadge(value, marks) {
  return el("span", { class: "status status-" + value, "data-status": value },
    el("span", { "aria-hidden": "true" }, marks[value] || "?"), " " + value);
}

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return ms + " ms";
  const seconds = ms / 1000;
  if (seconds < 60) return seconds.toFixed(1) + " s";
  const minutes = Math.floor(Math.round(seconds) / 60);
  const secs = Math.round(seconds) % 60;
  if (minutes < 60) return minutes + "m " + String(secs).padStart(2, "0") + "s";
  return Math.floor(minutes / 60) + "h " + String(minutes % 60).padStart(2, "0") + "m";
}

function executionRow(row, marks) {
  const tests = row.tests
    ? [row.passed + "/" + row.tests, row.failed ? el("span", { class: "bad" }, " (" + row.failed + " failed)") : null]
    : ["–"];
  const tags = Object.entries(row.tags).map(([k, v]) => el("span", { class: "tag" }, k + "=" + v));
  return el("tr", { "data-id": row.id },
    el("td", {}, statusBadge(row.status, marks)),
    el("td", {}, el("a", { href: "/executions/" + row.id }, row.name)),
    el("td", {}, el("a", { href: "/workflows/" + row.workflow }, row.workflow)),
    el("td", { class: "num" }, ...tests),
    el("td", { class: "num" }, duration(row.durationMs)),
    el("td", {}, row.branch || "", row.sha ? " " : null, row.sha ? el("code", {}, row.sha.slice(0, 8)) : null),
    el("td", {}, ...tags.flatMap((t) => [t, " "])),
    el("td", {}, el("time", { datetime: row.queuedAt }, row.queuedAt.slice(0, 19).replace("T", " "))));
}

async function getJSON(url) {
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (response.status === 401) { window.location.assign("/login"); throw new Error("logged out"); }
  if (!response.ok) throw new Error(url + ": " + response.status);
  return response.json();
}

function liveList(table) {
  const marks = JSON.parse(table.dataset.marks);
  const body = table.querySelector("tbody");
  let last = body.innerHTML;
  async function tick() {
    try {
      const data = await getJSON("/ui/executions" + window.location.search);
      const rows = data.rows.map((row) => executionRow(row, marks));
      const fresh = el("tbody", {}, ...rows);
      if (fresh.innerHTML !== last) {
        body.replaceChildren(...fresh.childNodes);
        last = body.innerHTML;
        const empty = document.querySelector("p.empty");
        if (empty && rows.length) empty.remove();
      }
    } catch (error) {
      console.warn(error);
    }
    window.setTimeout(tick, POLL_MS);
  }
  window.setTimeout(tick, POLL_MS);
}

function liveExecution(root) {
  const id = root.dataset.id;
  const marks = JSON.parse(root.dataset.marks);
  const log = document.getElementById("live-log");
  let offset = 0;
  async function refreshPage() {
    // the execution ended: show its tests and per-step logs without reloading the page
    const response = await fetch(window.location.pathname, { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("execution");
    if (fresh) { root.replaceWith(fresh); startExecution(fresh); }
  }
  async function tick() {
    try {
      const chunk = await getJSON("/ui/executions/" + id + "/log?offset=" + offset);
      if (chunk.text && log) {
        const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
        log.append(chunk.text);
        if (follow) log.scrollTop = log.scrollHeight;
      }
      offset = chunk.offset;
      const execution = await getJSON("/ui/executions/" + id);
      const head = root.querySelector(".exec-head h1 .status");
      if (head && head.dataset.status !== execution.status) head.replaceWith(statusBadge(execution.status, marks));
      const steps = document.getElementById("steps");
      if (steps && execution.steps.length) {
        steps.replaceChildren(...execution.steps.map((step) => el("li", { class: "step", "data-ref": step.ref },
          el("span", { class: "step-name" }, step.name), " ", statusBadge(step.status, marks), " ",
          el("span", { class: "num" }, duration(step.durationMs)), " ",
          el("span", { class: "attempts" }, step.attempts + (step.attempts === 1 ? " attempt" : " attempts")))));
      }
      if (execution.finished && chunk.finished) { await refreshPage(); return; }
    } catch (error) {
      console.warn(error);
    }
    window.setTimeout(tick, POLL_MS / 2);
  }
  tick();
}

function startExecution(root) {
  if (root.dataset.finished === "0") liveExecution(root);
}

function drawCharts() {
  const plots = document.querySelectorAll(".plot[data-chart]");
  if (!plots.length || !window.Plotly) return;
  for (const node of plots) {
    const chart = JSON.parse(node.dataset.chart);
    const traces = chart.series.map((s) => ({
      type: chart.kind === "bar" ? "bar" : "scatter",
      mode: "lines+markers",
      name: s.name, x: s.x, y: s.y,
      // shapes as well as colours tell the series apart
      marker: { symbol: ["circle", "square", "diamond", "triangle-up", "x", "cross"][chart.series.indexOf(s) % 6] },
    }));
    const layout = {
      margin: { t: 10, r: 10, b: 40, l: 50 }, height: 260, showlegend: true,
      legend: { orientation: "h" }, yaxis: { ticksuffix: chart.unit === "%" ? "%" : "", rangemode: "tozero" },
      xaxis: { type: "category" }, font: { family: "system-ui, sans-serif" },
    };
    window.Plotly.newPlot(node, traces, layout, { displaylogo: false, responsive: true, staticPlot: false });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.querySelector("table[data-live]");
  if (table) liveList(table);
  const execution = document.getElementById("execution");
  if (execution) startExecution(execution);
});
window.addEventListener("load", drawCharts);
