// Dashboard of the stockpredictor API: tables and SVG charts built from its JSON, no external code.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART = { width: 560, height: 260, left: 56, right: 16, top: 12, bottom: 44 };
const HISTORY_DAYS = 365;

async function getJson(path) {
  const response = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(typeof body.detail === "string" ? body.detail : `${path}: HTTP ${response.status}`);
  }
  return body;
}

function element(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== "") node.textContent = text;
  return node;
}

function svgElement(tag, attributes = {}, text = "") {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== "") node.textContent = text;
  return node;
}

const price = (value) => (value === null || value === undefined ? "–" : value.toFixed(2));
const percent = (value) => `${value > 0 ? "+" : ""}${value.toFixed(2)}%`;
const ratio = (value) => (value === null ? "–" : `${(100 * value).toFixed(0)}%`);
// A directional accuracy: null when the model called no move (persistence).
const hitRate = (value) => (value === null ? "no call" : ratio(value));
const ARROWS = { up: "▲ up", down: "▼ down", "no call": "no call" };
const CLASSES = { up: "up", down: "down", "no call": "no-call" };

function showMessage(id, text) {
  document.getElementById(id).textContent = text;
}

function renderPredictions(latest) {
  const body = document.querySelector("#predictions tbody");
  body.replaceChildren();
  document.getElementById("as-of").textContent = latest.as_of_date ? `as of ${latest.as_of_date}` : "";
  if (latest.predictions.length === 0) showMessage("predictions-message", "No daily prediction stored yet.");
  for (const p of latest.predictions) {
    const row = element("tr", { "data-ticker": p.ticker });
    row.append(
      element("td", {}, p.ticker),
      element("td", {}, p.as_of_date),
      element("td", {}, p.target_date),
      element("td", { class: "num" }, price(p.last_close)),
      element("td", { class: "num" }, price(p.predicted_close)),
      element("td", { class: `num ${CLASSES[p.direction]}` }, p.direction === "no call" ? "–" : percent(p.change_pct)),
      element("td", { class: CLASSES[p.direction] }, ARROWS[p.direction]),
    );
    body.append(row);
  }
}

// [model metric, label, baseline metric, baseline name]: persistence never calls a move, so direction
// is compared with "always up" and "last move".
const TEST_METRICS = [
  ["mae", "MAE", "persistence_mae", "persistence"],
  ["rmse", "RMSE", "persistence_rmse", "persistence"],
  ["mape", "MAPE %", "persistence_mape", "persistence"],
  ["directional_accuracy", "Direction", "always_up_directional_accuracy", "always up"],
  ["directional_accuracy", "Direction", "last_move_directional_accuracy", "last move"],
];

function renderModel(card) {
  const list = document.getElementById("model-card");
  const promoted = card.promoted_at
    ? `${card.promoted_at.slice(0, 16).replace("T", " ")} UTC (${card.promotion_decision})`
    : "–";
  const entries = [
    ["Model", card.baseline
      ? `${card.name} v${card.version}: the ${card.baseline} baseline serves (no trained model beat it yet)`
      : `${card.name} v${card.version}`],
    ["MLflow run", card.mlflow_run_id],
    ["Dataset run", card.dataset_run_id ?? "–"],
    ["Promoted", promoted],
    ["Why", card.promotion_reason ?? "–"],
  ];
  list.replaceChildren(...entries.flatMap(([name, value]) => [element("dt", {}, name), element("dd", {}, value)]));
  list.dataset.mlflowRunId = card.mlflow_run_id;

  const metric = (name) => card.test_metrics[`test_${name}`];
  const shown = (name, value) => (value === undefined || value === null ? "–"
    : name === "directional_accuracy" ? ratio(value) : value.toFixed(3));
  const body = document.querySelector("#test-metrics tbody");
  body.replaceChildren(...TEST_METRICS.map(([name, label, baseline, baselineName]) => {
    const row = element("tr");
    const own = card.baseline && name === "directional_accuracy" ? "no call" : shown(name, metric(name));
    row.append(element("td", {}, label), element("td", { class: "num" }, own),
      element("td", { class: "num" }, `${shown(name, metric(baseline))} (${baselineName})`));
    return row;
  }));
}

function renderPerformance(report, productionMlflowRunId) {
  const body = document.querySelector("#performance tbody");
  body.replaceChildren();
  document.getElementById("window").textContent = `last ${report.window_days} evaluated days per model`;
  if (report.models.length === 0) showMessage("performance-message", "No prediction has been evaluated yet.");
  for (const m of report.models) {
    const name = element("td", {}, m.model_version ? `v${m.model_version}` : m.mlflow_run_id.slice(0, 8));
    if (m.mlflow_run_id === productionMlflowRunId) name.append(" ", element("span", { class: "badge" }, "production"));
    const o = m.overall;
    const row = element("tr", { "data-mlflow-run-id": m.mlflow_run_id });
    row.append(
      name,
      element("td", { class: "num" }, String(o.evaluations)),
      element("td", { class: "num" }, o.log_mae_ratio === null ? "–" : o.log_mae_ratio.toFixed(3)),
      element("td", { class: "num" }, pValue(o.loss_p_worse)),
      element("td", { class: "num" }, o.mae.toFixed(3)),
      element("td", { class: "num" }, o.persistence_mae.toFixed(3)),
      element("td", { class: "num" }, o.mape.toFixed(2)),
      element("td", { class: "num" }, hitRate(o.directional_accuracy)),
    );
    body.append(row);
  }
}

const DECISIONS_SHOWN = 15;
const pValue = (value) => (value === null || value === undefined ? "–" : value.toPrecision(2));

function renderDecisions(log) {
  const body = document.querySelector("#decisions tbody");
  body.replaceChildren();
  if (log.decisions.length === 0) showMessage("decisions-message", "The monitor has not decided anything yet.");
  for (const d of log.decisions) {
    const row = element("tr", { "data-decision": d.decision });
    row.append(
      element("td", {}, d.as_of_date),
      element("td", { class: `decision ${d.decision}` }, d.decision.replaceAll("_", " ")),
      element("td", { class: "num" }, pValue(d.statistics.dm_p_value)),
      element("td", { class: "num" }, pValue(d.statistics.direction_p_value)),
      element("td", { class: "reason" }, d.reason),
    );
    body.append(row);
  }
}

function scale(domainMin, domainMax, rangeMin, rangeMax) {
  const span = domainMax - domainMin || 1;
  return (value) => rangeMin + ((value - domainMin) / span) * (rangeMax - rangeMin);
}

function linePath(points, x, y) {
  let path = "";
  let pen = "M";
  for (const [day, value] of points) {
    if (value === null) {
      pen = "M";
      continue;
    }
    path += `${pen}${x(day).toFixed(1)},${y(value).toFixed(1)}`;
    pen = "L";
  }
  return path;
}

function drawChart(ticker, predictions) {
  const figure = element("figure", { class: "chart", "data-ticker": ticker });
  figure.append(element("figcaption", {}, ticker));
  const svg = svgElement("svg", {
    class: "chart", "data-ticker": ticker, viewBox: `0 0 ${CHART.width} ${CHART.height}`, role: "img",
    "aria-label": `${ticker}: actual and predicted close`,
  });
  figure.append(svg);
  if (predictions.length === 0) {
    svg.append(svgElement("text", { x: CHART.width / 2, y: CHART.height / 2, "text-anchor": "middle", class: "tick" },
      "no predictions yet"));
    return figure;
  }
  const day = (iso) => Date.parse(`${iso}T00:00:00Z`);
  const actual = predictions.map((p) => [day(p.target_date), p.actual_close]);
  const predicted = predictions.map((p) => [day(p.target_date), p.predicted_close]);
  const bounds = predictions.flatMap((p) => p.intervals.flatMap((i) => [i.lower, i.upper]));
  const values = [...actual, ...predicted].map(([, v]) => v).filter((v) => v !== null).concat(bounds);
  const days = predicted.map(([d]) => d);
  const [low, high] = [Math.min(...values), Math.max(...values)];
  const pad = (high - low) * 0.08 || Math.abs(high) * 0.01 || 1;
  const x = scale(days[0], days[days.length - 1], CHART.left, CHART.width - CHART.right);
  const y = scale(low - pad, high + pad, CHART.height - CHART.bottom, CHART.top);

  for (let i = 0; i <= 4; i += 1) {
    const value = low - pad + ((high - low + 2 * pad) * i) / 4;
    svg.append(svgElement("line", { class: "grid", x1: CHART.left, x2: CHART.width - CHART.right, y1: y(value), y2: y(value) }));
    svg.append(svgElement("text", { class: "tick", x: CHART.left - 6, y: y(value) + 4, "text-anchor": "end" }, value.toFixed(2)));
  }
  const labelled = [...new Set([0, Math.floor((days.length - 1) / 2), days.length - 1])];
  for (const i of labelled) {
    const anchor = i === 0 ? "start" : i === days.length - 1 ? "end" : "middle";
    svg.append(svgElement("text", { class: "tick", x: x(days[i]), y: CHART.height - CHART.bottom + 16, "text-anchor": anchor },
      predictions[i].target_date));
  }
  const levels = [...new Set(predictions.flatMap((p) => p.intervals.map((i) => i.level)))].sort((a, b) => b - a);
  levels.forEach((level, rank) => {
    svg.append(svgElement("path", { class: `band band-${rank === 0 ? "outer" : "inner"}`, "data-level": level,
      d: bandPath(predictions, level, x, y, day) }));
  });
  svg.append(svgElement("path", { class: "actual", d: linePath(actual, x, y) }));
  svg.append(svgElement("path", { class: "predicted", d: linePath(predicted, x, y) }));
  const misses = predictions.filter((p) => missedLevel(p) !== null);
  for (const p of misses) {
    svg.append(svgElement("circle", { class: "miss", cx: x(day(p.target_date)), cy: y(p.actual_close), r: 3,
      "data-level": missedLevel(p), "data-target-date": p.target_date }));
  }
  const [lastDay, lastValue] = predicted[predicted.length - 1];
  svg.append(svgElement("circle", { class: "next", cx: x(lastDay), cy: y(lastValue), r: 3.5 }));

  const legendY = CHART.height - 8;
  [["actual", "actual close"], ["predicted", "predicted close"]].forEach(([kind, label], i) => {
    const left = CHART.left + i * 130;
    svg.append(svgElement("path", { class: kind, d: `M${left},${legendY - 4}h24` }));
    svg.append(svgElement("text", { class: "legend", x: left + 30, y: legendY }, label));
  });
  if (levels.length > 0) {
    const names = levels.map((l) => `${Math.round(100 * l)}%`).reverse().join(" / ");
    svg.append(svgElement("rect", { class: "band band-inner", x: CHART.left + 250, y: legendY - 9, width: 24, height: 10 }));
    svg.append(svgElement("text", { class: "legend", x: CHART.left + 280, y: legendY }, `${names} interval`));
    svg.append(svgElement("circle", { class: "miss", cx: CHART.left + 420, cy: legendY - 4, r: 3 }));
    svg.append(svgElement("text", { class: "legend", x: CHART.left + 428, y: legendY }, "outside"));
    figure.append(element("p", { class: "coverage muted" }, coverageText(predictions, levels)));
  }
  return figure;
}

function intervalOf(prediction, level) {
  return prediction.intervals.find((i) => i.level === level);
}

// An area between the lower and upper bounds of `level`, broken where a forecast has no interval.
function bandPath(predictions, level, x, y, day) {
  let path = "";
  let run = [];
  const flush = () => {
    if (run.length > 0) {
      const upper = run.map(([d, i]) => `${x(d).toFixed(1)},${y(i.upper).toFixed(1)}`);
      const lower = run.map(([d, i]) => `${x(d).toFixed(1)},${y(i.lower).toFixed(1)}`).reverse();
      path += `M${upper.join("L")}L${lower.join("L")}Z`;
    }
    run = [];
  };
  for (const p of predictions) {
    const interval = intervalOf(p, level);
    if (interval) run.push([day(p.target_date), interval]);
    else flush();
  }
  flush();
  return path;
}

// The narrowest level whose interval the actual close fell outside of (null: inside all, or not known).
function missedLevel(prediction) {
  if (prediction.actual_close === null || prediction.actual_close === undefined) return null;
  const outside = prediction.intervals.filter((i) => prediction.actual_close < i.lower || prediction.actual_close > i.upper);
  return outside.length === 0 ? null : Math.max(...outside.map((i) => i.level));
}

function coverageText(predictions, levels) {
  const matured = predictions.filter((p) => p.actual_close !== null && p.intervals.length > 0);
  const parts = levels.slice().reverse().map((level) => {
    const scored = matured.filter((p) => intervalOf(p, level));
    const inside = scored.filter((p) => {
      const i = intervalOf(p, level);
      return p.actual_close >= i.lower && p.actual_close <= i.upper;
    }).length;
    return `${Math.round(100 * level)}%: ${inside}/${scored.length} inside`;
  });
  return `Coverage of matured forecasts: ${parts.join(", ")}`;
}

async function renderCharts(latest) {
  const charts = document.getElementById("charts");
  const figures = await Promise.all(latest.predictions.map(async (p) => {
    const start = new Date(Date.parse(`${p.as_of_date}T00:00:00Z`) - HISTORY_DAYS * 86400000).toISOString().slice(0, 10);
    const history = await getJson(`/predictions/${encodeURIComponent(p.ticker)}?start=${start}`);
    return drawChart(p.ticker, history.predictions);
  }));
  charts.replaceChildren(...figures);
}

async function main() {
  const [latest, card, report, decisions] = await Promise.allSettled([
    getJson("/predictions/latest"), getJson("/model"), getJson("/performance"),
    getJson(`/monitoring/decisions?limit=${DECISIONS_SHOWN}`),
  ]);
  if (latest.status === "fulfilled") {
    renderPredictions(latest.value);
    renderCharts(latest.value).catch((error) => showMessage("predictions-message", error.message));
  } else {
    showMessage("predictions-message", latest.reason.message);
  }
  if (card.status === "fulfilled") renderModel(card.value);
  else showMessage("model-message", card.reason.message);
  if (report.status === "fulfilled") {
    renderPerformance(report.value, card.status === "fulfilled" ? card.value.mlflow_run_id : null);
  } else {
    showMessage("performance-message", report.reason.message);
  }
  if (decisions.status === "fulfilled") renderDecisions(decisions.value);
  else showMessage("decisions-message", decisions.reason.message);
}

main();
