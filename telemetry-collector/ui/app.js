// The collector's event browser: one module, no build step, no dependencies.
//
// It routes on location.pathname (/, /sessions/{sid}, /kinds, /rejected,
// /stats) and reads the collector's JSON API. Rules that keep it safe and fast:
// - every value that came from an event is put in the page as text
//   (`textContent` through `el()`), never parsed as HTML;
// - lists are paginated on the server (`limit`, `cursor`); nothing here asks
//   for every event, and the filters ask once per pause in typing;
// - the live tail renders at most once per animation frame, whatever the rate,
//   and keeps at most MAX_ROWS rows in the page.

const MAX_ROWS = 500;
const PAGE = 100;
const FILTERS = ["event_type", "service", "uid", "sid", "gdata_id", "trace_id", "outcome", "since", "until"];
const TOKEN_KEY = "telemetry.collector.token";

// ---------------------------------------------------------------- helpers

/** An element with attributes and children; strings become text nodes. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

/** Microseconds since the epoch of an RFC 3339 time with up to 6 decimals. */
function micros(ts) {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts || "");
  if (!m) return Date.parse(ts) * 1000;
  const frac = (m[2] || "").padEnd(6, "0").slice(0, 6);
  return Date.parse(m[1] + "Z") * 1000 + Number(frac);
}

function shortTime(ts) {
  const m = /T(\d\d:\d\d:\d\d(?:\.\d{3})?)/.exec(ts || "");
  return m ? m[1] : ts;
}

function formatDuration(us) {
  if (us === undefined || us === null) return "";
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(us < 1e4 ? 2 : 1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

function data(ev) {
  return ev && typeof ev.event_data === "object" && ev.event_data !== null ? ev.event_data : {};
}

function isCall(ev) {
  return Number.isInteger(data(ev).duration_us);
}

function outcomeOf(ev) {
  const d = data(ev);
  if (typeof d.outcome === "string") return d.outcome;
  if (Number.isInteger(d.status)) return d.status >= 500 ? "error" : "ok";
  return "";
}

function callLabel(ev) {
  const d = data(ev);
  if (typeof d.function === "string") return d.module ? `${d.module}::${d.function}` : d.function;
  if (typeof d.method === "string") return `${d.method} ${d.route ?? "(no route)"} → ${d.status ?? "no answer"}`;
  return ev.event_type;
}

// ---------------------------------------------------------------- API

class NeedsToken extends Error {}

function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** GET an API path; its JSON. A 401/403 opens the token prompt. */
async function api(path, signal) {
  const response = await fetch(path, { headers: authHeaders(), signal });
  if (response.status === 401 || response.status === 403) {
    askForToken(response.status === 403 ? "That token is wrong." : "");
    throw new NeedsToken();
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `${path}: HTTP ${response.status}`);
  return body;
}

function askForToken(problem) {
  const form = document.getElementById("token-form");
  document.getElementById("main").replaceChildren();
  form.hidden = false;
  const error = document.getElementById("token-error");
  error.hidden = !problem;
  error.textContent = problem;
  setStatus("token needed");
  document.getElementById("token-input").focus();
}

let catalogCache = null;
async function catalog() {
  if (!catalogCache) catalogCache = api("/v1/catalog");
  try {
    return await catalogCache;
  } catch (e) {
    catalogCache = null;
    throw e;
  }
}

// ---------------------------------------------------------------- JSON as text

/**
 * A JSON value as a <pre>, each value a text span; the value at `highlight`
 * (an array of keys and indexes) is marked `hl`.
 */
function jsonView(value, highlight) {
  const pre = el("pre", { class: "json" });
  const target = highlight ? JSON.stringify(highlight) : null;
  const write = (v, path, indent, into) => {
    let out = into;
    if (target !== null && JSON.stringify(path) === target) {
      out = el("span", { class: "hl", "data-pointer": "/" + path.join("/") });
      into.append(out);
    }
    const pad = (n) => " ".repeat(n);
    if (Array.isArray(v)) {
      out.append("[");
      v.forEach((item, i) => {
        out.append(i ? ",\n" : "\n", pad(indent + 2));
        write(item, [...path, i], indent + 2, out);
      });
      out.append(v.length ? `\n${pad(indent)}]` : "]");
    } else if (v && typeof v === "object") {
      out.append("{");
      Object.entries(v).forEach(([k, item], i) => {
        out.append(i ? ",\n" : "\n", pad(indent + 2), el("span", { class: "k", text: JSON.stringify(k) }), ": ");
        write(item, [...path, k], indent + 2, out);
      });
      out.append(Object.keys(v).length ? `\n${pad(indent)}}` : "}");
    } else {
      const cls = typeof v === "string" ? "s" : typeof v === "number" ? "n" : "b";
      out.append(el("span", { class: cls, text: JSON.stringify(v) }));
    }
  };
  write(value, [], 0, pre);
  return pre;
}

/** `event_data.items[0].name: ...` (a reason's field) as ["event_data", "items", 0, "name"]. */
function reasonPath(reason) {
  const field = reason.split(": ")[0];
  if (!/^[A-Za-z_][\w.[\]]*$/.test(field)) return null;
  const path = [];
  for (const part of field.split(".")) {
    const m = /^([^[]+)((?:\[\d+\])*)$/.exec(part);
    if (!m) return null;
    path.push(m[1]);
    for (const idx of m[2].matchAll(/\[(\d+)\]/g)) path.push(Number(idx[1]));
  }
  if (path[0] === "service" || path[0] === "service_version" || path[0] === "sdk") path.unshift("source");
  return path;
}

// ---------------------------------------------------------------- router

let leaving = () => {};

function navigate(href) {
  history.pushState(null, "", href);
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || a.target || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith("/v1/") || url.pathname.startsWith("/ui/")) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener("popstate", () => route());
// Leaving the page ends its live stream at once: a stream the browser keeps
// open holds one of its few connections to this collector.
window.addEventListener("pagehide", () => leaving());

async function route() {
  leaving();
  leaving = () => {};
  document.getElementById("token-form").hidden = true;
  const path = location.pathname;
  const page = path === "/" ? "live" : path.split("/")[1];
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === page);
  const main = document.getElementById("main");
  main.replaceChildren();
  setStatus("");
  try {
    if (path === "/") await liveView(main);
    else if (path.startsWith("/sessions/")) await sessionView(main, decodeURIComponent(path.slice("/sessions/".length)));
    else if (path === "/kinds") await kindsView(main);
    else if (path === "/rejected") await rejectedView(main);
    else if (path === "/stats") await statsView(main);
    else main.append(el("p", { class: "empty", text: `No page at ${path}.` }));
  } catch (e) {
    if (e instanceof NeedsToken || e.name === "AbortError") return;
    main.append(el("p", { class: "error", role: "alert", text: String(e.message || e) }));
  }
}

// ---------------------------------------------------------------- live view

function filtersFromUrl() {
  const params = new URLSearchParams(location.search);
  const f = {};
  for (const key of FILTERS) if (params.get(key)) f[key] = params.get(key);
  return f;
}

function query(filters, extra = {}) {
  const params = new URLSearchParams({ ...filters, ...extra });
  return params.toString();
}

async function liveView(main) {
  let filters = filtersFromUrl();
  const aborter = new AbortController();
  leaving = () => aborter.abort();

  const tbody = el("tbody");
  const detail = el("aside", { class: "detail", hidden: true, "aria-label": "event detail" });
  const marker = el("button", { class: "new-marker", hidden: true, type: "button" });
  const pause = el("button", { type: "button", id: "pause" }, "Pause");
  const older = el("button", { type: "button", id: "older", hidden: true }, "Older events");
  const count = el("span", { class: "muted", id: "row-count" });
  const inputs = {};
  const form = el(
    "form",
    { class: "filters", role: "search", onsubmit: (e) => e.preventDefault() },
    FILTERS.map((key) => {
      const input =
        key === "outcome"
          ? el("select", { name: key }, ["", "ok", "error", "cancelled", "panic"].map((o) => el("option", { value: o }, o || "any")))
          : el("input", {
              name: key,
              placeholder: key === "since" || key === "until" ? "2026-12-02T10:00:00Z" : "",
              autocomplete: "off",
              spellcheck: "false",
            });
      input.value = filters[key] || "";
      inputs[key] = input;
      return el("label", {}, key, input);
    }),
    el("button", { type: "button", onclick: () => { for (const i of Object.values(inputs)) i.value = ""; applyFilters(); } }, "Clear"),
  );
  main.append(
    form,
    el("div", { class: "toolbar" }, pause, marker, count),
    el(
      "div",
      { class: "layout" },
      el(
        "div",
        { class: "list" },
        el(
          "table",
          { id: "events" },
          el("thead", {}, el("tr", {}, ["time", "kind", "service", "uid", "sid", "call / outcome", "duration"].map((h) => el("th", { text: h })))),
          tbody,
        ),
        older,
      ),
      detail,
    ),
  );

  let paused = false;
  let pending = []; // arrived while paused, oldest first
  let queued = []; // to render at the next frame, oldest first
  let frame = 0;
  let cursor = null;
  let stream = null;
  let selected = null;
  let received = 0; // events the stream delivered since the page loaded

  const updateCount = () => {
    count.dataset.received = received;
    const live = received ? `, ${received} arrived live` : "";
    count.textContent = `${tbody.rows.length} shown${live}${cursor ? ", older on the server" : ""}`;
  };

  const row = (ev) => {
    const outcome = outcomeOf(ev);
    const tr = el(
      "tr",
      { "data-event-id": ev.event_id, "data-sid": ev.sid ?? "" },
      el("td", { class: "mono", title: ev.timestamp, text: shortTime(ev.timestamp) }),
      el("td", { text: `${ev.event_type} v${ev.schema_version}` }),
      el("td", { text: ev.source?.service ?? "" }),
      el("td", { class: "mono", text: ev.uid ?? "" }),
      el("td", { class: "mono" }, ev.sid ? el("a", { href: `/sessions/${encodeURIComponent(ev.sid)}`, text: ev.sid }) : ""),
      el("td", { class: outcome ? `outcome-${outcome}` : "" }, isCall(ev) ? `${callLabel(ev)} ${outcome}` : outcome),
      el("td", { class: "mono", text: isCall(ev) ? formatDuration(data(ev).duration_us) : "" }),
    );
    tr.addEventListener("click", (e) => {
      if (e.target.closest("a")) return;
      selected?.classList.remove("selected");
      selected = tr;
      tr.classList.add("selected");
      showDetail(detail, ev);
    });
    return tr;
  };

  const render = () => {
    frame = 0;
    if (!queued.length) return;
    const fragment = document.createDocumentFragment();
    for (let i = queued.length - 1; i >= 0 && fragment.childNodes.length < MAX_ROWS; i--) fragment.append(row(queued[i]));
    queued = [];
    tbody.prepend(fragment);
    while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
    updateCount();
  };

  const arrive = (events) => {
    received += events.length;
    if (paused) {
      pending.push(...events);
      if (pending.length > MAX_ROWS * 4) pending = pending.slice(-MAX_ROWS);
      marker.hidden = false;
      marker.textContent = `${pending.length} new`;
      return;
    }
    queued.push(...events);
    if (queued.length > MAX_ROWS) queued = queued.slice(-MAX_ROWS);
    if (!frame) frame = requestAnimationFrame(render);
  };

  const resume = () => {
    paused = false;
    pause.textContent = "Pause";
    marker.hidden = true;
    const events = pending;
    pending = [];
    received -= events.length; // counted when they arrived
    arrive(events);
    setStatus("live");
  };
  pause.addEventListener("click", () => {
    if (paused) return resume();
    paused = true;
    pause.textContent = "Resume";
    setStatus("paused");
  });
  marker.addEventListener("click", resume);

  const load = async () => {
    stream?.abort();
    tbody.replaceChildren();
    queued = [];
    pending = [];
    marker.hidden = true;
    const page = await api(`/v1/events?${query(filters, { limit: PAGE })}`, aborter.signal);
    cursor = page.next_cursor ?? null;
    older.hidden = !cursor;
    tbody.append(...page.events.map(row));
    updateCount();
    if (!page.events.length) setStatus("no events match yet; waiting for new ones");
    stream = new AbortController();
    aborter.signal.addEventListener("abort", () => stream.abort());
    tail(filters, page.last_seq, stream.signal, arrive).catch(() => {});
    if (page.events.length) setStatus(paused ? "paused" : "live");
  };

  older.addEventListener("click", async () => {
    if (!cursor) return;
    const page = await api(`/v1/events?${query(filters, { limit: PAGE, cursor })}`, aborter.signal);
    cursor = page.next_cursor ?? null;
    older.hidden = !cursor;
    tbody.append(...page.events.map(row));
    updateCount();
  });

  let typing = 0;
  const applyFilters = () => {
    clearTimeout(typing);
    const next = {};
    for (const key of FILTERS) if (inputs[key].value.trim()) next[key] = inputs[key].value.trim();
    if (JSON.stringify(next) === JSON.stringify(filters)) return;
    filters = next;
    const qs = query(filters);
    history.replaceState(null, "", qs ? `/?${qs}` : "/");
    load().catch((e) => {
      if (!(e instanceof NeedsToken) && e.name !== "AbortError") setStatus(String(e.message || e));
    });
  };
  form.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(applyFilters, 300);
  });
  form.addEventListener("change", applyFilters);

  await load();
}

/** Reads `/v1/stream` (server-sent events, with the token header) until `signal` aborts. */
async function tail(filters, afterSeq, signal, onEvents) {
  let after = afterSeq;
  while (!signal.aborted) {
    try {
      const response = await fetch(`/v1/stream?${query(filters, { after_seq: after })}`, { headers: authHeaders(), signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let kind = "message";
          let body = "";
          for (const line of message.split("\n")) {
            if (line.startsWith("event:")) kind = line.slice(6).trim();
            else if (line.startsWith("data:")) body += line.slice(5).replace(/^ /, "");
          }
          if (kind === "events") {
            const { events } = JSON.parse(body);
            if (events.length) after = events[events.length - 1].seq;
            onEvents(events);
          } else if (kind === "problem") {
            setStatus(`storage: ${body}`);
          }
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      setStatus("reconnecting…");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function showDetail(pane, ev) {
  pane.hidden = false;
  const links = el(
    "p",
    {},
    ev.sid ? el("a", { href: `/sessions/${encodeURIComponent(ev.sid)}` }, `session ${ev.sid}`) : "no session",
    " · ",
    ev.trace_id ? el("a", { href: `/?trace_id=${encodeURIComponent(ev.trace_id)}` }, `trace ${ev.trace_id.slice(0, 8)}…`) : "no trace",
    " · ",
    el("button", { type: "button", onclick: () => (pane.hidden = true) }, "Close"),
  );
  const plan = el("div", { class: "plan-entry" }, el("p", { class: "muted", text: "looking the kind up in the plan…" }));
  pane.replaceChildren(el("h2", { text: `${ev.event_type} v${ev.schema_version}` }), links, el("h2", { text: "Raw event" }), jsonView(ev), el("h2", { text: "Plan entry" }), plan);
  try {
    const cat = await catalog();
    const kind = cat.kinds.find((k) => k.event_type === ev.event_type && k.schema_version === ev.schema_version);
    const versions = cat.kinds.filter((k) => k.event_type === ev.event_type).map((k) => `v${k.schema_version}`);
    plan.replaceChildren(
      kind
        ? el("div", {}, fieldsTable(kind.entry), el("p", { class: "muted" }, `declared by ${kind.declared_by.map((d) => d.service).join(", ")}; versions known: ${versions.join(", ")}`))
        : el("p", { class: "muted", text: `${ev.event_type} v${ev.schema_version} is not in the learned plan (no service declared it).` }),
    );
  } catch (e) {
    if (!(e instanceof NeedsToken)) plan.replaceChildren(el("p", { class: "error", text: String(e.message || e) }));
  }
}

function fieldsTable(entry) {
  const fields = Array.isArray(entry?.fields) ? entry.fields : [];
  if (!fields.length) return el("p", { class: "muted", text: "no fields" });
  return el(
    "table",
    { class: "fields" },
    el("thead", {}, el("tr", {}, ["field", "type", "required", "redacted"].map((h) => el("th", { text: h })))),
    el("tbody", {}, fields.map((f) => el("tr", {}, el("td", { class: "mono", text: f.name }), el("td", { text: f.type }), el("td", { text: f.required ? "yes" : "" }), el("td", { text: f.redacted ? "yes" : "" })))),
  );
}

// ---------------------------------------------------------------- session view

/**
 * A session's events as requests (one per trace, in time order), each a call
 * tree rebuilt from span_id / parent_span_id: events with a `duration_us` are
 * calls (an instrumented function, an HTTP request), the rest are marks on the
 * call whose span they were emitted in.
 */
export function buildRequests(events) {
  const groups = new Map();
  for (const ev of events) {
    const key = ev.trace_id || `event:${ev.event_id}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(ev);
  }
  const requests = [];
  for (const [trace, evs] of groups) {
    const calls = new Map();
    for (const ev of evs) {
      if (isCall(ev) && ev.span_id) {
        const end = micros(ev.timestamp);
        calls.set(ev.span_id, { ev, start: end - data(ev).duration_us, end, children: [], marks: [] });
      }
    }
    const roots = [];
    const loose = [];
    for (const call of calls.values()) {
      const parent = calls.get(call.ev.parent_span_id);
      (parent && parent !== call ? parent.children : roots).push(call);
    }
    for (const ev of evs) {
      if (isCall(ev) && ev.span_id) continue;
      const owner = calls.get(ev.span_id) || calls.get(ev.parent_span_id);
      (owner ? owner.marks : loose).push({ ev, at: micros(ev.timestamp) });
    }
    const sort = (list) => {
      list.sort((a, b) => a.start - b.start);
      for (const c of list) sort(c.children);
    };
    sort(roots);
    const times = [...[...calls.values()].flatMap((c) => [c.start, c.end]), ...loose.map((m) => m.at)];
    const start = Math.min(...times);
    const end = Math.max(...times);
    const failed = [...calls.values()].some((c) => ["error", "panic"].includes(outcomeOf(c.ev)));
    requests.push({ trace, roots, loose, start, end, failed, events: evs.length });
  }
  requests.sort((a, b) => a.start - b.start);
  return requests;
}

async function sessionView(main, sid) {
  const view = await api(`/v1/sessions/${encodeURIComponent(sid)}?limit=10000`);
  const detail = el("aside", { class: "detail", hidden: true, "aria-label": "event detail" });
  const list = el("div", { class: "list" });
  main.append(el("h1", {}, "Session ", el("span", { class: "mono", text: sid })), el("div", { class: "layout" }, list, detail));
  if (!view.events.length) {
    list.append(el("p", { class: "empty", text: "No events in this session." }));
    return;
  }
  const requests = buildRequests(view.events);
  const users = [...new Set(view.events.map((e) => e.uid).filter(Boolean))];
  list.append(el("p", { class: "muted", text: `${view.events.length} events in ${requests.length} requests${users.length ? `, user ${users.join(", ")}` : ""}` }));
  let previous = null;
  for (const request of requests) {
    if (previous) {
      const gap = request.start - previous.end;
      list.append(el("div", { class: "gap", text: gap > 0 ? `… ${formatDuration(Math.round(gap))} later` : "… overlapping the previous request" }));
    }
    list.append(requestView(request, detail));
    previous = request;
  }
}

function requestView(request, detail) {
  const span = Math.max(request.end - request.start, 1);
  const pos = (t) => `${(((t - request.start) / span) * 100).toFixed(3)}%`;
  const first = request.roots[0]?.ev || request.loose[0]?.ev;
  const box = el(
    "section",
    { class: `request${request.failed ? " failed" : ""}`, "data-trace-id": request.trace.startsWith("event:") ? "" : request.trace },
    el(
      "div",
      { class: "request-head" },
      el("strong", { text: request.roots.length ? callLabel(request.roots[0].ev) : first.event_type }),
      el("span", { class: "mono muted", text: first ? first.timestamp : "" }),
      el("span", { class: "muted", text: `${formatDuration(Math.round(request.end - request.start))}, ${request.events} events` }),
      request.failed ? el("span", { class: "badge bad", text: "failed" }) : "",
    ),
  );
  const open = (ev) => showDetail(detail, ev);
  const markLinks = (marks) =>
    marks.length ? el("div", { class: "marks" }, marks.map((m) => el("a", { href: "#", "data-mark": m.ev.event_type, onclick: (e) => { e.preventDefault(); open(m.ev); } }, m.ev.event_type))) : "";
  const node = (call, depth) => {
    const outcome = outcomeOf(call.ev);
    const bad = outcome === "error" || outcome === "panic";
    const track = el(
      "div",
      { class: "track" },
      el("div", { class: `bar ${outcome}`, title: `${callLabel(call.ev)}: ${formatDuration(data(call.ev).duration_us)} ${outcome}` }),
      call.marks.map((m) => el("div", { class: "mark", title: m.ev.event_type, "data-at": pos(m.at) })),
    );
    const bar = track.firstChild;
    bar.style.left = pos(call.start);
    bar.style.width = `${Math.max(((call.end - call.start) / span) * 100, 0.2).toFixed(3)}%`;
    for (const mark of track.querySelectorAll(".mark")) mark.style.left = mark.dataset.at;
    const label = el(
      "div",
      { class: "label" },
      el("a", { href: "#", onclick: (e) => { e.preventDefault(); open(call.ev); } }, callLabel(call.ev)),
      " ",
      el("span", { class: `outcome-${outcome}`, text: outcome }),
      " ",
      el("span", { class: "muted mono", text: formatDuration(data(call.ev).duration_us) }),
      markLinks(call.marks),
    );
    label.style.paddingLeft = `${depth * 16}px`;
    const row = el("div", { class: `node${bad ? " failed" : ""}`, "data-span-id": call.ev.span_id, "data-depth": depth, "data-function": data(call.ev).function ?? "" }, label, track);
    return [row, ...call.children.flatMap((c) => node(c, depth + 1))];
  };
  box.append(...request.roots.flatMap((c) => node(c, 0)));
  if (request.loose.length) box.append(el("div", { class: "marks" }, "outside any call: ", markLinks(request.loose)));
  return box;
}

// ---------------------------------------------------------------- kinds view

async function kindsView(main) {
  // The plan first (small); each kind's count and last seen come after: they
  // are a scan of every stored event, seconds on a store of millions.
  const cat = await api("/v1/catalog");
  drawKinds(main, cat, null);
  const stats = await api("/v1/stats?only=kinds");
  if (main.isConnected) drawKinds(main, cat, stats.stored.kinds);
}

function drawKinds(main, cat, stored) {
  const seen = new Map((stored || []).map((k) => [`${k.event_type} v${k.schema_version}`, k]));
  const badge = (name) => {
    if (!stored) return el("span", { class: "badge", text: "counting…" });
    const s = seen.get(name);
    return el("span", { class: "badge", text: s ? `${s.count} events` : "never seen" });
  };
  const conflicts = (k) => cat.conflicts.filter((c) => c.event_type === k.event_type && c.schema_version === k.schema_version);
  main.replaceChildren(el("h1", { text: `Tracking plan${cat.fixed ? " (fixed)" : " (learned)"}` }));
  main.append(el("p", { class: "muted", text: `${cat.kinds.length} kinds declared, ${cat.conflicts.length} conflicts${stored ? `, ${stored.length} kinds stored` : ""}` }));
  for (const k of cat.kinds) {
    const key = `${k.event_type} v${k.schema_version}`;
    const s = seen.get(key);
    const bad = conflicts(k);
    main.append(
      el(
        "section",
        { class: `kind${bad.length ? " conflict" : ""}${stored && !s ? " unseen" : ""}`, "data-kind": key },
        el("h2", {}, key, badge(key), bad.length ? el("span", { class: "badge bad", text: `${bad.length} conflict${bad.length > 1 ? "s" : ""}` }) : ""),
        el("p", { class: "muted" }, k.entry?.rust_path ?? "", s ? ` · last seen ${s.last_seen}` : ""),
        fieldsTable(k.entry),
        el("p", { class: "muted" }, "declared by: ", k.declared_by.map((d) => `${d.service} (since ${d.first_seen})`).join(", ")),
        bad.map((c) => el("div", { class: "error" }, el("strong", { text: `${c.declared_by} differs from ${c.differs_from}: ` }), el("ul", {}, (c.changes || []).map((ch) => el("li", { text: ch }))))),
      ),
    );
  }
  const undeclared = cat.undeclared || [];
  for (const name of undeclared) {
    main.append(el("section", { class: "kind unseen", "data-kind": name }, el("h2", {}, name, badge(name)), el("p", { class: "muted", text: "in the fixed plan; no service has declared it" })));
  }
  const declared = new Set(cat.kinds.map((k) => `${k.event_type} v${k.schema_version}`));
  const stray = (stored || []).filter((k) => !declared.has(`${k.event_type} v${k.schema_version}`) && !undeclared.includes(`${k.event_type} v${k.schema_version}`));
  if (stray.length) {
    main.append(el("h2", { text: "Stored but never declared" }), el("ul", {}, stray.map((k) => el("li", { "data-kind": `${k.event_type} v${k.schema_version}` }, `${k.event_type} v${k.schema_version}: ${k.count} events, last ${k.last_seen}`))));
  }
}

// ---------------------------------------------------------------- rejected view

async function rejectedView(main) {
  const [page, stats] = await Promise.all([api("/v1/rejected?limit=500"), api("/v1/stats?only=totals,rejected")]);
  main.append(el("h1", { text: `Rejected events (${stats.stored.rejected} kept)` }));
  if (!page.rejected.length) {
    main.append(el("p", { class: "empty", text: "Nothing was rejected." }));
    return;
  }
  const examples = new Map();
  for (const r of page.rejected) {
    if (!examples.has(r.reason_code)) examples.set(r.reason_code, []);
    examples.get(r.reason_code).push(r);
  }
  const counts = stats.stored.rejected_by_reason.length ? stats.stored.rejected_by_reason : [...examples].map(([key, list]) => ({ key, count: list.length }));
  for (const { key, count } of counts) {
    const list = examples.get(key) || [];
    main.append(
      el(
        "section",
        { class: "reason-group", "data-reason": key },
        el("h2", {}, el("span", { class: "mono", text: key }), el("span", { class: "badge bad", text: `${count}` })),
        list.length ? "" : el("p", { class: "muted", text: "no example among the newest 500" }),
        list.slice(0, 3).map((r) =>
          el(
            "div",
            { class: "example" },
            el("p", { class: "muted" }, `${r.received_at} · ${r.service ?? "unknown service"} · ${r.event_type ?? "unknown kind"}`),
            el("ul", {}, r.reasons.map((reason) => el("li", { class: "reason", text: reason }))),
            jsonView(r.raw, r.reasons.length ? reasonPath(r.reasons[0]) : null),
          ),
        ),
      ),
    );
  }
}

// ---------------------------------------------------------------- stats view

const PALETTE = ["#2f5fd0", "#e07b00", "#2e8540", "#8e24aa", "#c62828", "#00838f", "#6d4c41", "#5c6bc0"];

async function statsView(main) {
  // The cheap parts first (index reads); the durations scan every stored
  // event and follow when ready.
  const stats = await api("/v1/stats?only=totals,per_minute");
  const s = stats.stored;
  const durations = el("div", { class: "chart", id: "durations-pending" }, el("p", { class: "muted", text: "computing percentiles over every stored call…" }));
  main.append(
    el("h1", { text: "Stats" }),
    el("p", {}, `${s.events} events, ${s.sessions} sessions, ${s.rejected} rejected, ${s.conflicts} conflicts; this process accepted ${stats.collector.accepted ?? 0} and refused ${stats.collector.rejected ?? 0}.`),
    el("h2", { text: "Events per minute, last hour (event time)" }),
    perMinuteChart(s.per_minute),
    el("h2", { text: "Duration per instrumented function" }),
    durations,
  );
  const slow = await api("/v1/stats?only=durations");
  durations.replaceWith(durationsChart(slow.stored.durations));
}

function perMinuteChart(rows) {
  const box = el("div", { class: "chart", id: "per-minute" });
  if (!rows.length) return box.appendChild(el("p", { class: "empty", text: "No events in the last hour." })) && box;
  const now = Date.now();
  const minutes = [];
  for (let i = 59; i >= 0; i--) minutes.push(new Date(now - i * 60000).toISOString().slice(0, 16));
  const kinds = [...new Set(rows.map((r) => r.event_type))];
  const byMinute = new Map(minutes.map((m) => [m, new Map()]));
  for (const r of rows) byMinute.get(r.minute)?.set(r.event_type, r.count);
  const max = Math.max(1, ...[...byMinute.values()].map((m) => [...m.values()].reduce((a, b) => a + b, 0)));
  const W = 1200, H = 200, bw = W / minutes.length;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H + 16}`, role: "img", "aria-label": "events per minute per kind" });
  chart.append(svg("line", { class: "axis", x1: 0, y1: H, x2: W, y2: H }));
  minutes.forEach((m, i) => {
    let y = H;
    kinds.forEach((k, ki) => {
      const n = byMinute.get(m).get(k) || 0;
      if (!n) return;
      const h = (n / max) * (H - 4);
      y -= h;
      chart.append(svg("rect", { x: i * bw + 1, y, width: bw - 2, height: h, fill: PALETTE[ki % PALETTE.length] }, svg("title", {}, `${m} ${k}: ${n}`)));
    });
    if (i % 10 === 0) chart.append(svg("text", { x: i * bw, y: H + 12 }, m.slice(11)));
  });
  chart.append(svg("text", { x: 2, y: 10 }, `${max}/min`));
  box.append(chart, el("div", { class: "legend" }, kinds.map((k, ki) => { const sw = el("i", { class: "swatch" }); sw.style.background = PALETTE[ki % PALETTE.length]; return el("span", {}, sw, k); })));
  const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", { text: "minute" }), kinds.map((k) => el("th", { text: k })))));
  const body = el("tbody");
  for (const m of minutes.filter((m) => byMinute.get(m).size).slice(-10)) body.append(el("tr", {}, el("td", { class: "mono", text: m }), kinds.map((k) => el("td", { text: byMinute.get(m).get(k) || 0 }))));
  table.append(body);
  box.append(table);
  return box;
}

function durationsChart(rows) {
  const box = el("div", { class: "chart", id: "durations" });
  if (!rows.length) return box.appendChild(el("p", { class: "empty", text: "No instrumented calls stored." })) && box;
  const max = Math.max(1, ...rows.map((r) => r.p99_us));
  const W = 1200, rowH = 22, labelW = 330;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${rows.length * rowH + 4}`, role: "img", "aria-label": "duration percentiles" });
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const x = (us) => labelW + (us / max) * (W - labelW - 10);
    chart.append(
      svg("text", { x: 0, y: y + 12 }, `${r.module}::${r.function}`.slice(-42)),
      svg("rect", { x: labelW, y, width: Math.max(x(r.p99_us) - labelW, 1), height: 14, fill: "#dbe4f7" }, svg("title", {}, `p99 ${formatDuration(r.p99_us)}`)),
      svg("rect", { x: labelW, y, width: Math.max(x(r.p95_us) - labelW, 1), height: 14, fill: "#a9bfee" }, svg("title", {}, `p95 ${formatDuration(r.p95_us)}`)),
      svg("rect", { x: labelW, y, width: Math.max(x(r.p50_us) - labelW, 1), height: 14, fill: "#2f5fd0" }, svg("title", {}, `p50 ${formatDuration(r.p50_us)}`)),
    );
  });
  box.append(chart);
  box.append(
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, ["function", "calls", "p50", "p95", "p99"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows.map((r) => el("tr", { "data-function": r.function }, el("td", { class: "mono", text: `${r.module}::${r.function}` }), el("td", { text: r.calls }), el("td", { text: formatDuration(r.p50_us) }), el("td", { text: formatDuration(r.p95_us) }), el("td", { text: formatDuration(r.p99_us) })))),
    ),
  );
  return box;
}

// ---------------------------------------------------------------- start

document.getElementById("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, document.getElementById("token-input").value.trim());
  catalogCache = null;
  route();
});

route();
