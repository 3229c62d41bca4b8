// The live curriculum page: polls the server for the rows each run appended since the last
// poll (never the whole file), keeps every run's columns here, and redraws from them.
// Panels: level per task and axis with promotions and demotions, success and zero-variance
// share by level x step window, training signals, sample completions. Several runs are drawn
// together (one colour each) or side by side (heatmaps).
"use strict";

const POLL_MS = 2000;
const COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563"];
const MAX_WINDOWS = 40;
const { lineChart, heatmap, format, html } = Charts;

const state = { runs: [], failure: null, lastPoll: null, picked: { run: 0, task: "", level: "" } };

// ------------------------------------------------------------------ data
function newRun(info, index) {
  return { ...info, colour: COLOURS[index % COLOURS.length], generation: 0, steps: [], cols: {},
    events: [], eventCount: 0, axes: {}, notices: [], samples: {}, samplesSeq: -1 };
}

function merge(run, update) {
  if (update.reset || update.generation !== run.generation) {
    Object.assign(run, { generation: update.generation, steps: [], cols: {}, events: [] });
  }
  const before = run.steps.length;
  for (const step of update.steps) run.steps.push(step);
  const after = run.steps.length;
  for (const [key, values] of Object.entries(update.columns)) {
    const column = run.cols[key] || (run.cols[key] = []);
    while (column.length < before) column.push(null);
    for (const v of values) column.push(v);
  }
  for (const column of Object.values(run.cols)) while (column.length < after) column.push(null);
  for (const event of update.events) run.events.push(event);
  const changed = after !== before || update.events.length > 0 || update.reset
    || JSON.stringify(update.notices) !== JSON.stringify(run.notices)
    || update.samples_seq !== run.samplesSeq;
  Object.assign(run, { eventCount: update.event_count, axes: update.axes, notices: update.notices,
    samples: update.samples, samplesSeq: update.samples_seq });
  return changed;
}

async function getJSON(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function poll() {
  let changed = false;
  try {
    if (!state.runs.length) {
      state.runs = (await getJSON("/api/runs")).map(newRun);
      changed = true;
    }
    for (const run of state.runs) {
      const query = `generation=${run.generation}&rows=${run.steps.length}&events=${run.events.length}`;
      changed = merge(run, await getJSON(`/api/run/${run.id}?${query}`)) || changed;
    }
    changed = changed || state.failure !== null;
    state.failure = null;
  } catch (error) {
    changed = state.failure === null;
    state.failure = `the dashboard server does not answer (${error.message}); retrying every ${POLL_MS / 1000} s`;
  }
  state.lastPoll = new Date();
  if (changed) render();
  renderStatus();
  setTimeout(poll, POLL_MS);
}

// ------------------------------------------------------------------ helpers
function parseLevel(label) {
  return label.split(",").map((part) => Number(part.split("=")[1]));
}

function byLevel(a, b) {
  const [x, y] = [parseLevel(a), parseLevel(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return a < b ? -1 : 1;
}

// Axis initials as the curriculum's own labels use them (horizon=3,problem_steps=1 -> h=3,ps=1).
function shortLabels(labels) {
  const names = [...new Set(labels.flatMap((l) => l.split(",").map((p) => p.split("=")[0])))];
  const initials = names.map((n) => n.split("_").map((w) => w[0]).join(""));
  if (new Set(initials).size !== names.length) return labels;
  const short = Object.fromEntries(names.map((n, i) => [n, initials[i]]));
  return labels.map((l) => l.split(",").map((p) => { const [n, v] = p.split("="); return `${short[n]}=${v}`; }).join(","));
}

function levelText(level) {
  return Object.entries(level || {}).map(([axis, value]) => `${axis}=${value}`).join(",");
}

function keysMatching(pattern) {
  const found = new Map();
  for (const run of state.runs) {
    for (const key of Object.keys(run.cols)) {
      const match = key.match(pattern);
      if (match) found.set(key, match);
    }
  }
  return [...found.values()];
}

function tasksAndAxes() {
  const tasks = new Map();
  for (const run of state.runs) {
    for (const [task, axes] of Object.entries(run.axes)) for (const axis of axes) {
      if (!tasks.has(task)) tasks.set(task, new Set());
      tasks.get(task).add(axis);
    }
  }
  if (!tasks.size) { // files from before frontier/<task> was logged
    for (const m of keysMatching(/^curriculum\/([^/]+)\/([^/]+)$/)) {
      if (!tasks.has(m[1])) tasks.set(m[1], new Set());
      tasks.get(m[1]).add(m[2]);
    }
  }
  return tasks;
}

function series(run, key, extra) {
  return { name: state.runs.length > 1 ? `${run.name} · ${extra || key}` : extra || key,
    color: run.colour, x: run.steps, y: run.cols[key] || [] };
}

// ------------------------------------------------------------------ panels
function renderLevels(root) {
  root.replaceChildren();
  const tasks = tasksAndAxes();
  if (!tasks.size) html("p", { class: "empty" }, root, "no curriculum/<task>/<axis> keys yet");
  for (const [task, axes] of tasks) {
    for (const axis of axes) {
      const key = `curriculum/${task}/${axis}`;
      const markers = [];
      for (const run of state.runs) {
        for (const e of run.events) {
          if (e.task !== task || !e.to || !(axis in e.to) || e.from?.[axis] === e.to[axis]) continue;
          markers.push({ x: e.step, y: e.to[axis], color: e.event === "demote" ? "#b91c1c" : "#15803d",
            shape: e.event === "demote" ? "down" : "up",
            text: `${state.runs.length > 1 ? run.name + ": " : ""}step ${e.step}: ${e.event} ${levelText(e.from)} → ${levelText(e.to)}\n${e.reason || ""}` });
        }
      }
      const values = new Set();
      for (const run of state.runs) for (const v of run.cols[key] || []) if (v !== null) values.add(v);
      lineChart(root, { title: `${task} · ${axis}`, name: `level-${task}-${axis}`, integer: true,
        yTicks: values.size <= 12 ? [...values].sort((a, b) => a - b) : undefined,
        series: state.runs.map((run) => ({ ...series(run, key, axis), step: true })), markers });
    }
  }
}

function windowsOf(steps) {
  const size = Math.max(1, Math.ceil(steps.length / MAX_WINDOWS));
  const windows = [];
  for (let i = 0; i < steps.length; i += size) windows.push([i, Math.min(steps.length, i + size)]);
  return windows;
}

function levelGrid(run, task, levels, prefix, suffix, describe) {
  const windows = windowsOf(run.steps);
  const cells = levels.map((level) => {
    const column = run.cols[`${prefix}${task}/${level}${suffix}`] || [];
    return windows.map(([from, to]) => {
      let sum = 0, n = 0;
      for (let i = from; i < to; i++) if (column[i] !== null && column[i] !== undefined) { sum += column[i]; n += 1; }
      if (!n) return null;
      const value = sum / n;
      return { value, text: describe(level, run.steps[from], run.steps[to - 1], value, n) };
    });
  });
  return { windows: windows.map(([from, to]) => [run.steps[from], run.steps[to - 1]]), cells };
}

function renderHeatmaps(root) {
  root.replaceChildren();
  const levelsByTask = new Map();
  for (const m of keysMatching(/^reward\/([^/]+)\/([^/]+)\/mean$/)) {
    if (!levelsByTask.has(m[1])) levelsByTask.set(m[1], new Set());
    levelsByTask.get(m[1]).add(m[2]);
  }
  if (!levelsByTask.size) html("p", { class: "empty" }, root, "no reward/<task>/<level>/mean keys yet");
  for (const [task, found] of levelsByTask) {
    const levels = [...found].sort(byLevel).reverse(); // hardest on top
    html("h3", {}, root, task);
    const row = html("div", { class: "side-by-side" }, root);
    // Every column first, so each heatmap is drawn at its final width.
    const columns = state.runs.map(() => html("div", { class: "run-column" }, row));
    for (const [index, run] of state.runs.entries()) {
      const column = columns[index];
      if (state.runs.length > 1) html("div", { class: "run-name", style: `color:${run.colour}` }, column, run.name);
      const success = levelGrid(run, task, levels, "reward/", "/mean", (level, a, b, v, n) =>
        `${level} · steps ${a}–${b}\nsuccess ${format(v)} (mean reward; drawn in ${n} step(s))`);
      const rows = shortLabels(levels);
      heatmap(column, { title: "success rate", name: `success-${task}-${run.id}`, palette: "success", rows, ...success });
      const zero = levelGrid(run, task, levels, "zero_var/", "", (level, a, b, v, n) =>
        `${level} · steps ${a}–${b}\nzero-variance share ${format(v)} (groups whose completions all scored alike; ${n} step(s))`);
      heatmap(column, { title: "zero-variance share of groups", name: `zerovar-${task}-${run.id}`, palette: "share", rows, ...zero });
    }
  }
}

function renderSignals(root) {
  root.replaceChildren();
  const runs = state.runs;
  const tasks = [...new Set(keysMatching(/^reward\/([^/]+)\/mean$/).map((m) => m[1]))];
  const rewardSeries = runs.flatMap((run) => [series(run, "reward/mean", "all tasks"),
    ...(tasks.length > 1 ? tasks.map((t) => ({ ...series(run, `reward/${t}/mean`, t), dash: true })) : [])]);
  lineChart(root, { title: "reward (mean over completions)", name: "reward", series: rewardSeries, yMin: 0, yMax: 1 });

  const sets = keysMatching(/^eval\/([^/]+)\/pass@1$/).map((m) => m[1]);
  const refs = new Map(); // the same starting model scored on the same set: one line
  for (const run of runs) for (const set of sets) {
    const base = (run.cols[`eval_base/${set}/pass@1`] || []).find((v) => v !== null && v !== undefined);
    if (base === undefined) continue;
    const key = `${set}|${base}`;
    if (refs.has(key)) Object.assign(refs.get(key), { color: "#6b7280", label: `base ${set}` });
    else refs.set(key, { y: base, color: run.colour, label: `base ${set}${runs.length > 1 ? " · " + run.name : ""}` });
  }
  lineChart(root, { title: "held-out pass@1", name: "eval", yMin: 0, refs: [...refs.values()],
    series: runs.flatMap((run) => sets.map((set) => series(run, `eval/${set}/pass@1`, set))),
    empty: "no evaluation in these runs (eval.sets is empty)" });

  lineChart(root, { title: "response length (tokens)", name: "length", yMin: 0,
    series: runs.flatMap((run) => [series(run, "response_length/mean", "mean"),
      { ...series(run, "response_length/max", "max"), dash: true }]) });
  const words = keysMatching(/^words\/([^/]+)$/).map((m) => m[1]);
  if (words.length) lineChart(root, { title: "words per round (Self-Lengthen)", name: "words", yMin: 0,
    series: runs.flatMap((run) => words.map((w) => series(run, `words/${w}`, w.replace("_", " ")))) });
  lineChart(root, { title: "KL to the reference policy", name: "kl",
    series: runs.map((run) => series(run, "train/kl_mean", "kl")),
    empty: "no train/kl_mean in these runs (logged when trainer.beta > 0)" });
  lineChart(root, { title: "zero-variance share of groups (no GRPO signal)", name: "zero-var",
    yMin: 0, yMax: 1, series: runs.map((run) => series(run, "zero_var_frac", "zero-variance")) });
  lineChart(root, { title: "policy entropy (mean per token)", name: "entropy",
    series: runs.map((run) => series(run, "train/entropy_mean", "entropy")) });
}

function renderNotices(root) {
  root.replaceChildren();
  const notes = state.failure ? [{ level: "warn", text: state.failure }] : [];
  for (const run of state.runs) {
    for (const n of run.notices) notes.push({ ...n, text: state.runs.length > 1 ? `${run.name}: ${n.text}` : n.text });
  }
  for (const n of notes) html("div", { class: `notice ${n.level}` }, root, n.text);
}

function renderRuns(root) {
  root.replaceChildren();
  for (const run of state.runs) {
    const chip = html("span", { class: "run-chip", title: run.path }, root);
    html("span", { class: "dot", style: `background:${run.colour}` }, chip);
    const last = run.steps.length ? `step ${run.steps[run.steps.length - 1]} · ${run.steps.length} records` : "no records yet";
    html("span", {}, chip, `${run.name} (${last})`);
  }
}

function renderStatus() {
  const text = state.failure ? "server unreachable" : `live · updated ${state.lastPoll.toLocaleTimeString()}`;
  const status = document.getElementById("status");
  status.textContent = text;
  status.className = state.failure ? "down" : "up";
}

function render() {
  Charts.tooltip.hide();
  renderRuns(document.getElementById("runs"));
  renderNotices(document.getElementById("notices"));
  renderLevels(document.getElementById("levels"));
  renderHeatmaps(document.getElementById("heatmaps"));
  renderSignals(document.getElementById("signals"));
  Samples.render(document.getElementById("samples"), state);
}

let resizeTimer = null;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(render, 200); });
poll();
