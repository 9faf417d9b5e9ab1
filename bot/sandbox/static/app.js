// The atbat sandbox page: a tiny Slack client for the local Slack-compatible server.
// Every string from the workspace goes through esc() before it reaches innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { info: null, state: null, raw: "", user: null, channel: null, thread: null,
            seen: {}, modal: null };

const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) =>
  ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const unent = (s) => String(s ?? "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const tsNum = (m) => parseFloat(m.ts);

// ------------------------------------------------------------ names and dates

function userName(id) {
  const u = (S.state?.users || []).find((x) => x.id === id);
  return u ? u.name : id;
}
function channelName(id) {
  const c = (S.state?.channels || []).find((x) => x.id === id);
  if (!c) return id;
  return c.is_im ? userName(c.user) : c.name;
}

function dayDiff(d) {
  const a = new Date(d), b = new Date();
  a.setHours(0, 0, 0, 0); b.setHours(0, 0, 0, 0);
  return Math.round((a - b) / 864e5);
}

// Slack's <!date^UNIX^FORMAT|fallback>, in the browser's own timezone.
function formatDate(seconds, format) {
  const d = new Date(seconds * 1000);
  const day = (o) => d.toLocaleDateString(undefined, o);
  const pad = (n) => String(n).padStart(2, "0");
  const p = {
    date_num: `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`,
    date: day({ year: "numeric", month: "long", day: "numeric" }),
    date_short: day({ year: "numeric", month: "short", day: "numeric" }),
    date_long: day({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    time: d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }),
    time_secs: d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }),
  };
  const diff = dayDiff(d);
  const pretty = (fallback) => ({ 0: "Today", "-1": "Yesterday", 1: "Tomorrow" })[diff] || fallback;
  p.date_pretty = pretty(p.date);
  p.date_short_pretty = pretty(p.date_short);
  p.date_long_pretty = pretty(p.date_long);
  const mins = Math.round((d - Date.now()) / 60000);
  p.ago = Math.abs(mins) < 60 ? (mins <= 0 ? `${-mins} minutes ago` : `in ${mins} minutes`)
    : (mins <= 0 ? `${Math.round(-mins / 60)} hours ago` : `in ${Math.round(mins / 60)} hours`);
  return format.replace(/\{(\w+)\}/g, (m, k) => p[k] ?? m);
}

// ------------------------------------------------------------ mrkdwn

// One <...> token: mention, channel, date, special mention or link.
function token(t) {
  const [target, label] = [t.split("|")[0], t.includes("|") ? t.slice(t.indexOf("|") + 1) : ""];
  if (target.startsWith("@")) return `<span class="mention">@${esc(userName(target.slice(1)))}</span>`;
  if (target.startsWith("#")) return `<span class="mention">#${esc(channelName(target.slice(1)))}</span>`;
  if (target.startsWith("!date^")) {
    const [, secs, format] = target.split("^");
    const d = new Date(Number(secs) * 1000);
    return `<span class="date" title="${esc(d.toString())}">${esc(formatDate(Number(secs), format || "{date_short} {time}"))}</span>`;
  }
  if (target.startsWith("!subteam^")) return `<span class="mention">${esc(label || "@group")}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1))}</span>`;
  const url = unent(target);
  if (!/^(https?:|mailto:)/i.test(url)) return esc(label ? unent(label) : url);
  return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(unent(label || target))}</a>`;
}

// The shortcodes atbat uses; others stay as text.
const EMOJI = { rotating_light: "🚨", red_circle: "🔴", large_green_circle: "🟢", white_check_mark: "✅",
  warning: "⚠️", fire: "🔥", eyes: "👀", x: "❌", hourglass_flowing_sand: "⏳", hourglass: "⌛",
  arrows_counterclockwise: "🔄", bell: "🔔", pager: "📟", memo: "📝", sos: "🆘", no_entry: "⛔",
  large_yellow_circle: "🟡", large_orange_circle: "🟠", large_blue_circle: "🔵", rocket: "🚀",
  wave: "👋", calendar: "📅", clock3: "🕒", arrow_right: "➡️", lock: "🔒", gear: "⚙️", skull: "💀",
  heavy_check_mark: "✔️", repeat: "🔁", wrench: "🔧", checkered_flag: "🏁", octagonal_sign: "🛑",
  hammer_and_wrench: "🛠️", scroll: "📜", pushpin: "📌", mag: "🔍", busts_in_silhouette: "👥", stopwatch: "⏱️", bust_in_silhouette: "👤", loudspeaker: "📢" };
const emoji = (s) => s.replace(/:([a-z0-9_+-]+):/g, (m, k) => EMOJI[k] || m);

function mrkdwn(text) {
  const slots = [];
  const keep = (html) => `\u0000${slots.push(html) - 1}\u0000`;
  let s = String(text ?? "").replace(/\u0000/g, "");
  s = s.replace(/```([\s\S]*?)```/g, (_, c) => keep(`<pre>${esc(unent(c.replace(/^\n/, "")))}</pre>`));
  s = s.replace(/`([^`\n]+)`/g, (_, c) => keep(`<code>${esc(unent(c))}</code>`));
  s = s.replace(/<([^<>\n]+)>/g, (_, t) => keep(token(t)));
  s = esc(unent(s));
  s = s.replace(/(^|[^\w*])\*(?!\s)([^*\n]+?)\*(?!\w)/g, "$1<b>$2</b>");
  s = s.replace(/(^|[^\w_])_(?!\s)([^_\n]+?)_(?!\w)/g, "$1<i>$2</i>");
  s = s.replace(/(^|[^\w~])~(?!\s)([^~\n]+?)~(?!\w)/g, "$1<s>$2</s>");
  s = emoji(s).replace(/\n/g, "<br>");
  return s.replace(/\u0000(\d+)\u0000/g, (_, i) => slots[Number(i)]);
}

const textObj = (o) => (!o ? "" : o.type === "mrkdwn" ? mrkdwn(o.text) : emoji(esc(o.text)).replace(/\n/g, "<br>"));

// ------------------------------------------------------------ Block Kit

function element(el, ctx) {
  const data = `data-channel="${esc(ctx.channel)}" data-ts="${esc(ctx.ts)}" data-action="${esc(el.action_id)}"`;
  if (el.type === "button") {
    const style = el.style === "primary" || el.style === "danger" ? el.style : "";
    const url = el.url ? ` data-url="${esc(el.url)}"` : "";
    return `<button type="button" class="${style}" data-act="click" ${data}${url}>${textObj(el.text)}</button>`;
  }
  if (el.type === "static_select" || el.type === "overflow") {
    const opts = (el.options || []).map((o) =>
      `<option value="${esc(o.value)}">${esc(o.text?.text)}</option>`).join("");
    const placeholder = esc(el.placeholder?.text || (el.type === "overflow" ? "⋯" : "Choose"));
    return `<select data-act="select" ${data}><option value="">${placeholder}</option>${opts}</select>`;
  }
  return "";
}

function block(b, ctx) {
  switch (b.type) {
    case "header": return `<div class="block-header">${textObj(b.text)}</div>`;
    case "divider": return `<hr class="block-divider">`;
    case "context": return `<div class="block-context">${(b.elements || []).map((e) =>
      e.type === "image" ? "" : textObj(e)).join(" ")}</div>`;
    case "actions": return `<div class="block-actions">${(b.elements || []).map((e) =>
      element(e, ctx)).join("")}</div>`;
    case "section": {
      const fields = (b.fields || []).map((f) => `<div>${textObj(f)}</div>`).join("");
      return `<div class="block-section"><div class="text">${textObj(b.text)}${fields ?
        `<div class="fields">${fields}</div>` : ""}</div>${b.accessory ? element(b.accessory, ctx) : ""}</div>`;
    }
    case "input": return inputBlock(b);
    default: return b.text ? `<div>${textObj(b.text)}</div>` : "";
  }
}

function inputBlock(b) {
  const el = b.element || {}, id = `in-${esc(b.block_id)}`;
  const attrs = `id="${id}" data-block="${esc(b.block_id)}" data-action="${esc(el.action_id)}" data-type="${esc(el.type)}"`;
  const placeholder = esc(el.placeholder?.text || "");
  let field;
  if (el.type === "static_select") {
    const initial = el.initial_option?.value;
    field = `<select ${attrs}><option value="">${placeholder || "Choose"}</option>${(el.options || []).map((o) =>
      `<option value="${esc(o.value)}"${o.value === initial ? " selected" : ""}>${esc(o.text?.text)}</option>`).join("")}</select>`;
  } else if (el.type === "users_select") {
    field = `<select ${attrs}><option value=""></option>${S.info.users.map((u) =>
      `<option value="${esc(u.id)}"${u.id === el.initial_user ? " selected" : ""}>${esc(u.name)}</option>`).join("")}</select>`;
  } else if (el.multiline) {
    field = `<textarea ${attrs} rows="4" placeholder="${placeholder}">${esc(el.initial_value)}</textarea>`;
  } else {
    field = `<input ${attrs} placeholder="${placeholder}" value="${esc(el.initial_value)}">`;
  }
  return `<div class="input-block"><label for="${id}">${esc(b.label?.text)}${b.optional ? " (optional)" : ""}</label>
    ${field}${b.hint ? `<div class="hint">${esc(b.hint.text)}</div>` : ""}<div class="error" data-error="${esc(b.block_id)}"></div></div>`;
}

function body(m, ctx) {
  let html = m.blocks?.length ? m.blocks.map((b) => block(b, ctx)).join("") : mrkdwn(m.text);
  for (const a of m.attachments || []) {
    const inner = a.blocks?.length ? a.blocks.map((b) => block(b, ctx)).join("") : mrkdwn(a.text || a.fallback);
    const color = /^#?[0-9a-f]{6}$/i.test(a.color || "") ? `#${a.color.replace("#", "")}` : "#ddd";
    html += `<div class="attachment" style="border-left-color:${color}">${inner}</div>`;
  }
  return html;
}

function messageHtml(m, channel, inThread) {
  // An ephemeral's `user` is its recipient; it always comes from the app.
  const isBot = m.is_ephemeral || m.user === S.state.bot_user_id || m.bot_id;
  const name = isBot ? "atbat" : userName(m.user);
  const when = new Date(tsNum(m) * 1000).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const replies = !inThread && m.reply_count
    ? `<span class="replies-link" data-open-thread="${esc(m.ts)}">${m.reply_count} ${m.reply_count === 1 ? "reply" : "replies"}</span>` : "";
  const eph = m.is_ephemeral ? `<span class="only-you">Only visible to you</span>` : "";
  return `<div class="msg${m.is_ephemeral ? " ephemeral" : ""}" data-ts="${esc(m.ts)}">
    <div class="avatar${isBot ? " bot" : ""}">${esc(name.slice(0, 1).toUpperCase())}</div>
    <div class="msg-main"><div class="msg-meta"><b>${esc(name)}</b>${esc(when)} ${eph}
      ${m.edited ? '<span class="edited">(edited)</span>' : ""}</div>
      <div class="msg-body">${body(m, { channel, ts: m.ts })}</div>${replies}</div></div>`;
}

// ------------------------------------------------------------ rendering

const current = () => S.state.channels.find((c) => c.id === S.channel);
const myEphemerals = (channel) => (S.state.ephemerals[S.user] || []).filter((e) => e.channel === channel);
const imOf = (user) => S.state.channels.find((c) => c.is_im && c.user === user);
const activity = (c) => c.messages.reduce((n, m) => n + 1 + (m.reply_count || 0), 0) + myEphemerals(c.id).length;

function renderSidebar() {
  const visible = S.state.channels.filter((c) => !c.is_im);
  const item = (c, label) => {
    const key = `${S.user}:${c.id}`, unread = activity(c) - (S.seen[key] ?? activity(c));
    if (c.id === S.channel) S.seen[key] = activity(c);
    if (!(key in S.seen)) S.seen[key] = activity(c);
    return `<li data-channel="${esc(c.id)}" class="${c.id === S.channel ? "active" : ""}${unread > 0 ? " unread" : ""}">
      <span>${label}</span>${unread > 0 && c.id !== S.channel ? `<span class="badge">${unread}</span>` : ""}</li>`;
  };
  $("channels").innerHTML = visible.map((c) => item(c, `# ${esc(c.name)}`)).join("");
  const im = imOf(S.user);
  $("dms").innerHTML = im ? item(im, "atbat <small>(bot)</small>") : "";
}

function keepScroll(el, html) {
  const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  el.innerHTML = html;
  if (atBottom) el.scrollTop = el.scrollHeight;
}

function renderChannel() {
  const c = current();
  if (!c) return;
  $("channel-name").textContent = c.is_im ? "atbat" : `# ${c.name}`;
  $("channel-topic").textContent = c.is_im ? "Direct messages with the bot" : c.topic?.value || "";
  const items = [...c.messages, ...myEphemerals(c.id).filter((e) => !e.thread_ts)];
  items.sort((a, b) => tsNum(a) - tsNum(b));
  keepScroll($("messages"), items.map((m) => messageHtml(m, c.id, false)).join("") ||
    `<p class="hint" style="padding:0 18px">No messages yet.</p>`);
  const parent = S.thread && c.messages.find((m) => m.ts === S.thread);
  $("thread").hidden = !parent;
  if (parent) {
    const replies = [...parent.replies, ...myEphemerals(c.id).filter((e) => e.thread_ts === S.thread)];
    replies.sort((a, b) => tsNum(a) - tsNum(b));
    keepScroll($("thread-messages"), `<div class="parent">${messageHtml(parent, c.id, true)}</div>` +
      replies.map((m) => messageHtml(m, c.id, true)).join(""));
  }
}

function renderModal() {
  const view = (S.state.my_views || []).filter((v) => v.type === "modal").pop();
  if (!view) { $("modal").hidden = true; S.modal = null; return; }
  if (S.modal && S.modal.id === view.id && S.modal.hash === view.hash) return;  // keep what was typed
  S.modal = view;
  $("modal-title").textContent = view.title?.text || "";
  $("modal-body").innerHTML = (view.blocks || []).map((b) => block(b, { channel: "", ts: "" })).join("");
  $("modal-submit").textContent = view.submit?.text || "Submit";
  $("modal-submit").hidden = !view.submit;
  $("modal-close").textContent = view.close?.text || "Cancel";
  $("modal").hidden = false;
}

function render() {
  if (!S.state) return;
  renderSidebar();
  renderChannel();
  renderModal();
}

// ------------------------------------------------------------ talking to the server

function notice(text) {
  $("notice").textContent = text;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { $("notice").textContent = ""; }, 6000);
}

async function api(path, payload) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify({ user: S.user, ...payload }) });
  const answer = await r.json().catch(() => ({}));
  if (!r.ok || answer.ok === false) notice(answer.error || `atbat answered HTTP ${answer.status || r.status}`);
  setTimeout(poll, 150);
  return answer;
}

async function poll() {
  try {
    const r = await fetch(`/_sandbox/page-state?user=${encodeURIComponent(S.user)}`);
    const text = await r.text();
    if (text !== S.raw) { S.raw = text; S.state = JSON.parse(text); render(); }
  } catch (e) { notice("The sandbox is not answering (stopped?)"); }
}

function loop() { poll().finally(() => setTimeout(loop, 700)); }

// ------------------------------------------------------------ what people do

function switchTo(channel, thread = null) { S.channel = channel; S.thread = thread; render(); }

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("[data-act=click],[data-open-thread],#sidebar li[data-channel]");
  if (!t) return;
  if (t.dataset.openThread) { S.thread = t.dataset.openThread; render(); return; }
  if (t.matches("li")) { switchTo(t.dataset.channel); return; }
  if (t.dataset.url) window.open(t.dataset.url, "_blank", "noopener");
  api("/_sandbox/click", { channel: t.dataset.channel, ts: t.dataset.ts, action_id: t.dataset.action });
});

document.addEventListener("change", (ev) => {
  const t = ev.target;
  if (!t.matches("select[data-act=select]") || !t.value) return;
  const option = { text: { type: "plain_text", text: t.selectedOptions[0].textContent }, value: t.value };
  api("/_sandbox/click", { channel: t.dataset.channel, ts: t.dataset.ts, action_id: t.dataset.action,
                           selected_option: option });
});

function composer(form, input, thread) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    await api("/_sandbox/say", { channel: S.channel, text, thread_ts: thread() });
  });
}
composer($("composer"), $("composer-text"), () => null);
composer($("thread-composer"), $("thread-text"), () => S.thread);
$("close-thread").onclick = () => { S.thread = null; render(); };

function modalValues() {
  const values = {};
  for (const el of $("modal-body").querySelectorAll("[data-block]")) {
    const v = { type: el.dataset.type };
    if (el.dataset.type === "static_select") {
      v.selected_option = el.value ? { text: { type: "plain_text", text: el.selectedOptions[0].textContent },
                                       value: el.value } : null;
    } else if (el.dataset.type === "users_select") v.selected_user = el.value || null;
    else v.value = el.value;
    (values[el.dataset.block] ||= {})[el.dataset.action] = v;
  }
  return values;
}

$("modal-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const answer = await api("/_sandbox/submit", { view_id: S.modal.id, values: modalValues() });
  for (const e of $("modal-body").querySelectorAll("[data-error]")) {
    e.textContent = answer.errors?.[e.dataset.error] || "";
  }
});
$("modal-close").onclick = () => api("/_sandbox/close", { view_id: S.modal.id });

async function sendAlert(action) {
  const team = $("alert-team").value;
  const answer = await api("/_sandbox/alert", { team, action });
  if (answer.ok) {
    notice(`${action === "fire" ? "Fired" : "Resolved"} the test alert of ${team}`);
    const channel = S.info.teams.find((t) => t.name === team)?.channel;
    if (channel && action === "fire") switchTo(channel);
  }
}
$("fire-alert").onclick = () => sendAlert("fire");
$("resolve-alert").onclick = () => sendAlert("resolve");

$("as-user").addEventListener("change", () => {
  S.user = $("as-user").value;
  localStorage.setItem("atbat-sandbox-user", S.user);
  S.raw = ""; S.modal = null;
  poll();
});

async function start() {
  S.info = await (await fetch("/_sandbox/info")).json();
  const wanted = new URLSearchParams(location.search).get("as") || localStorage.getItem("atbat-sandbox-user");
  S.user = S.info.users.some((u) => u.id === wanted) ? wanted : S.info.users[0].id;
  $("as-user").innerHTML = S.info.users.map((u) =>
    `<option value="${esc(u.id)}"${u.id === S.user ? " selected" : ""}>${esc(u.name)} — ${esc(u.role)}</option>`).join("");
  $("alert-team").innerHTML = S.info.teams.map((t) => `<option>${esc(t.name)}</option>`).join("");
  S.channel = S.info.teams[0]?.channel;
  loop();
}
start();
