// Sample completions per task and level, from the rollouts file the driver writes
// (rl/rollout_log.py): the prompt, the gold answer, and each completion of the group with its
// reward. Fetched only when the selection changes or the run wrote new samples.
"use strict";

const Samples = (() => {
  const { html, format } = Charts;
  const picked = { run: null, task: "", level: "" };
  let shownKey = null;
  let list = null; // kept across redraws: refetched only when the selection or the run's samples change

  function select(parent, label, values, current, onChange) {
    const wrap = html("label", {}, parent, `${label} `);
    const node = html("select", { "data-select": label }, wrap);
    for (const [value, text] of values) {
      const option = html("option", { value }, node, text);
      if (String(value) === String(current)) option.selected = true;
    }
    node.addEventListener("change", () => onChange(node.value));
    return node;
  }

  function byLevel(a, b) {
    const num = (s) => s.split(",").map((p) => Number(p.split("=")[1]) || 0);
    const [x, y] = [num(a), num(b)];
    for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
    return a < b ? -1 : 1;
  }

  function controls(root, state) {
    const runs = state.runs;
    if (picked.run === null || !runs.some((r) => r.id === picked.run)) picked.run = runs.length ? runs[0].id : null;
    const run = runs.find((r) => r.id === picked.run);
    const index = run ? run.samples : {};
    const tasks = Object.keys(index).sort();
    if (!tasks.includes(picked.task)) picked.task = tasks[0] || "";
    const levels = Object.keys(index[picked.task] || {}).sort(byLevel);
    if (!levels.includes(picked.level)) picked.level = levels[levels.length - 1] || "";
    const bar = html("div", { class: "sample-controls" }, root);
    if (!tasks.length) return { run, tasks };
    const redraw = () => render(root, state);
    if (runs.length > 1) {
      select(bar, "run", runs.map((r) => [r.id, r.name]), picked.run, (v) => { picked.run = Number(v); redraw(); });
    }
    select(bar, "task", tasks.map((t) => [t, t]), picked.task, (v) => { picked.task = v; picked.level = ""; redraw(); });
    select(bar, "level", levels.map((l) => [l, `${l} (newest step ${index[picked.task][l]})`]), picked.level,
      (v) => { picked.level = v; redraw(); });
    return { run, tasks };
  }

  async function render(root, state) {
    root.replaceChildren();
    const { run, tasks } = controls(root, state);
    if (!run || !tasks.length) {
      shownKey = null;
      html("p", { class: "empty" }, root,
        "no samples yet (the driver writes rollouts.jsonl in the run directory; logging.samples_per_level=0 turns it off)");
      return;
    }
    const key = `${run.id}|${picked.task}|${picked.level}|${run.samplesSeq}`;
    if (key === shownKey && list) {
      root.appendChild(list);
      return;
    }
    list = html("div", { class: "sample-list" }, root);
    const query = `task=${encodeURIComponent(picked.task)}&level=${encodeURIComponent(picked.level)}`;
    let groups;
    try {
      groups = await (await fetch(`/api/run/${run.id}/samples?${query}`, { cache: "no-store" })).json();
    } catch (error) {
      html("p", { class: "empty" }, list, `could not load samples: ${error.message}`);
      return;
    }
    shownKey = key;
    list.replaceChildren(...groups.map(card));
  }

  function card(group) {
    const box = html("article", { class: "sample" });
    const rewards = group.completions.map((c) => c.reward);
    const mean = rewards.reduce((a, b) => a + b, 0) / Math.max(1, rewards.length);
    html("div", { class: "sample-head" }, box,
      `step ${group.step} · ${group.task} ${group.level_key} · item ${group.id} · mean reward ${format(mean)}`);
    const prompt = html("details", {}, box);
    html("summary", {}, prompt, "prompt");
    html("pre", {}, prompt, group.prompt);
    const gold = Array.isArray(group.answer) ? group.answer.join(" | ") : String(group.answer);
    html("div", { class: "gold" }, box, `gold answer: ${gold}`);
    for (const c of group.completions) {
      const row = html("div", { class: "completion" }, box);
      const good = Math.max(0, Math.min(1, c.reward));
      html("span", { class: "reward", style: `background:hsl(${Math.round(good * 120)},65%,88%)` }, row, format(c.reward));
      html("span", { class: "meta" }, row, `${c.tokens} tokens${c.finish_reason === "length" ? " · cut at max_tokens" : ""}`);
      html("pre", {}, row, c.text);
    }
    return box;
  }

  return { render, shown: () => shownKey };
})();
