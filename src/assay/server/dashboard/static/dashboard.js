// assay dashboard: the live list and execution (Server-Sent Events of this server), charts.
// Ours, no dependencies; plotly.js (served from the plotly wheel) draws the charts.
"use strict";

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

const EXECUTIONS = "/v1/test-workflow-executions";

function follow(url, handlers) {
  // Server-Sent Events through the browser's EventSource: it sends the session cookie, and
  // after a dropped connection resumes with Last-Event-ID by itself.
  const source = new EventSource(url);
  for (const [kind, handle] of Object.entries(handlers)) {
    source.addEventListener(kind, (event) => handle(JSON.parse(event.data), source));
  }
  source.onerror = () => {
    // closed for good (not a reconnection): the session ended or the server refused
    if (source.readyState === EventSource.CLOSED) {
      window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
    }
  };
  return source;
}

function listRow(execution) {
  // an execution of the API (execution_json) as the list's row
  const tags = execution.tags || {};
  const summary = execution.summary || {};
  return {
    id: execution.id, name: execution.name, workflow: execution.workflow, status: execution.status,
    queuedAt: execution.queuedAt, durationMs: execution.durationMs,
    branch: tags.branch || null, sha: tags.sha || null,
    tags: Object.fromEntries(Object.entries(tags).filter(([k]) => k !== "branch" && k !== "sha")),
    tests: summary.tests || 0, passed: summary.passed || 0,
    failed: (summary.failed || 0) + (summary.errored || 0),
  };
}

function liveList(table) {
  const marks = JSON.parse(table.dataset.marks);
  const body = table.querySelector("tbody");
  let last = body.innerHTML;
  follow(EXECUTIONS + "/notifications" + window.location.search, {
    executions(data) {
      const rows = data.executions.map((execution) => executionRow(listRow(execution), marks));
      const fresh = el("tbody", {}, ...rows);
      if (fresh.innerHTML === last) return;
      body.replaceChildren(...fresh.childNodes);
      last = body.innerHTML;
      const empty = document.querySelector("p.empty");
      if (empty && rows.length) empty.remove();
    },
  });
}

function stepItem(step, total, marks) {
  const width = Math.round(1000 * (step.durationMs || 0) / total) / 10;
  return el("li", { class: "step", "data-ref": step.ref, "data-status": step.status },
    el("span", { class: "step-name" }, step.name), " ", statusBadge(step.status, marks), " ",
    el("span", { class: "bar", "aria-hidden": "true" }, el("span", { style: "width: " + width + "%" })), " ",
    el("span", { class: "num" }, step.status === "running" ? "running" : duration(step.durationMs)), " ",
    el("span", { class: "attempts" }, step.attempts + (step.attempts === 1 ? " attempt" : " attempts")),
    step.exitCode !== null && step.exitCode !== undefined ? el("span", { class: "exit" }, " exit " + step.exitCode) : null,
    step.message ? el("span", { class: "step-message" }, " " + step.message) : null);
}

const STEP_HEADER = /^=== step (.*) ===$/;

function liveLog(container) {
  // the live log cut per step, as the finished page shows it: a section per step header
  let pre = null;
  function section(name) {
    for (const open of container.querySelectorAll("details[open]")) open.open = false;
    pre = el("pre", { class: "log", tabindex: "0" });
    container.append(el("details", { class: "log-section", open: "" }, el("summary", {}, name), pre));
  }
  return (line) => {
    const header = STEP_HEADER.exec(line);
    if (header) { section(header[1]); return; }
    if (!pre) section("execution");
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
    pre.append(line + "\n");
    if (follow) pre.scrollTop = pre.scrollHeight;
  };
}

function liveExecution(root) {
  const id = root.dataset.id;
  const marks = JSON.parse(root.dataset.marks);
  const container = document.getElementById("live-log");
  const write = container ? liveLog(container) : () => {};
  async function refreshPage() {
    // the execution ended: show its tests and per-step logs without reloading the page
    const response = await fetch(window.location.pathname, { credentials: "same-origin" });
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = page.getElementById("execution");
    if (fresh) { root.replaceWith(fresh); startExecution(fresh); }
  }
  follow(EXECUTIONS + "/" + id + "/notifications?progress=true", {
    log(data) { write(data.log); },
    execution(data) {
      const execution = data.execution;
      const head = root.querySelector(".exec-head h1 .status");
      if (head && head.dataset.status !== execution.status) head.replaceWith(statusBadge(execution.status, marks));
      const steps = document.getElementById("steps");
      if (steps && execution.steps.length) {
        const total = execution.steps.reduce((sum, step) => sum + (step.durationMs || 0), 0) || 1;
        steps.replaceChildren(...execution.steps.map((step) => stepItem(step, total, marks)));
      }
    },
    result(data, source) {
      source.close();  // the stream ended: no reconnection
      refreshPage().catch((error) => console.warn(error));
    },
  });
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
