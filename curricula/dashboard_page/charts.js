// SVG charts for the curriculum dashboard: line and step charts with event markers, heatmaps,
// one shared tooltip. No dependencies: the page must work without internet access.
// Long series are reduced to what the chart's pixels can show (min and max per pixel column;
// change points for step series), so a 10,000-step run draws as fast as a short one.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  const MARGIN = { left: 48, right: 14, top: 10, bottom: 26 };
  const POINT_MARKERS_UP_TO = 120; // a dot per point on short series, so each step is visible

  function el(tag, attrs, parent) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function html(tag, attrs, parent, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // The width inside a panel's padding: what an SVG in it may take.
  function innerWidth(box, fallback) {
    const style = getComputedStyle(box);
    const width = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    return width > 0 ? width : fallback;
  }

  // ---------------------------------------------------------------- tooltip
  const tooltip = {
    show(lines, event) {
      const box = document.getElementById("tooltip");
      box.replaceChildren(...lines.map((line) => html("div", {}, null, line)));
      box.hidden = false;
      const x = Math.min(event.clientX + 14, window.innerWidth - box.offsetWidth - 8);
      const y = event.clientY + 14 + box.offsetHeight > window.innerHeight
        ? event.clientY - box.offsetHeight - 10 : event.clientY + 14;
      box.style.left = `${Math.max(4, x)}px`;
      box.style.top = `${Math.max(4, y)}px`;
    },
    hide() {
      const box = document.getElementById("tooltip");
      if (box) box.hidden = true;
    },
  };

  // ---------------------------------------------------------------- scales
  function niceTicks(low, high, count) {
    if (!(high > low)) return [low];
    const raw = (high - low) / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => raw <= s) || raw;
    const ticks = [];
    for (let t = Math.ceil(low / step) * step; t <= high + step * 1e-9; t += step) {
      ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return ticks;
  }

  function format(value) {
    if (value === null || value === undefined) return "–";
    const size = Math.abs(value);
    if (size !== 0 && (size < 1e-3 || size >= 1e5)) return value.toExponential(2);
    return Number.isInteger(value) ? String(value) : value.toFixed(size < 1 ? 3 : 2);
  }

  function extent(values) {
    let low = Infinity, high = -Infinity;
    for (const v of values) { if (v < low) low = v; if (v > high) high = v; }
    return [low, high];
  }

  // Tick labels with as many decimals as the tick step needs (0.25, not 0.250).
  function tickFormat(ticks) {
    if (ticks.length < 2) return format;
    const step = Math.abs(ticks[1] - ticks[0]);
    const size = Math.max(...ticks.map(Math.abs));
    if (size >= 1e5 || size < 1e-3) return (v) => v.toExponential(1);
    const decimals = Math.min(6, Math.max(0, -Math.floor(Math.log10(step) + 1e-9)));
    return (v) => v.toFixed(decimals);
  }

  function linear(domainLow, domainHigh, rangeLow, rangeHigh) {
    const span = domainHigh - domainLow || 1;
    return (v) => rangeLow + ((v - domainLow) / span) * (rangeHigh - rangeLow);
  }

  // ---------------------------------------------------------------- series shaping
  function points(series) {
    const out = [];
    for (let i = 0; i < series.x.length; i++) {
      const y = series.y[i];
      if (y !== null && y !== undefined) out.push([series.x[i], y]);
    }
    return out;
  }

  // Keep the first and last point and, per pixel column, the lowest and highest.
  function reduce(pts, xScale, columns) {
    if (pts.length <= 2 * columns) return pts;
    const out = [];
    let column = null, low = null, high = null;
    const flush = () => {
      if (low === null) return;
      if (low === high) out.push(low);
      else if (low[0] <= high[0]) out.push(low, high);
      else out.push(high, low);
    };
    for (const p of pts) {
      const c = Math.round(xScale(p[0]));
      if (c !== column) { flush(); column = c; low = high = p; continue; }
      if (p[1] < low[1]) low = p;
      if (p[1] > high[1]) high = p;
    }
    flush();
    return out;
  }

  function changePoints(pts) {
    const out = [];
    for (let i = 0; i < pts.length; i++) {
      if (i === 0 || i === pts.length - 1 || pts[i][1] !== pts[i - 1][1]) out.push(pts[i]);
    }
    return out;
  }

  function pathOf(pts, xs, ys, step) {
    let d = "";
    pts.forEach(([x, y], i) => {
      const px = xs(x).toFixed(1), py = ys(y).toFixed(1);
      if (i === 0) d += `M${px},${py}`;
      else if (step) d += `H${px}V${py}`;
      else d += `L${px},${py}`;
    });
    return d;
  }

  // ---------------------------------------------------------------- line chart
  // spec: {title, name, series: [{name, color, x, y, step, dash}], markers: [{x, y, color,
  //        shape: "up"|"down", text}], refs: [{y, color, label}], integer, yMin, yMax, empty}
  function lineChart(container, spec) {
    const box = html("div", { class: "chart", "data-chart": spec.name }, container);
    html("h3", {}, box, spec.title);
    const lines = spec.series.map((s) => ({ ...s, pts: points(s) }));
    const total = lines.reduce((n, s) => n + s.pts.length, 0);
    if (!total) {
      html("p", { class: "empty" }, box, spec.empty || "no data yet");
      return box;
    }
    const width = Math.max(260, innerWidth(box, 520)), height = spec.height || 190;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}` }, box);
    const xsAll = [], ysAll = [];
    for (const s of lines) for (const [x, y] of s.pts) { xsAll.push(x); ysAll.push(y); }
    for (const m of spec.markers || []) { xsAll.push(m.x); ysAll.push(m.y); }
    for (const r of spec.refs || []) ysAll.push(r.y);
    let [x0, x1] = extent(xsAll);
    let [y0, y1] = extent(ysAll);
    if (spec.yMin !== undefined) y0 = Math.min(y0, spec.yMin);
    if (spec.yMax !== undefined) y1 = Math.max(y1, spec.yMax);
    if (x0 === x1) { x0 -= 0.5; x1 += 0.5; }
    if (y0 === y1) { y0 -= spec.integer ? 1 : 0.5; y1 += spec.integer ? 1 : 0.5; }
    else if (!spec.integer) { const pad = (y1 - y0) * 0.06; y0 -= pad; y1 += pad; }
    else { y0 -= 0.3; y1 += 0.3; }
    const plotRight = width - MARGIN.right, plotBottom = height - MARGIN.bottom;
    const xs = linear(x0, x1, MARGIN.left, plotRight);
    const ys = linear(y0, y1, plotBottom, MARGIN.top);
    drawAxes(svg, spec, xs, ys, [x0, x1], [y0, y1], plotRight, plotBottom);
    for (const r of spec.refs || []) {
      el("line", { x1: MARGIN.left, x2: plotRight, y1: ys(r.y), y2: ys(r.y), stroke: r.color,
        "stroke-dasharray": "2 3", class: "ref" }, svg);
      el("text", { x: plotRight - 4, y: ys(r.y) - 3, "text-anchor": "end", class: "ref-label",
        fill: r.color }, svg).textContent = r.label;
    }
    for (const s of lines) {
      const shown = s.step ? changePoints(s.pts) : reduce(s.pts, xs, plotRight - MARGIN.left);
      el("path", { d: pathOf(shown, xs, ys, s.step), stroke: s.color, fill: "none",
        "stroke-width": s.step ? 2.2 : 1.6, "stroke-dasharray": s.dash ? "5 3" : "none",
        class: "series", "data-series": s.name, "data-points": s.pts.length }, svg);
      if (!s.step && s.pts.length <= POINT_MARKERS_UP_TO) {
        for (const [x, y] of s.pts) {
          el("circle", { cx: xs(x), cy: ys(y), r: 2.6, fill: s.color, class: "pt",
            "data-series": s.name }, svg);
        }
      }
    }
    const guide = el("line", { y1: MARGIN.top, y2: plotBottom, class: "guide", visibility: "hidden" }, svg);
    const overlay = el("rect", { x: MARGIN.left, y: MARGIN.top, width: plotRight - MARGIN.left,
      height: plotBottom - MARGIN.top, fill: "transparent", class: "overlay" }, svg);
    overlay.addEventListener("mousemove", (event) => {
      const bounds = svg.getBoundingClientRect();
      const x = x0 + ((event.clientX - bounds.left - MARGIN.left) / (plotRight - MARGIN.left)) * (x1 - x0);
      const rows = nearestRows(lines, x);
      if (!rows.length) return;
      guide.setAttribute("x1", xs(rows[0].x)); guide.setAttribute("x2", xs(rows[0].x));
      guide.setAttribute("visibility", "visible");
      tooltip.show([`step ${rows[0].x}`, ...rows.map((r) => `${r.name}: ${format(r.y)}`)], event);
    });
    overlay.addEventListener("mouseleave", () => { guide.setAttribute("visibility", "hidden"); tooltip.hide(); });
    for (const m of spec.markers || []) drawMarker(svg, m, xs, ys);
    if (lines.length > 1) legend(box, lines);
    return box;
  }

  function nearestRows(lines, x) {
    const rows = [];
    for (const s of lines) {
      if (!s.pts.length) continue;
      let lo = 0, hi = s.pts.length - 1;
      while (lo < hi) { const mid = (lo + hi) >> 1; if (s.pts[mid][0] < x) lo = mid + 1; else hi = mid; }
      if (lo > 0 && Math.abs(s.pts[lo - 1][0] - x) < Math.abs(s.pts[lo][0] - x)) lo -= 1;
      rows.push({ name: s.name, x: s.pts[lo][0], y: s.pts[lo][1] });
    }
    return rows;
  }

  function drawAxes(svg, spec, xs, ys, [x0, x1], [y0, y1], plotRight, plotBottom) {
    const axis = el("g", { class: "axis" }, svg);
    el("line", { x1: MARGIN.left, x2: plotRight, y1: plotBottom, y2: plotBottom }, axis);
    el("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: plotBottom }, axis);
    const xTicks = niceTicks(x0, x1, Math.max(2, Math.floor((plotRight - MARGIN.left) / 80)))
      .filter((t) => Number.isInteger(t));
    for (const t of xTicks) {
      el("line", { x1: xs(t), x2: xs(t), y1: plotBottom, y2: plotBottom + 4 }, axis);
      el("text", { x: xs(t), y: plotBottom + 16, "text-anchor": "middle" }, axis).textContent = t;
    }
    let yTicks = spec.yTicks || niceTicks(y0, y1, 4);
    if (spec.integer && !spec.yTicks) yTicks = yTicks.filter((t) => Number.isInteger(t));
    const label = spec.yTicks ? format : tickFormat(yTicks);
    for (const t of yTicks) {
      el("line", { x1: MARGIN.left, x2: plotRight, y1: ys(t), y2: ys(t), class: "grid" }, axis);
      el("text", { x: MARGIN.left - 6, y: ys(t) + 4, "text-anchor": "end" }, axis).textContent = label(t);
    }
  }

  function drawMarker(svg, m, xs, ys) {
    const x = xs(m.x), y = ys(m.y), s = 6;
    const d = m.shape === "down"
      ? `M${x - s},${y - s}L${x + s},${y - s}L${x},${y + s / 2}Z`
      : `M${x - s},${y + s}L${x + s},${y + s}L${x},${y - s / 2}Z`;
    const node = el("path", { d, fill: m.color, stroke: "#fff", "stroke-width": 1,
      class: `marker ${m.shape}`, "data-text": m.text }, svg);
    node.addEventListener("mousemove", (event) => { event.stopPropagation(); tooltip.show(m.text.split("\n"), event); });
    node.addEventListener("mouseleave", () => tooltip.hide());
  }

  function legend(box, lines) {
    const row = html("div", { class: "legend" }, box);
    for (const s of lines) {
      const item = html("span", { class: "legend-item" }, row);
      html("span", { class: `swatch${s.dash ? " dashed" : ""}`, style: `border-color:${s.color}` }, item);
      html("span", {}, item, s.name);
    }
  }

  // ---------------------------------------------------------------- heatmap
  const PALETTES = {
    success: ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"], // viridis: 0 -> 1
    share: ["#fdebd3", "#fdba74", "#f97316", "#c2410c", "#7c2d12"],
  };

  function colour(palette, value) {
    const stops = PALETTES[palette];
    const t = Math.min(1, Math.max(0, value)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(t));
    const mix = (a, b) => Math.round(a + (b - a) * (t - i));
    const rgb = (h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16));
    const [a, b] = [rgb(stops[i]), rgb(stops[i + 1])];
    return `rgb(${mix(a[0], b[0])},${mix(a[1], b[1])},${mix(a[2], b[2])})`;
  }

  // spec: {title, name, palette, rows: [label, top first], windows: [[firstStep, lastStep]],
  //        cells: rows x windows of {value, text} or null}
  function heatmap(container, spec) {
    const box = html("div", { class: "heatmap", "data-heatmap": spec.name }, container);
    html("h4", {}, box, spec.title);
    if (!spec.rows.length || !spec.windows.length) {
      html("p", { class: "empty" }, box, "no data yet");
      return box;
    }
    const longest = Math.max(...spec.rows.map((row) => row.length));
    const label = Math.min(220, 16 + 6.6 * longest), cellHeight = 18, top = 4, bottom = 20;
    const width = Math.max(220, innerWidth(box, 420));
    const cellWidth = (width - label - 6) / spec.windows.length;
    const height = top + cellHeight * spec.rows.length + bottom;
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}` }, box);
    spec.rows.forEach((row, r) => {
      el("text", { x: label - 6, y: top + r * cellHeight + 13, "text-anchor": "end", class: "row-label" }, svg)
        .textContent = row;
      spec.windows.forEach((_, c) => {
        const cell = spec.cells[r][c];
        const rect = el("rect", { x: label + c * cellWidth, y: top + r * cellHeight,
          width: Math.max(1, cellWidth - 1), height: cellHeight - 1,
          fill: cell ? colour(spec.palette, cell.value) : "#ffffff",
          class: cell ? "cell" : "cell empty" }, svg);
        if (cell) {
          rect.addEventListener("mousemove", (event) => tooltip.show(cell.text.split("\n"), event));
          rect.addEventListener("mouseleave", () => tooltip.hide());
        }
      });
    });
    const axisY = top + cellHeight * spec.rows.length + 14;
    const every = Math.max(1, Math.ceil(spec.windows.length / Math.max(1, (width - label) / 70)));
    spec.windows.forEach((w, c) => {
      if (c % every) return;
      el("text", { x: label + c * cellWidth, y: axisY, class: "tick" }, svg).textContent = w[0];
    });
    const scale = html("div", { class: "scale" }, box);
    html("span", {}, scale, "0");
    html("span", { class: "ramp", style: `background:linear-gradient(90deg,${PALETTES[spec.palette].join(",")})` }, scale);
    html("span", {}, scale, "1");
    return box;
  }

  return { lineChart, heatmap, tooltip, format, niceTicks, reduce, html };
})();
