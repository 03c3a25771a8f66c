// pipewise's pages: one module, no build step. Every number comes from the
// JSON API (/api/openapi.json), computed by the server inside the caller's
// scope; this file only asks, lays out and draws (Chart.js, vendored).
//
// The address is the state: #/PAGE[/ARG]?period=…&as_of=…&under=…&known=1,
// so every view can be bookmarked, shared and time-travelled.

const $ = (sel, el = document) => el.querySelector(sel);
const page = () => $("#page");

// ---------- the API ----------

function cookie(name) {
  const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
  return m ? decodeURIComponent(m[1]) : null;
}

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let pending = 0;
function busy(delta) {
  pending += delta;
  $("#busy").textContent = pending > 0 ? "Computing…" : "";
}

async function api(path, params = {}, init = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, v === true ? "true" : v);
  }
  const url = "/api/" + path + (q.toString() ? "?" + q : "");
  const headers = { accept: "application/json", ...(init.headers || {}) };
  if (init.method && init.method !== "GET") {
    // (a form's body sets its own multipart content type)
    if (!(init.body instanceof FormData)) headers["content-type"] = "application/json";
    const csrf = cookie("pipewise_csrf");
    if (csrf) headers["x-csrf-token"] = csrf;
  }
  busy(1);
  try {
    const r = await fetch(url, { credentials: "same-origin", ...init, headers });
    const text = await r.text();
    const body = text ? JSON.parse(text) : null;
    if (!r.ok) {
      throw new ApiError(r.status, body?.code ?? "error", body?.message ?? r.statusText);
    }
    return body;
  } finally {
    busy(-1);
  }
}

// ---------- formatting (tables are for people: separators, %, rounding) ----------

const nf0 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const nf1 = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, minimumFractionDigits: 1 });

function fmt(v, unit) {
  if (v === null || v === undefined || Number.isNaN(v)) return "—";
  switch (unit) {
    case "ratio": return nf1.format(v * 100) + "%";
    case "currency": return nf0.format(v);
    case "days": return nf1.format(v) + " d";
    case "hours": return nf1.format(v) + " h";
    case "count": return nf0.format(v);
    default: return typeof v === "number" ? (Number.isInteger(v) ? nf0.format(v) : nf1.format(v)) : String(v);
  }
}

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// ---------- the address ----------

function route() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = raw.split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "pipeline", arg: rest.map(decodeURIComponent).join("/"), params: new URLSearchParams(query) };
}

let me = null;

/// The fiscal quarter holding each as-of day asked about (the default period).
const quarters = {};

function filters() {
  const p = route().params;
  const asOf = p.get("as_of") ?? me.data_through;
  return {
    period: p.get("period") ?? quarters[asOf] ?? me.quarter,
    as_of: asOf,
    under: p.get("under") ?? "",
    segment: p.get("segment") ?? "",
    known: p.get("known") === "1",
  };
}

/// A link to `name` (and `arg`) keeping the global filters.
function link(name, arg = "", extra = {}) {
  const f = filters();
  const q = new URLSearchParams();
  if (f.period) q.set("period", f.period);
  if (f.as_of) q.set("as_of", f.as_of);
  if (f.under) q.set("under", f.under);
  if (f.segment) q.set("segment", f.segment);
  if (f.known) q.set("known", "1");
  for (const [k, v] of Object.entries(extra)) if (v) q.set(k, v);
  return "#/" + name + (arg ? "/" + encodeURIComponent(arg) : "") + "?" + q;
}

// ---------- tables: sortable, downloadable ----------

function csvCell(v) {
  if (v === null || v === undefined) return "";
  const s = String(v);
  return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
}

function download(name, columns, rows) {
  const lines = [columns.map((c) => csvCell(c.key)).join(",")];
  for (const r of rows) lines.push(columns.map((c) => csvCell(c.raw ? c.raw(r) : r[c.key])).join(","));
  const blob = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
  const a = h("a", { href: URL.createObjectURL(blob), download: name + ".csv" });
  document.body.append(a);
  a.click();
  a.remove();
}

/// columns: [{key, label, unit, cell(row) -> Node|string, raw(row) -> value}]
function table(name, columns, rows, opts = {}) {
  let sortKey = opts.sort ?? null;
  let desc = opts.desc ?? false;
  const limit = opts.limit ?? 500;
  const wrap = h("div", { class: "table", "data-table": name });
  const draw = () => {
    const sorted = [...rows];
    if (sortKey) {
      const col = columns.find((c) => c.key === sortKey);
      const val = (r) => (col.raw ? col.raw(r) : r[sortKey]);
      // (empty cells last in either direction)
      const none = (v) => v === null || v === undefined;
      sorted.sort((a, b) => {
        const x = val(a), y = val(b);
        if (none(x) || none(y)) return none(x) === none(y) ? 0 : none(x) ? 1 : -1;
        const o = x === y ? 0 : x < y ? -1 : 1;
        return desc ? -o : o;
      });
    }
    const head = h("tr", {}, columns.map((c) => {
      const dir = sortKey === c.key ? (desc ? "descending" : "ascending") : "none";
      return h("th", { scope: "col", "aria-sort": dir, class: c.unit && c.unit !== "text" ? "num" : null },
        h("button", { type: "button", class: "sort", onclick: () => { desc = sortKey === c.key ? !desc : c.unit !== undefined && c.unit !== "text"; sortKey = c.key; draw(); } }, c.label ?? c.key));
    }));
    const body = sorted.slice(0, limit).map((r) => h("tr", {}, columns.map((c) => {
      const v = c.cell ? c.cell(r) : fmt(r[c.key], c.unit);
      return h("td", { class: c.unit && c.unit !== "text" ? "num" : null }, v);
    })));
    const more = sorted.length > limit ? h("p", { class: "note" }, `Showing ${nf0.format(limit)} of ${nf0.format(sorted.length)} rows; the CSV has them all.`) : null;
    wrap.replaceChildren(
      h("div", { class: "table-tools" },
        h("span", { class: "count" }, `${nf0.format(rows.length)} rows`),
        h("button", { type: "button", class: "csv", onclick: () => download(name, columns, sorted) }, "Download CSV")),
      h("table", {}, h("thead", {}, head), h("tbody", {}, body)),
      ...(more ? [more] : []));
  };
  draw();
  return wrap;
}

// ---------- charts ----------

const charts = [];
function chart(label, config) {
  const canvas = h("canvas", { role: "img", "aria-label": label });
  const box = h("div", { class: "chart" }, canvas);
  queueMicrotask(() => {
    if (!window.Chart) return;
    config.options = { animation: false, responsive: true, maintainAspectRatio: false, ...(config.options || {}) };
    charts.push(new window.Chart(canvas, config));
  });
  return box;
}

function clearCharts() {
  while (charts.length) charts.pop().destroy();
}

const colors = ["#2f6fdf", "#e0832f", "#3a9d5d", "#c4423c", "#7a5bc7", "#8c6d46", "#d15fa6", "#6c757d", "#b5a22b", "#2fb3c4", "#444"];

// ---------- pages ----------

let metricInfo = null;
async function metrics() {
  metricInfo ??= Object.fromEntries((await api("metrics")).map((m) => [m.name, m]));
  return metricInfo;
}

let people = null;
async function names() {
  people ??= Object.fromEntries((await api("people")).map((p) => [p.id, p]));
  return people;
}
const personName = (id) => (id && people?.[id]?.name) || id || "—";

function section(title, ...body) {
  return h("section", { class: "panel", "aria-label": title }, h("h2", {}, title), ...body);
}

function errorBox(e) {
  return h("p", { class: "error", role: "alert" }, e instanceof ApiError ? `${e.message} (${e.code})` : String(e));
}

/// Nodes to put on the page (absent parts left out).
const kids = (nodes) => [nodes].flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false);

/// A panel filled when its data comes; a failure shows in the panel only.
function later(title, load) {
  const s = section(title, h("p", { class: "note" }, "Loading…"));
  load().then(
    (nodes) => s.replaceChildren(h("h2", {}, title), ...kids(nodes)),
    (e) => s.replaceChildren(h("h2", {}, title), errorBox(e)),
  );
  return s;
}

const KPIS = ["open_pipeline", "pipeline_coverage", "win_rate", "average_won_deal_size", "average_sales_cycle_days", "booked_new_business", "quota_attainment", "pipeline_created"];

function kpiCard(row, info) {
  const st = row.status ?? "none";
  return h("a", { class: `kpi status-${st}`, href: link("explain", row.metric), "data-metric": row.metric, "aria-label": `${info?.purpose ?? row.metric}: ${fmt(row.value, row.unit)}${row.status ? ", " + row.status : ""}; show the deals behind it` },
    h("span", { class: "kpi-name" }, row.metric.replaceAll("_", " ")),
    h("span", { class: "kpi-value", "data-value": row.value ?? "" }, row.error ? "n/a" : fmt(row.value, row.unit)),
    h("span", { class: "kpi-status" }, row.error ? row.error : row.status ?? "no thresholds"));
}

function daysBefore(date, n) {
  const d = new Date(date + "T00:00:00Z");
  d.setUTCDate(d.getUTCDate() - n);
  return d.toISOString().slice(0, 10);
}

async function pipelinePage() {
  const f = filters();
  const base = { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known };
  const from = route().params.get("from") ?? daysBefore(f.as_of, 28);
  return [
    h("h1", {}, "Pipeline"),
    later("Key numbers", async () => {
      const [rows, info] = await Promise.all([api("scorecard", { ...base, metrics: KPIS.join(",") }), metrics()]);
      const total = rows.filter((r) => r.dimension === null);
      return h("div", { class: "kpis" }, KPIS.map((k) => total.find((r) => r.metric === k)).filter(Boolean).map((r) => kpiCard(r, info[r.metric])));
    }),
    later("Sales velocity: which factor moved it since the period before", async () => {
      const rows = await api("velocity", { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known });
      const unit = { qualified_opportunities: "count", average_won_deal_size: "currency", close_rate: "ratio", average_sales_cycle_days: "days", sales_velocity_per_day: "currency" };
      const parts = rows.filter((r) => r.factor !== "sales_velocity_per_day" && r.contribution !== null);
      return [
        parts.length ? chart("Each factor's share of the change in velocity per day", { type: "bar", data: { labels: parts.map((r) => r.factor.replaceAll("_", " ")), datasets: [{ label: "Change in velocity per day", data: parts.map((r) => r.contribution), backgroundColor: parts.map((r) => (r.contribution >= 0 ? colors[2] : colors[3])) }] }, options: { plugins: { legend: { display: false } } } }) : h("p", { class: "note" }, "No decomposition: a factor is zero in one of the periods."),
        table("velocity", [
          { key: "factor", label: "Factor", unit: "text", cell: (r) => r.factor.replaceAll("_", " ") },
          { key: "before", label: "Period before", unit: "number", cell: (r) => fmt(r.before, unit[r.factor]) },
          { key: "after", label: "This period", unit: "number", cell: (r) => (r.factor === "sales_velocity_per_day" ? fmt(r.after, unit[r.factor]) : h("a", { href: link("explain", r.factor), "data-factor": r.factor }, fmt(r.after, unit[r.factor]))) },
          { key: "contribution", label: "Change in velocity per day", unit: "currency" },
        ], rows),
      ];
    }),
    later("Funnel", async () => {
      const rows = await api("funnel", base);
      const cols = [
        { key: "pipeline", label: "Pipeline", unit: "text" },
        { key: "stage", label: "Stage", unit: "text" },
        { key: "entered", label: "Entered", unit: "count", cell: (r) => h("a", { href: link("stage", r.stage), "data-stage": r.stage }, fmt(r.entered, "count")) },
        { key: "of_previous", label: "% of previous", unit: "ratio" },
        { key: "advanced", label: "Advanced", unit: "count", cell: (r) => h("a", { href: link("stage", r.stage, { advanced: "1" }) }, fmt(r.advanced, "count")) },
        { key: "conversion", label: "Conversion", unit: "ratio" },
        { key: "median_days", label: "Median days in stage", unit: "days" },
        { key: "p75_days", label: "P75 days", unit: "days" },
      ];
      return [
        chart("Deals entering each stage", {
          type: "bar",
          data: { labels: rows.map((r) => r.stage), datasets: [{ label: "Entered", data: rows.map((r) => r.entered), backgroundColor: colors[0] }, { label: "Advanced", data: rows.map((r) => r.advanced), backgroundColor: colors[2] }] },
          options: { indexAxis: "y" },
        }),
        table("funnel", cols, rows),
      ];
    }),
    later(`Waterfall from ${from} to ${f.as_of}`, async () => {
      const flow = await api("flow", { from, to: f.as_of, period: f.period, under: f.under, segment: f.segment, deals: true });
      const bars = flow.buckets.filter((b) => b.waterfall);
      let run = 0;
      const spans = bars.map((b) => {
        if (b.bucket === "start" || b.bucket === "end") { run = b.amount; return [0, b.amount]; }
        const s = [run, run + b.amount];
        run += b.amount;
        return s;
      });
      const cols = [
        { key: "bucket", label: "Bucket", unit: "text" },
        { key: "deals", label: "Deals", unit: "count" },
        { key: "count", label: "Change in count", unit: "count" },
        { key: "amount", label: "Change in amount", unit: "currency" },
      ];
      const dealCols = [
        { key: "bucket", label: "Bucket", unit: "text" },
        { key: "opportunity_id", label: "Deal", unit: "text", cell: (r) => h("a", { href: link("deal", r.opportunity_id) }, r.opportunity_id) },
        { key: "amount", label: "Amount", unit: "currency" },
      ];
      return [
        chart("Pipeline waterfall", {
          type: "bar",
          data: { labels: bars.map((b) => b.bucket.replaceAll("_", " ")), datasets: [{ label: "Amount", data: spans, backgroundColor: bars.map((b) => (b.bucket === "start" || b.bucket === "end" ? colors[7] : b.amount >= 0 ? colors[2] : colors[3])) }] },
          options: { plugins: { legend: { display: false } } },
        }),
        table("waterfall", cols, flow.buckets),
        h("details", {}, h("summary", {}, "The deals behind each bucket"), table("waterfall-deals", dealCols, flow.deals)),
      ];
    }),
    later("Coverage against quota, by team", async () => {
      const rows = await api("scorecard", { ...base, by: "team", metrics: "pipeline_coverage,open_pipeline,quota_attainment" });
      const teams = [...new Set(rows.filter((r) => r.dimension === "team").map((r) => r.group))];
      const get = (t, m) => rows.find((r) => r.dimension === "team" && r.group === t && r.metric === m);
      await names();
      // a team's manager: whom its reps report to (to open the team's deals)
      const managerOf = (t) => Object.values(people).find((p) => p.team === t && p.manager_id && !p.manages)?.manager_id ?? null;
      const data = teams.map((t) => ({ team: t ?? "(none)", manager: managerOf(t), coverage: get(t, "pipeline_coverage")?.value ?? null, open: get(t, "open_pipeline")?.value ?? null, attainment: get(t, "quota_attainment")?.value ?? null, status: get(t, "pipeline_coverage")?.status ?? null }));
      const open = (m, unit) => (r) => (r.manager ? h("a", { href: link("explain", m, { under: r.manager }) }, fmt(r[unit[0]], unit[1])) : fmt(r[unit[0]], unit[1]));
      return [
        chart("Pipeline coverage by team", { type: "bar", data: { labels: data.map((d) => d.team), datasets: [{ label: "Coverage (× quota)", data: data.map((d) => d.coverage), backgroundColor: colors[0] }] } }),
        table("coverage", [
          { key: "team", label: "Team", unit: "text" },
          { key: "open", label: "Open pipeline", unit: "currency", cell: open("open_pipeline", ["open", "currency"]) },
          { key: "coverage", label: "Coverage (× quota)", unit: "number", cell: open("pipeline_coverage", ["coverage", "number"]) },
          { key: "status", label: "Status", unit: "text", cell: (r) => h("span", { class: `badge status-${r.status ?? "none"}` }, r.status ?? "—") },
          { key: "attainment", label: "Quota attainment", unit: "ratio", cell: open("quota_attainment", ["attainment", "ratio"]) },
        ], data),
      ];
    }),
  ];
}

async function forecastPage() {
  const f = filters();
  const base = { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known };
  return [
    h("h1", {}, "Forecast"),
    later(`Every method for ${f.period}, as of ${f.as_of}`, async () => {
      const rows = (await api("forecast", base)).filter((r) => r.group === "all");
      const rec = rows.find((r) => r.recommended);
      return [
        rec ? h("p", { class: "note" }, `Recommended: ${rec.method}. ${rec.why ?? ""}`) : h("p", { class: "note" }, "No method is recommended yet: too little history to rank them."),
        chart("Forecast by method with its P10 to P90 band", {
          type: "bar",
          data: {
            labels: rows.map((r) => r.method),
            datasets: [
              { label: "P10–P90", data: rows.map((r) => (r.p10 !== null && r.p90 !== null ? [r.p10, r.p90] : null)), backgroundColor: "rgba(47,111,223,0.25)", grouped: false },
              { label: "Forecast", data: rows.map((r) => r.value), backgroundColor: rows.map((r) => (r.recommended ? colors[1] : colors[0])), barPercentage: 0.4, grouped: false },
              { label: "Quota", type: "line", data: rows.map((r) => r.quota), borderColor: colors[3], pointRadius: 0 },
            ],
          },
        }),
        table("forecast", [
          { key: "method", label: "Method", unit: "text", cell: (r) => h("a", { href: link("method", r.method), "data-method": r.method }, r.recommended ? h("strong", {}, r.method + " ★") : r.method) },
          { key: "value", label: "Forecast", unit: "currency" },
          { key: "p10", label: "P10", unit: "currency" },
          { key: "p50", label: "P50", unit: "currency" },
          { key: "p90", label: "P90", unit: "currency" },
          { key: "quota", label: "Quota", unit: "currency" },
          { key: "gap", label: "Gap to quota", unit: "currency" },
          { key: "warnings", label: "Watch", unit: "text", raw: (r) => r.warnings.join("; "), cell: (r) => r.warnings.join("; ") },
        ], rows),
      ];
    }),
    later("Open pipeline closing in the period, by forecast category", async () => {
      const rows = await api("metrics/open_pipeline", { ...base, by: "forecast_category" });
      return [
        chart("Open pipeline by forecast category", { type: "bar", data: { labels: rows.map((r) => r.dims.forecast_category ?? "(none)"), datasets: [{ label: "Open pipeline", data: rows.map((r) => r.value), backgroundColor: colors[0] }] } }),
        table("categories", [
          { key: "category", label: "Forecast category", unit: "text", raw: (r) => r.dims.forecast_category, cell: (r) => r.dims.forecast_category ?? "(none)" },
          { key: "value", label: "Amount", unit: "currency", cell: (r) => h("a", { href: link("explain", "open_pipeline", { by: "forecast_category", value: r.dims.forecast_category ?? "(none)" }), "data-category": r.dims.forecast_category ?? "(none)" }, fmt(r.value, "currency")) },
        ], rows),
      ];
    }),
    later("Calls, de-biased by each caller's record", async () => {
      const rows = await api("submissions/debiased", { period: f.period, as_of: f.as_of });
      if (!rows.length) return h("p", { class: "note" }, `No calls for ${f.period} by ${f.as_of} in your scope.`);
      await names();
      const own = rows.filter((r) => r.level === "own");
      const sum = (k) => own.reduce((s, r) => s + r[k], 0);
      const total = { name: "Roll-up of own calls", level: "own", commit: sum("commit"), commit_debiased: sum("commit_debiased"), most_likely: sum("most_likely"), most_likely_debiased: sum("most_likely_debiased"), best_case: sum("best_case"), best_case_debiased: sum("best_case_debiased"), why: "" };
      return table("debiased", [
        { key: "name", label: "Who", unit: "text" },
        { key: "level", label: "Level", unit: "text" },
        { key: "commit", label: "Commit", unit: "currency" },
        { key: "commit_debiased", label: "Commit, de-biased", unit: "currency" },
        { key: "most_likely", label: "Most likely", unit: "currency" },
        { key: "most_likely_debiased", label: "Most likely, de-biased", unit: "currency" },
        { key: "best_case", label: "Best case", unit: "currency" },
        { key: "best_case_debiased", label: "Best case, de-biased", unit: "currency" },
        { key: "why", label: "Adjustment", unit: "text" },
      ], [...rows, total]);
    }),
    later("Bias ledger: how far each caller has been from what they booked", async () => {
      const rows = (await api("submissions/bias")).filter((r) => r.week === null);
      if (!rows.length) return h("p", { class: "note" }, "No calls on quarters that have ended yet.");
      return table("bias", [
        { key: "name", label: "Who", unit: "text" },
        { key: "level", label: "Level", unit: "text" },
        { key: "category", label: "Category", unit: "text" },
        { key: "calls", label: "Calls", unit: "count", cell: (r) => h("a", { href: link("calls", "", { submitter: r.submitter, level: r.level, category: r.category }), "data-calls": `${r.submitter}/${r.level}/${r.category}` }, fmt(r.calls, "count")) },
        { key: "quarters", label: "Quarters", unit: "count" },
        { key: "error", label: "Mean error", unit: "ratio" },
        { key: "shrunk", label: "Shrunk", unit: "ratio" },
        { key: "reading", label: "Reading", unit: "text" },
      ], rows, { sort: "shrunk" });
    }),
    later("Backtest: each method's accuracy by week of the quarter", async () => {
      let bt;
      const runner = ["exec", "admin"].includes(me.role) ? backtestRunner() : null;
      try {
        bt = await api("backtest");
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return [h("p", { class: "note" }, e.message), runner];
        throw e;
      }
      const weekly = bt.scores.filter((s) => s.week !== null && s.wape !== null);
      const methods = [...new Set(weekly.map((s) => s.method))];
      return [
        h("p", { class: "note" }, `Quarters ${bt.quarters.join(", ")}; WAPE is the weighted absolute error of the quarter's forecast made at that week (lower is better).`),
        chart("WAPE by week of the quarter, one line per method", {
          type: "line",
          data: { labels: bt.weeks, datasets: methods.map((m, i) => ({ label: m, data: bt.weeks.map((w) => { const s = weekly.find((x) => x.method === m && x.week === w); return s ? s.wape * 100 : null; }), borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length], spanGaps: true })) },
          options: { scales: { x: { title: { display: true, text: "Week of the quarter" } }, y: { title: { display: true, text: "WAPE (%)" } } } },
        }),
        table("backtest", [
          { key: "method", label: "Method", unit: "text" },
          { key: "n", label: "Forecasts", unit: "count", cell: (r) => h("a", { href: link("backtest", r.method), "data-method": r.method }, fmt(r.n, "count")) },
          { key: "wape", label: "WAPE", unit: "ratio" },
          { key: "bias", label: "Bias", unit: "ratio" },
          { key: "coverage", label: "P10–P90 coverage", unit: "ratio" },
        ], bt.leaderboard, { sort: "wape" }),
        runner,
      ];
    }),
    callForm(f),
    later("Forecast calls", async () => {
      const rows = await api("submissions", { period: f.period });
      if (!rows.length) return h("p", { class: "note" }, `No calls for ${f.period} yet.`);
      await names();
      return table("submissions", [
        { key: "submitter", label: "Who", unit: "text", cell: (r) => personName(r.submitter) },
        { key: "level", label: "Level", unit: "text" },
        { key: "commit", label: "Commit", unit: "currency" },
        { key: "most_likely", label: "Most likely", unit: "currency" },
        { key: "best_case", label: "Best case", unit: "currency" },
        { key: "submitted_at", label: "Submitted", unit: "text" },
        { key: "note", label: "Note", unit: "text" },
      ], rows, { sort: "submitted_at", desc: true });
    }),
  ];
}

/// A button that runs a backtest on the server and shows its progress.
/// A job's progress bar and message; `follow(id)` polls the job until it
/// ends (then the page is drawn again with what it made).
function jobProgress(id, label, unit) {
  const bar = h("progress", { id: `${id}-progress`, max: "1", value: "0", hidden: true, "aria-label": label });
  const msg = h("span", { id: `${id}-message`, role: "status", "aria-live": "polite", class: "note" });
  const follow = async (jobId) => {
    bar.hidden = false;
    for (;;) {
      const j = await api(`jobs/${jobId}`);
      bar.max = Math.max(j.total, 1);
      bar.value = j.done;
      msg.textContent = `${j.message}${j.total && j.state === "running" ? ` (${j.done} of ${j.total} ${unit})` : ""}`;
      if (j.state !== "running") {
        msg.dataset.state = j.state;
        if (j.state === "done") await render();
        return j;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  };
  /// Start a job with `start()`; when one of `kind` runs already, follow it.
  const run = async (kind, start) => {
    try {
      const j = await start();
      return await follow(j.id);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) {
        const running = (await api("jobs")).find((j) => j.kind === kind && j.state === "running");
        if (running) return await follow(running.id);
      }
      msg.textContent = e.message;
      msg.dataset.state = "refused";
      return null;
    }
  };
  return { bar, msg, follow, run };
}

function backtestRunner() {
  const p = jobProgress("job", "Backtest progress", "cuts");
  const button = h("button", { type: "button", id: "run-backtest", class: "csv", onclick: async () => {
    button.disabled = true;
    try {
      await p.run("backtest", () => api("jobs/backtest", {}, { method: "POST" }));
    } finally {
      button.disabled = false;
    }
  } }, "Run a backtest now");
  return h("p", { class: "job" }, button, " ", p.bar, " ", p.msg);
}

/// Admins: upload an export's files and ingest them, with the ingest's
/// progress; the last ingest job's outcome stays on the page.
function ingestForm() {
  const p = jobProgress("ingest", "Ingest progress", "steps");
  const connector = h("select", { id: "ingest-connector", name: "connector" },
    h("option", { value: "salesforce" }, "Salesforce export (Opportunity.csv, OpportunityHistory.csv, …)"),
    h("option", { value: "hubspot" }, "HubSpot deals export"),
    h("option", { value: "csv" }, "CSV or Parquet with a mapping"));
  const files = h("input", { type: "file", id: "ingest-files", name: "files", multiple: true, accept: ".csv,.parquet", required: true });
  const mapping = h("input", { type: "file", id: "ingest-mapping", name: "mapping", accept: ".toml" });
  const mappingRow = h("p", { hidden: true }, h("label", { for: "ingest-mapping" }, "Mapping (TOML) "), mapping);
  connector.addEventListener("change", () => { mappingRow.hidden = connector.value !== "csv"; });
  const order = h("select", { id: "ingest-date-order", name: "date_order" },
    ["", "mdy", "dmy", "ymd"].map((v) => h("option", { value: v }, v || "detect")));
  const zone = h("input", { type: "text", id: "ingest-timezone", name: "timezone", placeholder: "UTC", size: "16" });
  const button = h("button", { type: "submit", id: "ingest-start" }, "Upload and ingest");
  const form = h("form", { id: "ingest-form", class: "ingest", onsubmit: async (ev) => {
    ev.preventDefault();
    const body = new FormData();
    body.append("connector", connector.value);
    if (order.value) body.append("date_order", order.value);
    if (zone.value.trim()) body.append("timezone", zone.value.trim());
    if (connector.value === "csv" && mapping.files[0]) body.append("mapping", mapping.files[0]);
    for (const f of files.files) body.append("files", f, f.name);
    button.disabled = true;
    p.msg.textContent = `Uploading ${files.files.length} file(s)…`;
    try {
      await p.run("ingest", () => api("jobs/ingest", {}, { method: "POST", body }));
    } finally {
      button.disabled = false;
    }
  } },
    h("p", {}, h("label", { for: "ingest-connector" }, "Export "), connector),
    h("p", {}, h("label", { for: "ingest-files" }, "Files "), files),
    mappingRow,
    h("p", {}, h("label", { for: "ingest-date-order" }, "Date order "), order, " ",
      h("label", { for: "ingest-timezone" }, "Time zone of times without one "), zone),
    h("p", { class: "job" }, button, " ", p.bar, " ", p.msg));
  // the newest ingest job: follow it while it runs, else say how it ended
  api("jobs").then((jobs) => {
    const j = jobs.find((x) => x.kind === "ingest");
    if (!j) return;
    if (j.state === "running") p.follow(j.id);
    else {
      p.msg.textContent = `Last ingest from the browser (${j.login}, ${j.started_at}): ${j.state} — ${j.message}`;
      p.msg.dataset.state = j.state;
    }
  }, () => {});
  return form;
}

/// A call for the period, made as oneself (a manager may make a team call).
function callForm(f) {
  if (!me.owner_id) return section("Make a call", h("p", { class: "note" }, "You are mapped to no CRM user, so you make no calls (pipewise users add --owner)."));
  const msg = h("p", { id: "call-message", role: "status" });
  const num = (id, label) => h("label", {}, label, h("input", { id, type: "number", min: "0", step: "any", required: true }));
  const form = h("form", { id: "call-form", class: "call-form" },
    num("call-commit", "Commit"), num("call-most-likely", "Most likely"), num("call-best-case", "Best case"),
    h("label", {}, "Note", h("input", { id: "call-note", maxlength: "500" })),
    me.role !== "rep" ? h("label", { class: "check" }, h("input", { id: "call-team", type: "checkbox" }), "A roll-up of my team") : null,
    h("button", { type: "submit" }, `Submit my call for ${f.period}`), msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = (id) => Number($("#" + id).value);
    try {
      const r = await api("submissions", {}, { method: "POST", body: JSON.stringify({ period: f.period, commit: v("call-commit"), most_likely: v("call-most-likely"), best_case: v("call-best-case"), note: $("#call-note").value || null, team: $("#call-team")?.checked ?? false }) });
      msg.textContent = `Called ${fmt(r.commit, "currency")} commit for ${r.period} at ${r.submitted_at}.`;
      await render();
    } catch (err) {
      msg.textContent = err.message;
      msg.className = "error";
    }
  });
  return section("Make a call", form);
}

const REP_METRICS = ["booked_new_business", "quota_attainment", "win_rate", "average_won_deal_size", "open_pipeline", "average_sales_cycle_days", "meetings_per_week"];

/// A scorecard's by-owner rows as one row per rep: each metric's value and status.
function perOwner(rows) {
  const byOwner = new Map();
  for (const r of rows.filter((r) => r.dimension === "owner")) {
    const o = byOwner.get(r.group) ?? { owner_id: r.group, name: personName(r.group) };
    o[r.metric] = r.value;
    o[r.metric + "_status"] = r.status;
    byOwner.set(r.group, o);
  }
  return [...byOwner.values()];
}

async function repsPage() {
  const f = filters();
  const base = { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known };
  return [
    h("h1", {}, "Reps"),
    later("Leaderboard and scorecards", async () => {
      const [rows, info] = await Promise.all([api("scorecard", { ...base, by: "owner", metrics: REP_METRICS.join(",") }), metrics(), names()]);
      const reps = perOwner(rows);
      const cols = [
        { key: "name", label: "Rep", unit: "text", cell: (r) => h("a", { href: link("deals", "", { owner: r.owner_id }) }, r.name) },
        // each number opens the deals behind it: the metric explained under that rep
        ...REP_METRICS.map((m) => ({ key: m, label: m.replaceAll("_", " "), unit: info[m]?.unit, cell: (r) => h("a", { href: link("explain", m, { under: r.owner_id }), class: `badge status-${r[m + "_status"] ?? "none"}`, "data-rep-metric": `${r.owner_id}:${m}`, "data-value": r[m] ?? "" }, fmt(r[m], info[m]?.unit)) })),
      ];
      return [
        chart("Win rate against average won deal size, one point per rep", {
          type: "scatter",
          data: { datasets: [{ label: "Reps", data: reps.filter((r) => r.win_rate !== null && r.average_won_deal_size !== null).map((r) => ({ x: r.average_won_deal_size, y: r.win_rate * 100, name: r.name })), backgroundColor: colors[0] }] },
          options: { scales: { x: { title: { display: true, text: "Average won deal size" } }, y: { title: { display: true, text: "Win rate (%)" } } }, plugins: { tooltip: { callbacks: { label: (c) => `${c.raw.name}: ${nf1.format(c.raw.y)}%, ${nf0.format(c.raw.x)}` } } } },
        }),
        table("leaderboard", cols, reps, { sort: "booked_new_business", desc: true }),
      ];
    }),
    later("Activity per rep", async () => {
      const acts = ["meetings_per_week", "discovery_calls_per_month", "seller_buyer_activity_ratio"];
      const [rows, info] = await Promise.all([api("scorecard", { ...base, by: "owner", metrics: acts.join(",") }), metrics(), names()]);
      const reps = perOwner(rows);
      if (!reps.length) return h("p", { class: "note" }, "No activities recorded for these reps in the period.");
      return [
        chart("Meetings per week and discovery calls per month, per rep", { type: "bar", data: { labels: reps.map((r) => r.name), datasets: [{ label: "Meetings per week", data: reps.map((r) => r.meetings_per_week), backgroundColor: colors[0] }, { label: "Discovery calls per month", data: reps.map((r) => r.discovery_calls_per_month), backgroundColor: colors[1] }] } }),
        table("activity", [{ key: "name", label: "Rep", unit: "text" }, ...acts.map((m) => ({ key: m, label: m.replaceAll("_", " "), unit: info[m]?.unit }))], reps, { sort: "meetings_per_week", desc: true }),
      ];
    }),
  ];
}

async function dealsPage() {
  const f = filters();
  const params = route().params;
  const owner = params.get("owner") ?? "";
  const all = params.get("all") === "1";
  await names();
  const [dealRows, scored] = await Promise.all([
    api("deals", { as_of: f.as_of, under: f.under, segment: f.segment, known: f.known, open: !all }),
    dealScores(f),
  ]);
  const rows = dealRows.filter((d) => !owner || d.owner_id === owner);
  for (const d of rows) d.score = scored.byId?.get(d.opportunity_id) ?? null;
  const stages = [...new Set(rows.map((d) => d.stage).filter(Boolean))].sort();
  const state = { text: "", stage: "" };
  const holder = h("div");
  const cols = [
    { key: "opportunity_id", label: "Deal", unit: "text", cell: (r) => h("a", { href: link("deal", r.opportunity_id), "data-deal": r.opportunity_id }, r.opportunity_id) },
    { key: "name", label: "Name", unit: "text" },
    { key: "owner_id", label: "Owner", unit: "text", cell: (r) => personName(r.owner_id) },
    { key: "segment", label: "Segment", unit: "text" },
    { key: "stage", label: "Stage", unit: "text" },
    { key: "forecast_category", label: "Category", unit: "text" },
    { key: "amount", label: "Amount", unit: "currency" },
    { key: "close_date", label: "Close date", unit: "text" },
    { key: "p_won", label: "P(won)", unit: "ratio", raw: (r) => r.score?.p_won ?? null, cell: (r) => (r.score ? h("span", { title: `80% interval ${fmt(r.score.p_won_low, "ratio")}–${fmt(r.score.p_won_high, "ratio")} (${r.score.model})` }, fmt(r.score.p_won, "ratio")) : "—") },
    { key: "why", label: "Why", unit: "text", raw: (r) => (r.score?.factors ?? []).map((x) => x.text).join("; "), cell: (r) => (r.score?.factors ?? []).map((x) => h("span", { class: x.points >= 0 ? "factor up" : "factor down" }, x.text)) },
    { key: "risk", label: "Flags", unit: "text", raw: (r) => flags(r, f.as_of).join("; "), cell: (r) => flags(r, f.as_of).map((x) => h("span", { class: "flag" }, x)) },
  ];
  const redraw = () => {
    const t = state.text.toLowerCase();
    const shown = rows.filter((d) => (!state.stage || d.stage === state.stage) && (!t || [d.opportunity_id, d.name, personName(d.owner_id), d.account_id].some((x) => String(x ?? "").toLowerCase().includes(t))));
    holder.replaceChildren(table("deals", cols, shown, { sort: "amount", desc: true }));
  };
  redraw();
  return [
    h("h1", {}, owner ? `Deals of ${personName(owner)}` : "Deals"),
    h("p", { class: "note" }, `${all ? "Every deal" : "Open deals"} in your scope as of ${f.as_of}. `, h("a", { href: link("deals", "", { owner, all: all ? "" : "1" }) }, all ? "Only open deals" : "Include closed deals")),
    h("div", { class: "grid-tools" },
      h("label", {}, "Search ", h("input", { id: "deal-search", type: "search", oninput: (e) => { state.text = e.target.value; redraw(); } })),
      h("label", {}, "Stage ", h("select", { id: "deal-stage", onchange: (e) => { state.stage = e.target.value; redraw(); } }, h("option", { value: "" }, "Any"), stages.map((s) => h("option", { value: s }, s))))),
    scored.note ? h("p", { class: "note", id: "scores-note" }, scored.note) : null,
    holder,
  ];
}

/// The trained deal model's scores for the open deals, by id (a note instead when there is no model).
async function dealScores(f) {
  try {
    const rows = await api("deals/scores", { as_of: f.as_of, under: f.under, segment: f.segment });
    return { byId: new Map(rows.map((r) => [r.opportunity_id, r])) };
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 400)) return { note: `No win probabilities: ${e.message}` };
    throw e;
  }
}

/// Plain, stated rules (not a model): what a reviewer would ask about first.
function flags(d, asOf) {
  const out = [];
  if (d.score && d.score.p_slipped >= 0.5) out.push("likely to slip");
  if (!d.is_closed && d.close_date && d.close_date < asOf) out.push("close date passed");
  if (!d.is_closed && (d.amount === null || d.amount === 0)) out.push("no amount");
  return out;
}

async function dealPage(id) {
  const f = filters();
  await names();
  const [events, scored] = await Promise.all([api(`deals/${encodeURIComponent(id)}/history`, { as_of: f.as_of }), dealScores(f)]);
  const sc = scored.byId?.get(id);
  const visible = events.filter((e) => e.effective_at.slice(0, 10) <= f.as_of);
  return [
    h("h1", {}, `Deal ${id}`),
    sc ? section(`Chances this period as of ${f.as_of}`,
      h("p", {}, `P(won) ${fmt(sc.p_won, "ratio")} (80%: ${fmt(sc.p_won_low, "ratio")}–${fmt(sc.p_won_high, "ratio")}), P(lost) ${fmt(sc.p_lost, "ratio")}, P(slipped) ${fmt(sc.p_slipped, "ratio")} — ${sc.model} model`),
      h("ul", { class: "factors" }, sc.factors.map((x) => h("li", { class: x.points >= 0 ? "factor up" : "factor down" }, x.text)))) : null,
    h("p", { class: "note" }, `Every change the ledger holds, oldest first; ${events.length - visible.length} happened after ${f.as_of} and are greyed.`),
    h("ol", { class: "timeline", "aria-label": "The deal's history" }, events.map((e) => h("li", { class: e.effective_at.slice(0, 10) > f.as_of ? "future" : null },
      h("time", { datetime: e.effective_at }, e.effective_at.replace("T", " ").replace(/(\.\d+)?Z$/, "")),
      h("span", { class: "field" }, e.field),
      h("span", { class: "value" }, e.field === "owner_id" ? personName(e.value) : e.value ?? "(cleared)"),
      e.recorded_at !== e.effective_at ? h("span", { class: "recorded" }, `recorded ${e.recorded_at.slice(0, 10)}`) : null))),
    table("history", [
      { key: "effective_at", label: "Effective", unit: "text" },
      { key: "recorded_at", label: "Recorded", unit: "text" },
      { key: "field", label: "Field", unit: "text" },
      { key: "value", label: "Value", unit: "text" },
    ], events),
  ];
}

/// One forecast method's math: every term, and the deals behind each.
async function methodPage(method) {
  const f = filters();
  const rows = (await api("forecast", { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known, method, explain: true })).filter((r) => r.group === "all");
  const r = rows[0];
  if (!r) return [h("h1", {}, method), h("p", { class: "note" }, "No forecast in your scope.")];
  const terms = Array.isArray(r.terms) ? r.terms : [];
  return [
    h("h1", {}, `${method}: ${fmt(r.value, "currency")} for ${f.period}, as of ${f.as_of}`),
    r.notes.length ? h("ul", {}, r.notes.map((n) => h("li", { class: "note" }, n))) : null,
    table("terms", [
      { key: "name", label: "Term", unit: "text" },
      { key: "base", label: "Base", unit: "currency" },
      { key: "rate", label: "Rate", unit: "number" },
      { key: "deal_count", label: "Deals", unit: "count" },
      { key: "value", label: "Adds", unit: "currency" },
    ], terms),
    ...terms.filter((t) => t.deals.length).map((t) => section(`${t.name}: the deals behind it`, table(`term-${t.name}`, [
      { key: "opportunity_id", label: "Deal", unit: "text", cell: (d) => h("a", { href: link("deal", d.opportunity_id) }, d.opportunity_id) },
      { key: "amount", label: "Amount", unit: "currency" },
      { key: "weight", label: "Weight", unit: "number" },
      { key: "contribution", label: "Contribution", unit: "currency" },
      { key: "reason", label: "Why", unit: "text" },
    ], t.deals, { sort: "contribution", desc: true }))),
  ];
}

/// The deals behind a funnel stage's numbers.
async function stagePage(stage) {
  const f = filters();
  const onlyAdvanced = route().params.get("advanced") === "1";
  const rows = (await api("funnel/deals", { stage, period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known })).filter((r) => !onlyAdvanced || r.advanced);
  return [
    h("h1", {}, `${stage}: the deals behind the funnel`),
    h("p", { class: "note" }, `Deals that first entered ${stage} in ${f.period}, as known ${f.as_of}${onlyAdvanced ? ", that went on to a later stage or won" : ""}.`),
    table("stage-deals", [
      { key: "opportunity_id", label: "Deal", unit: "text", cell: (r) => h("a", { href: link("deal", r.opportunity_id) }, r.opportunity_id) },
      { key: "advanced", label: "Advanced", unit: "text", raw: (r) => r.advanced, cell: (r) => (r.advanced ? "yes" : "no") },
    ], rows),
  ];
}

async function explainPage(name) {
  const f = filters();
  // (by=DIM&value=V: one group of a breakdown, `(none)` for no value)
  const p = route().params;
  const by = p.get("by") ?? "";
  const value = p.get("value");
  const q = { period: f.period, as_of: f.as_of, under: f.under, segment: f.segment, known: f.known, by };
  const [info, all, totals] = await Promise.all([
    metrics(),
    api(`metrics/${encodeURIComponent(name)}/explain`, q),
    api(`metrics/${encodeURIComponent(name)}`, q),
  ]);
  const inGroup = (r) => !by || (r.dims[by] ?? "(none)") === value;
  const rows = all.filter(inGroup);
  const m = info[name];
  const t = totals.find(inGroup);
  const deals = m && !["leads", "activities"].includes(m.source);
  return [
    h("h1", {}, name.replaceAll("_", " ") + (by ? ` — ${by.replaceAll("_", " ")} ${value}` : "")),
    h("p", {}, m?.purpose ?? ""),
    h("p", { class: "note" }, `${m?.formula ?? ""} — value `, h("strong", { id: "explain-value", "data-value": t?.value ?? "" }, fmt(t?.value, m?.unit)), t ? ` = ${nf1.format(t.numerator)} ÷ ${nf1.format(t.denominator)}` : ""),
    table("explain-" + name, [
      { key: "id", label: "Row", unit: "text", cell: (r) => (deals && r.role !== "quota" ? h("a", { href: link("deal", r.id) }, r.id) : r.id) },
      { key: "name", label: "Name", unit: "text" },
      { key: "stage", label: "Stage", unit: "text" },
      { key: "amount", label: "Amount", unit: "currency" },
      { key: "role", label: "Role", unit: "text" },
      { key: "numerator", label: "Adds to numerator", unit: "number" },
      { key: "denominator", label: "Adds to denominator", unit: "number" },
    ], rows, { sort: "numerator", desc: true }),
  ];
}

/// The columns of a table of leads.
function leadColumns() {
  return [
    { key: "id", label: "Lead", unit: "text" },
    { key: "created_at", label: "Arrived", unit: "text" },
    { key: "owner_id", label: "Owner", unit: "text", cell: (r) => personName(r.owner_id) },
    { key: "company", label: "Company", unit: "text" },
    { key: "title", label: "Title", unit: "text" },
    { key: "status", label: "Status then", unit: "text" },
    { key: "score", label: "Points", unit: "count" },
    { key: "band", label: "Band", unit: "text" },
    { key: "sla", label: "SLA", unit: "text", cell: (r) => h("span", { class: r.sla === "breached" || r.sla === "overdue" ? "flag" : null }, r.sla) },
    { key: "hours_to_first_touch", label: "Hours to first touch", unit: "number" },
    { key: "converted_at", label: "Converted", unit: "text" },
    { key: "contact", label: "Contact details", unit: "text", raw: (r) => Object.entries(r.attributes).map(([k, v]) => `${k}=${v}`).join("; "), cell: (r) => Object.entries(r.attributes).map(([k, v]) => `${k}: ${v}`).join(", ") },
    { key: "reasons", label: "Why", unit: "text", raw: (r) => r.reasons.join("; "), cell: (r) => r.reasons.map((x) => h("span", { class: "factor up" }, x)) },
  ];
}

/// A count on the leads page as a link to the leads behind it.
const leadsLink = (n, which) => h("a", { href: link("leadset", "", which), "data-leads": JSON.stringify(which) }, fmt(n, "count"));

/// The leads behind one number of the leads page (a decile, an SLA row).
async function leadSetPage() {
  const f = filters();
  await names();
  const p = route().params;
  const which = {};
  for (const k of ["decile", "owner", "band", "sla", "score_from", "score_to"]) if (p.get(k)) which[k] = p.get(k);
  const q = await api("leads", { as_of: f.as_of, under: f.under, limit: 5000, ...which });
  const what = [
    which.decile ? `decile ${which.decile} of the lift table` : null,
    which.owner ? `owned by ${personName(which.owner)}` : null,
    which.band ? `band ${which.band}` : null,
    which.sla ? `SLA ${which.sla}` : null,
    which.score_from ? `scoring ${which.score_from} to under ${which.score_to}` : null,
  ].filter(Boolean).join(", ");
  return [
    h("h1", {}, `Leads: ${what || "all"}`),
    h("p", {}, h("a", { href: link("leads") }, "Back to the leads"),
      ` · ${nf0.format(q.matching)} leads as of ${f.as_of}` + (q.matching > q.leads.length ? `; the newest ${nf0.format(q.leads.length)} here` : "")),
    table("leadset", leadColumns(), q.leads),
  ];
}

async function leadsPage() {
  const f = filters();
  await names();
  const q = await api("leads", { as_of: f.as_of, under: f.under, limit: 100 });
  const leadCols = leadColumns();
  const slaCols = (what) => {
    const key = what === "Owner" ? "owner" : "band";
    return [
    { key: "group", label: what, unit: "text", cell: (r) => (what === "Owner" ? personName(r.group) : r.group) },
    { key: "leads", label: "Leads", unit: "count", cell: (r) => leadsLink(r.leads, { [key]: r.group }) },
    { key: "judged", label: "Judged", unit: "count" },
    { key: "breached", label: "Touched late", unit: "count", cell: (r) => leadsLink(r.breached, { [key]: r.group, sla: "breached" }) },
    { key: "overdue", label: "Overdue", unit: "count", cell: (r) => leadsLink(r.overdue, { [key]: r.group, sla: "overdue" }) },
    { key: "breach_rate", label: "Breach rate", unit: "ratio" },
    { key: "median_hours", label: "Median hours to first touch", unit: "number" },
    ];
  };
  return [
    h("h1", {}, "Leads"),
    h("p", { class: "note" }, `${nf0.format(q.total)} leads in your scope had arrived by ${f.as_of}, scored by ${q.scorer}${q.scorer.includes("001") ? " (seed 001's points; no training needed; a model trained with pipewise leads train --name leads replaces them)" : " (P(convert) × 100)"}. Owners are the leads' owners now; statuses are as of the day.` + (q.leads.length && q.leads[0].masked ? " Contact details are masked for your role." : "")),
    section("Score distribution",
      chart("Leads per 10 points", { type: "bar", data: { labels: q.distribution.map((b) => `${b.from}–${b.to}`), datasets: [{ label: "Leads", data: q.distribution.map((b) => b.leads), backgroundColor: colors[0] }] } }),
      table("distribution", [{ key: "from", label: "From", unit: "count" }, { key: "to", label: "To", unit: "count" }, { key: "leads", label: "Leads", unit: "count", cell: (r) => leadsLink(r.leads, { score_from: String(r.from), score_to: String(r.to) }) }], q.distribution)),
    section(`Lift by decile (${nf0.format(q.judged_for_lift)} leads whose 90 days had passed)`,
      chart("Conversion lift per decile of score", { type: "bar", data: { labels: q.deciles.map((d) => `D${d.decile}`), datasets: [{ label: "Lift (× overall)", data: q.deciles.map((d) => d.lift), backgroundColor: colors[1] }] } }),
      table("deciles", [
        { key: "decile", label: "Decile", unit: "count" },
        { key: "leads", label: "Leads", unit: "count", cell: (r) => leadsLink(r.leads, { decile: String(r.decile) }) },
        { key: "converted", label: "Converted", unit: "count" },
        { key: "rate", label: "Rate", unit: "ratio" },
        { key: "lift", label: "Lift", unit: "number" },
        { key: "min_score", label: "Lowest points", unit: "count" },
      ], q.deciles)),
    section("Routing SLA by owner", table("sla-owner", slaCols("Owner"), q.sla_by_owner, { sort: "breach_rate", desc: true })),
    section("Routing SLA by band", table("sla-band", slaCols("Band"), q.sla_by_band)),
    section("Breached and overdue leads, the newest 100", table("breached", leadCols, q.breached)),
    section("The newest 100 leads (the API gives more: limit=N)", table("leads", leadCols, q.leads)),
  ];
}

async function qualityPage() {
  const f = filters();
  const q = await api("quality", { as_of: f.as_of, under: f.under, segment: f.segment });
  const ingests = q.ingests;
  const last = ingests[ingests.length - 1];
  const out = [h("h1", {}, "Data quality")];
  if (me.role === "admin") {
    out.push(section("Ingest an export: its files are kept in the workspace, every row lands or is quarantined", ingestForm()));
  }
  out.push(section(`Completeness of the open deals in your scope as of ${f.as_of}`,
    chart("Share of open deals with a value, per field", {
      type: "bar",
      data: { labels: q.completeness.map((c) => c.field), datasets: [{ label: "Filled (%)", data: q.completeness.map((c) => (c.share === null ? null : c.share * 100)), backgroundColor: q.completeness.map((c) => (c.share === null || c.share >= 0.95 ? colors[2] : c.share >= 0.8 ? colors[1] : colors[3])) }] },
      options: { indexAxis: "y", scales: { x: { min: 0, max: 100 }, y: { ticks: { autoSkip: false } } } },
    }),
    table("completeness", [
      { key: "field", label: "Field", unit: "text" },
      { key: "filled", label: "Filled", unit: "count" },
      { key: "missing", label: "Missing", unit: "count", raw: (r) => r.deals - r.filled, cell: (r) => (r.deals - r.filled ? h("a", { href: link("missing", r.field), "data-missing": r.field }, fmt(r.deals - r.filled, "count")) : "0") },
      { key: "deals", label: "Open deals", unit: "count" },
      { key: "share", label: "Share", unit: "ratio" },
    ], q.completeness, { sort: "share" })));
  if (!ingests.length) {
    out.push(section("Ingests", h("p", { class: "note" }, "No ingests yet: pipewise ingest brings a CRM export in.")));
    return out;
  }
  // (a generated company reads no files: one line for it all the same)
  const files = ingests.flatMap((i) => (i.files.length ? i.files : [{ path: "(no files)", rows_read: null, rows_landed: null, rows_quarantined: null }])
    .map((fl) => ({ ingest: i.id, kind: i.kind, recorded_at: i.recorded_at, ...fl })));
  out.push(section("Ingests: every row read either landed or was quarantined",
    table("ingests", [
      { key: "ingest", label: "Ingest", unit: "text" },
      { key: "kind", label: "Connector", unit: "text" },
      { key: "recorded_at", label: "As of", unit: "text" },
      { key: "path", label: "File", unit: "text" },
      { key: "rows_read", label: "Read", unit: "count" },
      { key: "rows_landed", label: "Landed", unit: "count" },
      { key: "rows_quarantined", label: "Quarantined", unit: "count" },
    ], files)));
  const rep = last.report;
  out.push(section(`The last ingest: ${last.id} (${last.kind}, as of ${last.recorded_at})`,
    h("p", {}, `${nf0.format(last.events_added)} changes landed, ${nf0.format(last.events_duplicate)} already in the ledger` + (rep ? `, ${nf0.format(rep.opportunities_added ?? 0)} deals new to the ledger.` : ".")),
    rep ? table("checks", [
      { key: "check", label: "Check", unit: "text" },
      { key: "count", label: "Caught", unit: "count" },
      { key: "action", label: "Action", unit: "text" },
      { key: "examples", label: "Examples", unit: "text", raw: (r) => (r.examples ?? []).join(" | "), cell: (r) => (r.examples ?? []).join(" | ") },
    ], Object.entries(rep.checks ?? {}).map(([check, c]) => ({ check, ...c })), { sort: "count", desc: true }) : h("p", { class: "note" }, "This ingest wrote no report."),
    rep && rep.warnings?.length ? h("ul", { class: "warnings" }, rep.warnings.map((w) => h("li", {}, w))) : null,
    rep && rep.completeness?.length ? h("details", {}, h("summary", {}, "Completeness of each optional field in the files read"), table("file-completeness", [
      { key: "file", label: "File", unit: "text" },
      { key: "column", label: "Column", unit: "text" },
      { key: "filled", label: "Filled", unit: "count" },
      { key: "rows", label: "Rows", unit: "count" },
    ], rep.completeness)) : null));
  out.push(later(`What the last ingest changed on the deals in your scope`, async () => {
    const c = await api("quality/changes", { ingest: last.id, under: f.under, limit: 0 });
    if (!c.known) return h("p", { class: "note" }, `${c.ingest} was landed before the ledger recorded which changes each ingest made; its counts are above.`);
    if (!c.by_field.length) return h("p", { class: "note" }, "No changes to the deals in your scope.");
    return table("changes-by-field", [
      { key: "field", label: "Field", unit: "text" },
      { key: "changes", label: "Changes", unit: "count", cell: (r) => h("a", { href: link("changes", c.ingest, { field: r.field }), "data-field": r.field }, fmt(r.changes, "count")) },
      { key: "deals", label: "Deals", unit: "count" },
    ], c.by_field, { sort: "changes", desc: true });
  }));
  if (["exec", "admin"].includes(me.role)) {
    out.push(later("Quarantined rows of the last ingest with any", async () => {
      try {
        const rows = await api("quality/quarantine", { limit: 5000 });
        if (!rows.length) return h("p", { class: "note" }, "Nothing quarantined.");
        return table("quarantine", ["file", "row", "column", "raw_value", "reason", "detail", "action"].map((k) => ({ key: k, label: k.replace("_", " "), unit: "text" })), rows);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return h("p", { class: "note" }, e.message);
        throw e;
      }
    }));
  }
  return out;
}

async function changesPage(ingest) {
  const f = filters();
  const field = route().params.get("field") ?? "";
  const c = await api("quality/changes", { ingest, field, under: f.under, limit: 5000 });
  return [
    h("h1", {}, `${field ? field.replaceAll("_", " ") + " changes" : "Changes"} landed by ${c.ingest}`),
    h("p", {}, h("a", { href: link("quality") }, "Back to data quality"),
      ` · ${nf0.format(c.total)} changes on deals in your scope` + (c.total > c.rows.length ? `; the first ${nf0.format(c.rows.length)} here (the API pages on with offset=)` : "")),
    table("changes", [
      { key: "opportunity_id", label: "Deal", unit: "text", cell: (r) => h("a", { href: link("deal", r.opportunity_id) }, r.opportunity_id) },
      { key: "field", label: "Field", unit: "text" },
      { key: "effective_at", label: "Took effect", unit: "text" },
      { key: "recorded_at", label: "Learned", unit: "text" },
      { key: "before", label: "Before", unit: "text" },
      { key: "after", label: "After", unit: "text" },
    ], c.rows),
  ];
}

/// The calls behind a row of the bias ledger: each with what was booked.
async function callsPage() {
  const p = route().params;
  const category = p.get("category") ?? "commit";
  const rows = await api("submissions/scored", { submitter: p.get("submitter"), level: p.get("level") });
  const scored = rows.filter((r) => r[`${category}_error`] !== null);
  const mean = scored.length ? scored.reduce((a, r) => a + r[`${category}_error`], 0) / scored.length : null;
  const who = rows[0]?.name ?? p.get("submitter");
  return [
    h("h1", {}, `${who}'s ${p.get("level") ?? ""} calls: ${category.replace("_", " ")} against what was booked`),
    h("p", {}, h("a", { href: link("forecast") }, "Back to the forecast"),
      ` · ${nf0.format(scored.length)} calls on quarters that have ended; mean error `,
      h("strong", { id: "calls-mean", "data-value": mean ?? "" }, fmt(mean, "ratio")),
      rows.length > scored.length ? ` (${rows.length - scored.length} on quarters with nothing booked are left out)` : ""),
    table("calls", [
      { key: "period", label: "Quarter", unit: "text" },
      { key: "week", label: "Week", unit: "count" },
      { key: "submitted_at", label: "Called", unit: "text" },
      { key: category, label: `Call (${category.replace("_", " ")})`, unit: "currency" },
      { key: "booked", label: "Booked", unit: "currency" },
      { key: `${category}_error`, label: "Error", unit: "ratio" },
      { key: "source", label: "From", unit: "text" },
    ], rows),
  ];
}

/// The forecasts behind a method's backtest score: each quarter and week,
/// what it said and what was booked; the WAPE over them is the score's.
async function backtestPage(method) {
  const week = route().params.get("week");
  const bt = await api("backtest");
  const points = bt.points.filter((p) => p.method === method && (!week || p.week === Number(week)));
  const scored = points.filter((p) => p.forecast !== null);
  const actual = scored.reduce((a, p) => a + p.actual, 0);
  const wape = actual > 0 ? scored.reduce((a, p) => a + Math.abs(p.forecast - p.actual), 0) / actual : null;
  const rows = points.map((p) => ({ ...p, error: p.forecast === null ? null : p.forecast - p.actual, inside: p.p10 === null || p.forecast === null ? null : p.actual >= p.p10 && p.actual <= p.p90 ? "yes" : "no" }));
  const weeks = [...new Set(bt.points.filter((p) => p.method === method).map((p) => p.week))];
  return [
    h("h1", {}, `Backtest of ${method}${week ? `, week ${week}` : ""}: each forecast against what was booked`),
    h("p", {}, h("a", { href: link("forecast") }, "Back to the forecast"),
      ` · ${nf0.format(scored.length)} forecasts over ${bt.quarters.join(", ")}; WAPE over them `,
      h("strong", { id: "backtest-wape", "data-value": wape ?? "" }, fmt(wape, "ratio")),
      " · week: ", ...weeks.map((w) => [h("a", { href: link("backtest", method, { week: String(w) }) }, String(w)), " "]),
      h("a", { href: link("backtest", method) }, "all")),
    table("backtest-points", [
      { key: "quarter", label: "Quarter", unit: "text" },
      { key: "week", label: "Week", unit: "count" },
      { key: "forecast", label: "Forecast", unit: "currency" },
      { key: "p10", label: "P10", unit: "currency" },
      { key: "p90", label: "P90", unit: "currency" },
      { key: "actual", label: "Booked", unit: "currency" },
      { key: "error", label: "Forecast − booked", unit: "currency" },
      { key: "inside", label: "Booked inside P10–P90", unit: "text" },
    ], rows),
  ];
}

/// The open deals in scope with no value of a field (a completeness row).
async function missingPage(field) {
  const f = filters();
  await names();
  const rows = await api("deals", { as_of: f.as_of, open: true, missing: field, under: f.under, segment: f.segment });
  return [
    h("h1", {}, `Open deals with no ${field.replaceAll("_", " ")} as of ${f.as_of}`),
    h("p", {}, h("a", { href: link("quality") }, "Back to data quality"), ` · ${nf0.format(rows.length)} deals in your scope`),
    table("missing", [
      { key: "opportunity_id", label: "Deal", unit: "text", cell: (r) => h("a", { href: link("deal", r.opportunity_id) }, r.opportunity_id) },
      { key: "name", label: "Name", unit: "text" },
      { key: "owner_id", label: "Owner", unit: "text", cell: (r) => personName(r.owner_id) },
      { key: "stage", label: "Stage", unit: "text" },
      { key: "amount", label: "Amount", unit: "currency" },
      { key: "close_date", label: "Close date", unit: "text" },
    ], rows),
  ];
}

async function auditPage() {
  const [rows, users] = await Promise.all([api("audit", { limit: 100000 }), api("users")]);
  return [
    h("h1", {}, "Audit"),
    section("Users", table("users", [
      { key: "login", label: "Login", unit: "text" },
      { key: "role", label: "Role", unit: "text" },
      { key: "owner_id", label: "CRM user", unit: "text" },
      { key: "disabled", label: "Disabled", unit: "text" },
      { key: "created_at", label: "Created", unit: "text" },
    ], users)),
    section("Every read and write, newest first",
      h("p", {}, h("a", { href: "/api/audit?format=csv&limit=100000", download: "audit.csv" }, "Export the audit log as CSV"), " (up to 100,000 lines a file; ", h("code", {}, "after=SEQ"), " pages on)"),
      table("audit", ["seq", "at", "login", "role", "method", "target", "scope", "status"].map((k) => ({ key: k, label: k, unit: k === "seq" || k === "status" ? "count" : "text" })), rows, { sort: "seq", desc: true })),
  ];
}

const PAGES = {
  pipeline: () => pipelinePage(),
  forecast: () => forecastPage(),
  reps: () => repsPage(),
  deals: () => dealsPage(),
  deal: (arg) => dealPage(arg),
  explain: (arg) => explainPage(arg),
  stage: (arg) => stagePage(arg),
  method: (arg) => methodPage(arg),
  leads: () => leadsPage(),
  leadset: () => leadSetPage(),
  quality: () => qualityPage(),
  changes: (arg) => changesPage(arg),
  missing: (arg) => missingPage(arg),
  calls: () => callsPage(),
  backtest: (arg) => backtestPage(arg),
  audit: () => auditPage(),
};

// ---------- the shell ----------

async function render() {
  if (!me) return;
  // (tests and scripts wait for this to equal the address: the page is drawn)
  delete document.body.dataset.rendered;
  const r = route();
  const asOf = r.params.get("as_of") ?? me.data_through;
  if (!r.params.get("period") && !(asOf in quarters)) {
    try {
      quarters[asOf] = (await api("period", { as_of: asOf })).quarter;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) return showLogin();
    }
  }
  const f = filters();
  $("#f-period").value = f.period;
  $("#f-asof").value = f.as_of;
  $("#f-under").value = f.under;
  $("#f-segment").value = f.segment;
  $("#f-known").checked = f.known;
  // the saved view this is, if any
  const here = location.hash.replace(/^#/, "");
  $("#views").value = [...$("#views").options].some((o) => o.value === here) ? here : "";
  $("#view-delete").hidden = !$("#views").value;
  for (const a of document.querySelectorAll("#nav a")) {
    a.href = link(a.dataset.page);
    if (a.dataset.page === r.name || (r.name === "deal" && a.dataset.page === "deals")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clearCharts();
  const make = PAGES[r.name];
  if (!make) {
    page().replaceChildren(h("h1", {}, "No such page"), h("p", {}, h("a", { href: link("pipeline") }, "Go to the pipeline")));
    document.body.dataset.rendered = location.hash;
    return;
  }
  page().replaceChildren(h("p", { class: "note" }, "Loading…"));
  try {
    const nodes = await make(r.arg);
    if (route().name !== r.name) return; // moved on meanwhile
    page().replaceChildren(...kids(nodes));
    document.body.dataset.rendered = location.hash;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin();
    page().replaceChildren(h("h1", {}, "Cannot show this page"), errorBox(e));
    document.body.dataset.rendered = location.hash;
  }
  document.title = `pipewise — ${r.name}`;
}

function showLogin() {
  me = null;
  $("#nav").hidden = true;
  $("#filters").hidden = true;
  $("#logout").hidden = true;
  $("#who").textContent = "";
  page().replaceChildren();
  $("#login-view").hidden = false;
  $("#login").focus();
}

async function start() {
  try {
    me = await api("me");
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return showLogin();
    page().replaceChildren(errorBox(e));
    return;
  }
  $("#login-view").hidden = true;
  $("#nav").hidden = false;
  $("#filters").hidden = false;
  $("#logout").hidden = false;
  $("#who").textContent = `${me.login} (${me.role}) · sees ${me.scope}`;
  $("#nav-audit").hidden = me.role !== "admin";
  const team = $("#f-under");
  team.replaceChildren(h("option", { value: "" }, "Everyone in my scope"));
  const ps = await names();
  for (const p of Object.values(ps).filter((p) => p.manages)) {
    team.append(h("option", { value: p.id }, `${p.name}'s team`));
  }
  const segs = $("#f-segment");
  segs.replaceChildren(h("option", { value: "" }, "Every segment"), ...[...new Set(Object.values(ps).map((p) => p.segment).filter(Boolean))].sort().map((s) => h("option", { value: s }, s)));
  await loadViews("");
  await render();
}

$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try {
    await api("session", {}, { method: "POST", body: JSON.stringify({ login: $("#login").value, password: $("#password").value }) });
    $("#password").value = "";
    metricInfo = null;
    people = null;
    await start();
    $("#main").focus();
  } catch (err) {
    $("#login-error").textContent = err.message;
  }
});

// ---------- saved views ----------

async function loadViews(select) {
  const views = await api("views");
  const box = $("#views");
  box.replaceChildren(h("option", { value: "" }, "Choose a view…"), ...views.map((v) => h("option", { value: v.path, "data-id": v.id }, v.name)));
  if (select) box.value = select;
  $("#view-delete").hidden = !box.value;
}

$("#views").addEventListener("change", (e) => {
  $("#view-delete").hidden = !e.target.value;
  if (e.target.value) location.hash = "#" + e.target.value;
});

$("#view-save").addEventListener("click", async () => {
  const name = $("#view-name").value.trim();
  if (!name) {
    $("#view-name").focus();
    return;
  }
  const path = location.hash.replace(/^#/, "") || "/pipeline";
  try {
    await api("views", {}, { method: "POST", body: JSON.stringify({ name, path }) });
    $("#view-name").value = "";
    await loadViews(path);
    $("#view-status").textContent = `Saved “${name}”.`;
  } catch (err) {
    $("#view-status").textContent = err.message;
  }
});

$("#view-delete").addEventListener("click", async () => {
  const opt = $("#views").selectedOptions[0];
  if (!opt?.dataset.id) return;
  await api(`views/${opt.dataset.id}`, {}, { method: "DELETE" });
  await loadViews("");
});

$("#logout").addEventListener("click", async () => {
  try {
    await api("session", {}, { method: "DELETE" });
  } finally {
    showLogin();
  }
});

$("#filters").addEventListener("submit", (e) => {
  e.preventDefault();
  const r = route();
  const q = new URLSearchParams(r.params);
  const set = (k, v) => (v ? q.set(k, v) : q.delete(k));
  set("period", $("#f-period").value.trim());
  set("as_of", $("#f-asof").value);
  set("under", $("#f-under").value);
  set("segment", $("#f-segment").value);
  set("known", $("#f-known").checked ? "1" : "");
  location.hash = "#/" + r.name + (r.arg ? "/" + encodeURIComponent(r.arg) : "") + "?" + q;
});

window.addEventListener("hashchange", () => render().then(() => $("#main").focus()));
start();
