// The atbat sandbox page: a tiny Slack client for the local Slack-compatible server.
// Every string from the workspace goes through esc() before it reaches innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);
const S = { info: null, state: null, raw: "", user: null, channel: null, thread: null,
            modal: null, previews: {}, browse: false, showMembers: false, marking: {} };

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

// Times are shown in the acting person's timezone, as Slack uses the profile's timezone.
const me = () => S.info.users.find((u) => u.id === S.user) || {};
const tz = () => me().tz || "UTC";

function zoneParts(d) {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz(), year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(d);
  return Object.fromEntries(parts.map((p) => [p.type, p.value]));
}
const dayNumber = (d) => { const p = zoneParts(d); return Date.UTC(+p.year, +p.month - 1, +p.day) / 864e5; };
const clock = (d, o = {}) => d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZone: tz(), ...o });
const zoneLabel = (d = new Date()) => new Intl.DateTimeFormat("en-US", { timeZone: tz(), timeZoneName: "short" })
  .formatToParts(d).find((p) => p.type === "timeZoneName")?.value || tz();

// Slack's <!date^UNIX^FORMAT|fallback>, in the acting person's timezone.
function formatDate(seconds, format) {
  const d = new Date(seconds * 1000);
  const day = (o) => d.toLocaleDateString(undefined, { timeZone: tz(), ...o });
  const z = zoneParts(d);
  const p = {
    date_num: `${z.year}-${z.month}-${z.day}`,
    date: day({ year: "numeric", month: "long", day: "numeric" }),
    date_short: day({ year: "numeric", month: "short", day: "numeric" }),
    date_long: day({ weekday: "long", year: "numeric", month: "long", day: "numeric" }),
    time: clock(d),
    time_secs: clock(d, { second: "2-digit" }),
  };
  const diff = dayNumber(d) - dayNumber(new Date());
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
    const title = `${formatDate(Number(secs), "{date_long} {time}")} ${zoneLabel(new Date(Number(secs) * 1000))}`;
    return `<span class="date" title="${esc(title)}">${esc(formatDate(Number(secs), format || "{date_short} {time}"))}</span>`;
  }
  if (target.startsWith("!subteam^")) return `<span class="mention">${esc(label || "@group")}</span>`;
  if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1))}</span>`;
  const url = unent(target);
  if (!/^(https?:|mailto:)/i.test(url)) return esc(label ? unent(label) : url);
  return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(unent(label || target))}</a>`;
}

// The shortcodes atbat uses: [Unicode, text fallback, colour]. Without a colour emoji font
// (a bare machine) the fallback is shown, so nothing turns into an empty box. Others stay as text.
const EMOJI = {
  rotating_light: ["🚨", "ALERT", "red"], red_circle: ["🔴", "", "red"], large_green_circle: ["🟢", "", "green"],
  large_yellow_circle: ["🟡", "", "yellow"], large_orange_circle: ["🟠", "", "orange"],
  large_blue_circle: ["🔵", "", "blue"], white_check_mark: ["✅", "OK", "green"],
  heavy_check_mark: ["✔️", "OK", "green"], warning: ["⚠️", "!", "orange"], x: ["❌", "X", "red"],
  no_entry: ["⛔", "NO", "red"], octagonal_sign: ["🛑", "STOP", "red"], fire: ["🔥", "FIRE", "red"],
  sos: ["🆘", "SOS", "red"], skull: ["💀", "DEAD", "grey"], ghost: ["👻", "LOST", "grey"],
  alarm_clock: ["⏰", "TIME", "blue"], hourglass_flowing_sand: ["⏳", "WAIT", "blue"], hourglass: ["⌛", "WAIT", "blue"],
  stopwatch: ["⏱️", "TIME", "blue"], clock3: ["🕒", "TIME", "blue"], calendar: ["📅", "CAL", "blue"],
  arrows_counterclockwise: ["🔄", "SYNC", "blue"], repeat: ["🔁", "AGAIN", "blue"], arrow_right: ["➡️", "->", "grey"],
  bell: ["🔔", "BELL", "yellow"], pager: ["📟", "PAGE", "blue"], loudspeaker: ["📢", "NEWS", "blue"],
  memo: ["📝", "NOTE", "grey"], scroll: ["📜", "DOC", "grey"], pushpin: ["📌", "PIN", "red"],
  mag: ["🔍", "FIND", "grey"], information_source: ["ℹ️", "i", "blue"], eyes: ["👀", "SEEN", "grey"],
  raising_hand: ["🙋", "ME", "yellow"], wave: ["👋", "HI", "yellow"], rocket: ["🚀", "GO", "blue"],
  checkered_flag: ["🏁", "DONE", "grey"], lock: ["🔒", "LOCK", "grey"], gear: ["⚙️", "RUN", "grey"],
  wrench: ["🔧", "FIX", "grey"], hammer_and_wrench: ["🛠️", "FIX", "grey"], wastebasket: ["🗑️", "DEL", "grey"],
  busts_in_silhouette: ["👥", "TEAM", "grey"], bust_in_silhouette: ["👤", "USER", "grey"],
  tada: ["🎉", "YAY", "green"], mega: ["📣", "NEWS", "blue"], construction: ["🚧", "WORK", "orange"],
  zzz: ["💤", "ZZZ", "grey"], clipboard: ["📋", "NOTE", "blue"], no_bell: ["🔕", "MUTE", "grey"],
};
// atbat also writes some emoji as Unicode: the same fallbacks apply to them.
const GLYPHS = Object.fromEntries(Object.entries(EMOJI).map(([name, [glyph]]) => [glyph.replace("\uFE0F", ""), name]));

// True when this browser draws emoji in colour; an empty box or a black glyph means it has no emoji font.
function hasColorEmoji() {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 24;
  const g = canvas.getContext("2d");
  if (!g) return false;
  g.textBaseline = "top"; g.font = "20px sans-serif"; g.fillStyle = "#000";
  g.fillText("\u{1F6A8}", 0, 0);
  const px = g.getImageData(0, 0, 24, 24).data;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i + 3] > 0 && Math.max(px[i], px[i + 1], px[i + 2]) - Math.min(px[i], px[i + 1], px[i + 2]) > 40) return true;
  }
  return false;
}
const EMOJI_FONT = new URLSearchParams(location.search).get("emoji") !== "text" && hasColorEmoji();

function emojiHtml(name, code) {
  const known = EMOJI[name];
  if (!known) return code;
  const [glyph, text, colour] = known;
  if (EMOJI_FONT) return `<span class="emoji" title=":${name}:">${glyph}</span>`;
  return `<span class="emoji-text ${colour}${text ? "" : " dot"}" title=":${name}:">${text}</span>`;
}
function emoji(s) {
  s = s.replace(/:([a-z0-9_+-]+):/g, (m, k) => emojiHtml(k, m));
  if (EMOJI_FONT) return s;
  return s.replace(/(\p{Extended_Pictographic})\uFE0F?/gu, (m, g) =>
    GLYPHS[g] ? emojiHtml(GLYPHS[g], m) : g.codePointAt(0) >= 0x1f000 ? `<span class="emoji-text grey dot" title="${g}"></span>` : m);
}

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
  const view = ctx.view ? ` data-view="${esc(ctx.view)}"` : "";
  const data = `data-channel="${esc(ctx.channel)}" data-ts="${esc(ctx.ts)}" data-action="${esc(el.action_id)}"${view}`;
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

// ------------------------------------------------------------ files

function size(bytes) {
  return bytes < 1024 ? `${bytes} B` : bytes < 1048576 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

async function loadPreview(id) {
  if (id in S.previews) return;
  S.previews[id] = `<p class="hint">Loading…</p>`;
  const r = await fetch(`/_sandbox/files/${encodeURIComponent(id)}/preview`);
  const answer = await r.json().catch(() => ({}));
  // The server renders the Markdown without raw HTML or unsafe links.
  S.previews[id] = r.ok ? answer.html : `<p class="hint">${esc(answer.error || "No preview")}</p>`;
  render();
}

function fileHtml(f) {
  const url = `/_sandbox/files/${encodeURIComponent(f.id)}`;
  let inner = "";
  if (/^image\/(png|jpeg|gif|webp)$/.test(f.mimetype)) {
    inner = `<a href="${url}" target="_blank" rel="noopener"><img class="file-image" src="${url}" alt="${esc(f.title)}"></a>`;
  } else if (f.filetype === "markdown") {
    if (!(f.id in S.previews)) loadPreview(f.id);
    inner = `<div class="markdown">${S.previews[f.id]}</div>`;
  }
  return `<div class="file" data-file="${esc(f.id)}"><div class="file-head"><b>${esc(f.title || f.name)}</b>
    <span class="file-meta">${esc(f.name)} · ${esc(size(f.size || 0))}</span>
    <a class="file-download" href="${url}?download=1" download="${esc(f.name)}">Download</a></div>
    ${inner ? `<div class="file-body">${inner}</div>` : ""}</div>`;
}

function body(m, ctx) {
  let html = m.blocks?.length ? m.blocks.map((b) => block(b, ctx)).join("") : mrkdwn(m.text);
  html += (m.files || []).map(fileHtml).join("");
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
  const when = clock(new Date(tsNum(m) * 1000));
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
const isMember = (c) => c.members.includes(S.user);
const mine = () => S.state.channels.filter((c) => !c.is_im && isMember(c));
const others = () => S.state.channels.filter((c) => !c.is_im && !isMember(c) && !c.is_private);

// Everything in a channel that someone else wrote, with its ts: messages, replies, my ephemerals.
function activity(c) {
  const items = [];
  for (const m of c.messages) {
    items.push(m);
    items.push(...(m.replies || []));
  }
  items.push(...myEphemerals(c.id));
  return items.filter((m) => m.user !== S.user || m.is_ephemeral || m.bot_id);
}
const lastRead = (c) => parseFloat(S.state.last_read?.[c.id] || "0");
const unread = (c) => activity(c).filter((m) => tsNum(m) > lastRead(c)).length;

// Unread state is kept per person on the server, as Slack keeps it per user.
function markRead(c) {
  const newest = activity(c).reduce((top, m) => (tsNum(m) > tsNum(top) ? m : top), { ts: "0" });
  if (tsNum(newest) <= lastRead(c) || S.marking[c.id] === newest.ts) return;
  S.marking[c.id] = newest.ts;
  (S.state.last_read ||= {})[c.id] = newest.ts;
  fetch("/_sandbox/read", { method: "POST", headers: { "Content-Type": "application/json" },
                            body: JSON.stringify({ user: S.user, channel: c.id, ts: newest.ts }) });
}

function renderSidebar() {
  const item = (c, label) => {
    const count = c.id === S.channel ? 0 : unread(c);
    return `<li data-channel="${esc(c.id)}" class="${c.id === S.channel && !S.home ? "active" : ""}${count > 0 ? " unread" : ""}">
      <span>${label}</span>${count > 0 ? `<span class="badge">${count}</span>` : ""}</li>`;
  };
  $("channels").innerHTML = mine().map((c) => item(c, `# ${esc(c.name)}`)).join("");
  const browsable = others();
  $("browse").innerHTML = browsable.length ? `<li data-browse="1" class="browse-toggle">
      <span>${S.browse ? "▾" : "▸"} Browse channels</span><span class="count">${browsable.length}</span></li>` +
    (S.browse ? browsable.map((c) => `<li data-channel="${esc(c.id)}" class="other${c.id === S.channel ? " active" : ""}">
      <span># ${esc(c.name)}</span></li>`).join("") : "") : "";
  const im = imOf(S.user);
  $("dms").innerHTML = im ? item(im, "atbat <small>(bot)</small>") : "";
  $("apps").querySelector("li").className = S.home ? "active" : "";
}

function renderMembers(c) {
  const people = c.is_im ? [] : c.members.map((id) => ({ id, name: userName(id) }));
  $("members-toggle").hidden = c.is_im;
  $("members-toggle").textContent = `${people.length} member${people.length === 1 ? "" : "s"}`;
  $("members").hidden = c.is_im || !S.showMembers;
  $("members").innerHTML = `<h3>Members of #${esc(c.name)}</h3><ul>${people.map((p) =>
    `<li>${esc(p.name)}${p.id === S.state.bot_user_id ? " <small>(bot)</small>" : ""}${p.id === S.user ? " <small>(you)</small>" : ""}</li>`).join("")}</ul>`;
}

function keepScroll(el, html) {
  const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
  el.innerHTML = html;
  if (!atBottom) return;
  el.scrollTop = el.scrollHeight;
  // Pictures take their height only once loaded: stay at the bottom then too.
  for (const img of el.querySelectorAll("img")) {
    if (!img.complete) img.addEventListener("load", () => { el.scrollTop = el.scrollHeight; }, { once: true });
  }
}

// atbat's Home tab: the view it published for the acting person (views.publish).
function renderHome() {
  $("channel-name").textContent = "atbat Home";
  $("channel-topic").textContent = "The App Home tab: drawn when you open it and whenever what it shows changes";
  $("members-toggle").hidden = true;
  $("members").hidden = true;
  $("composer").hidden = true;
  $("join-bar").hidden = true;
  $("thread").hidden = true;
  const view = (S.state.my_views || []).filter((v) => v.type === "home").pop();
  keepScroll($("messages"), view ? `<div class="home">${(view.blocks || []).map((b) =>
    block(b, { channel: "", ts: "", view: view.id })).join("")}</div>` :
    `<p class="hint" style="padding:0 18px">Opening atbat's Home tab ...</p>`);
}

function renderChannel() {
  if (S.home) { renderHome(); return; }
  const c = current();
  if (!c) return;
  $("channel-name").textContent = c.is_im ? "atbat" : `# ${c.name}`;
  $("channel-topic").innerHTML = c.is_im ? "Direct messages with the bot" : mrkdwn(c.topic?.value || "");
  renderMembers(c);
  const member = c.is_im || isMember(c);
  $("composer").hidden = !member;
  $("join-bar").hidden = member;
  $("join-bar").querySelector("span").textContent = `You are not in #${c.name}; you can read it.`;
  if (member) markRead(c);
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

// ------------------------------------------------------------ the phone

const KIND = { push: "PUSH", sms: "SMS", email: "E-MAIL", call: "CALL" };
const KEYS = { 1: "Acknowledge", 2: "Escalate" };

function phoneWhen(at) { return at ? clock(new Date(at * 1000)) : ""; }

function callHtml(c) {
  const ringing = c.waiting_for_key;
  const state = ringing ? "ringing: answer with a key" : c.digits.length ? `ended, you pressed ${c.digits.join(" ")}` : c.status;
  const said = c.said.map((line) => `<p>“${esc(line)}”</p>`).join("");
  const keypad = ringing ? `<div class="keypad" role="group" aria-label="Keypad">${
    ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"].map((k) =>
      `<button type="button" data-key="${k}" data-call="${esc(c.sid)}" class="${k === "1" ? "ack" : k === "2" ? "esc" : ""}"
        aria-label="${k}${KEYS[k] ? ` (${KEYS[k]})` : ""}">${k}${KEYS[k] ? `<small>${KEYS[k]}</small>` : ""}</button>`).join("")}</div>` : "";
  return `<div class="phone-item call${ringing ? " ringing" : ""}" data-sid="${esc(c.sid)}">
    <div class="head"><span class="kind call">${KIND.call}</span><span>from ${esc(c.from)}</span>
      <span class="when">${esc(phoneWhen(c.at))}</span></div>
    <div class="title">${ringing ? "Incoming call" : "Call"} <small>(${esc(state)})</small></div>
    <div class="said">${said || (ringing ? "" : "<p>(nothing said)</p>")}</div>${keypad}</div>`;
}

function deliveryHtml(d) {
  const via = d.kind === "push" ? `topic ${d.to}` : d.kind === "sms" ? `from ${d.from_ || ""}` : `to ${d.to}`;
  return `<div class="phone-item delivery" data-kind="${esc(d.kind)}">
    <div class="head"><span class="kind ${esc(d.kind)}">${KIND[d.kind] || esc(d.kind)}</span><span>${esc(via)}</span>
      <span class="when">${esc(phoneWhen(d.at))}</span></div>
    ${d.title ? `<div class="title">${esc(d.title)}</div>` : ""}<div class="body">${esc(d.body)}</div></div>`;
}

function renderPhone() {
  const phone = S.state.phone || { methods: [], deliveries: [], calls: [] };
  const ringing = phone.calls.filter((c) => c.waiting_for_key);
  $("phone-owner").textContent = `${me().name || ""}'s phone`;
  $("phone-methods").textContent = phone.methods.length ? `Reached by: ${phone.methods.join(", ")}` :
    "No push, SMS, call or e-mail set up: add one with /oncall notify.";
  const others = (phone.others || []).map((o) => `<button type="button" class="other-phone${o.ringing ? " ringing" : ""}"
    data-act-as="${esc(o.user)}" title="Act as ${esc(userName(o.user))}">${esc(userName(o.user))}: ${o.ringing ? "ringing" :
    `${o.count} new`}</button>`).join(" ");
  $("phone-others").innerHTML = others ? `Other phones: ${others}` : "";
  $("phone-others").hidden = !others;
  $("phone-calls").innerHTML = ringing.map(callHtml).join("");
  const rest = [...phone.calls.filter((c) => !c.waiting_for_key).map((c) => ({ ...c, kind: "call" })),
                ...phone.deliveries].sort((a, b) => b.at - a.at);
  $("phone-inbox").innerHTML = rest.map((x) => (x.kind === "call" ? callHtml(x) : deliveryHtml(x))).join("") ||
    `<p class="phone-empty">Nothing yet. Pages reach this phone by ${esc(me().name || "this person")}'s notification
     rules: fire a test alert while they are on call, or try <code>/oncall page @${esc(me().name || "me")} sev1 Hello</code>.</p>`;
  const toggle = $("phone-toggle");
  toggle.textContent = ringing.length ? `Phone: ringing (${ringing.length})` : "Phone";
  toggle.classList.toggle("ringing", ringing.length > 0);
}

$("phone-toggle").onclick = () => {
  const panel = $("phone");
  panel.hidden = !panel.hidden;
  $("phone-toggle").setAttribute("aria-expanded", String(!panel.hidden));
  localStorage.setItem("atbat-sandbox-phone", panel.hidden ? "hidden" : "shown");
};
if (localStorage.getItem("atbat-sandbox-phone") === "hidden") { $("phone").hidden = true; $("phone-toggle").setAttribute("aria-expanded", "false"); }

function actAs(user) {
  $("as-user").value = user;
  $("as-user").dispatchEvent(new Event("change"));
}

document.addEventListener("click", async (ev) => {
  const other = ev.target.closest("[data-act-as]");
  if (other) { actAs(other.dataset.actAs); return; }
  const key = ev.target.closest("[data-key]");
  if (!key) return;
  for (const b of key.parentElement.querySelectorAll("button")) b.disabled = true;
  const answer = await api("/_sandbox/phone/press", { sid: key.dataset.call, digit: key.dataset.key });
  if (answer.ok) notice(`Pressed ${key.dataset.key} on the call`);
});

function render() {
  if (!S.state) return;
  if (!current()) S.channel = mine()[0]?.id || imOf(S.user)?.id;
  renderSidebar();
  renderChannel();
  renderModal();
  renderPhone();
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

function switchTo(channel, thread = null) { S.home = false; S.channel = channel; S.thread = thread; render(); }

function openHome() { S.home = true; render(); api("/_sandbox/home", {}); }

document.addEventListener("click", (ev) => {
  const t = ev.target.closest("[data-act=click],[data-open-thread],#sidebar li[data-channel],#sidebar li[data-browse],#sidebar li[data-home]");
  if (!t) return;
  if (t.dataset.home) { openHome(); return; }
  if (t.dataset.openThread) { S.thread = t.dataset.openThread; render(); return; }
  if (t.dataset.browse) { S.browse = !S.browse; render(); return; }
  if (t.matches("li")) { switchTo(t.dataset.channel); return; }
  if (t.dataset.url) window.open(t.dataset.url, "_blank", "noopener");
  api("/_sandbox/click", { channel: t.dataset.channel, ts: t.dataset.ts, action_id: t.dataset.action,
                           view_id: t.dataset.view });
});

document.addEventListener("change", (ev) => {
  const t = ev.target;
  if (!t.matches("select[data-act=select]") || !t.value) return;
  const option = { text: { type: "plain_text", text: t.selectedOptions[0].textContent }, value: t.value };
  api("/_sandbox/click", { channel: t.dataset.channel, ts: t.dataset.ts, action_id: t.dataset.action,
                           selected_option: option });
});

// @-autocomplete: the people of the config, as Slack suggests workspace members.
function mentionBox(input, list) {
  let matches = [], chosen = 0;
  const word = () => /(^|\s)@([\w.-]*)$/.exec(input.value.slice(0, input.selectionStart));
  const close = () => { list.hidden = true; matches = []; };
  const show = () => {
    const m = word();
    const prefix = m ? m[2].toLowerCase() : null;
    matches = prefix === null ? [] : S.info.users.filter((u) => u.name.toLowerCase().startsWith(prefix)).slice(0, 8);
    // A name typed in full needs no suggestion: Enter sends the message.
    if (!matches.length || (matches.length === 1 && matches[0].name.toLowerCase() === prefix)) { close(); return; }
    chosen = Math.min(chosen, matches.length - 1);
    list.innerHTML = matches.map((u, i) => `<li data-pick="${i}" class="${i === chosen ? "chosen" : ""}">
      <b>${esc(u.name)}</b> <span>${esc(u.role)}</span></li>`).join("");
    list.hidden = false;
  };
  const pick = (i) => {
    const m = word(), u = matches[i];
    if (!m || !u) return;
    const start = input.selectionStart - m[2].length;
    input.value = `${input.value.slice(0, start)}${u.name} ${input.value.slice(input.selectionStart)}`;
    input.selectionStart = input.selectionEnd = start + u.name.length + 1;
    close();
    input.focus();
  };
  input.addEventListener("input", () => { chosen = 0; show(); });
  input.addEventListener("keydown", (ev) => {
    if (list.hidden) return;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      chosen = (chosen + (ev.key === "ArrowDown" ? 1 : matches.length - 1)) % matches.length;
      show(); ev.preventDefault();
    } else if (ev.key === "Enter" || ev.key === "Tab") { pick(chosen); ev.preventDefault(); }
    else if (ev.key === "Escape") close();
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  list.addEventListener("mousedown", (ev) => {
    const li = ev.target.closest("[data-pick]");
    if (li) { ev.preventDefault(); pick(Number(li.dataset.pick)); }
  });
}
mentionBox($("composer-text"), $("mentions"));
mentionBox($("thread-text"), $("thread-mentions"));

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
$("members-toggle").onclick = () => { S.showMembers = !S.showMembers; render(); };
$("join").onclick = () => api("/_sandbox/join", { channel: S.channel });

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

function showZone() {
  $("as-tz").textContent = `${tz()} (${zoneLabel()})`;
  $("as-tz").title = `Times are shown in ${me().name}'s timezone, ${tz()}`;
}

$("as-user").addEventListener("change", () => {
  S.user = $("as-user").value;
  localStorage.setItem("atbat-sandbox-user", S.user);
  S.raw = ""; S.modal = null; S.marking = {};
  const c = current();
  if (c && (c.is_im ? c.user !== S.user : !isMember(c))) { S.channel = mine()[0]?.id || imOf(S.user)?.id; S.thread = null; }
  showZone();
  if (S.home) api("/_sandbox/home", {});
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
  if (S.info.socket_mode) $("mode").textContent = "Socket Mode";
  showZone();
  loop();
}
start();
