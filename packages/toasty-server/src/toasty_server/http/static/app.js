// Toasty's live page: reads the snapshot stream (GET /v1/dashboard) and answers questions
// (POST /v1/notifications/{id}/answer with source "web"). For the person it also shows and changes what
// the hub holds back (do-not-disturb, held and scheduled toasts, per-agent rates, mute, snooze: the
// snapshot's `attention` and the /v1/attention routes). Every text from the server goes into the page
// through textContent or attributes, never as HTML; the server's Content-Security-Policy backs that up.
"use strict";

(() => {
  const AGENT_KEY = "toasty.agentId";
  const TOKEN_KEY = "toasty.token";
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;
  const DND_SECONDS = 3600; // "Do not disturb for 1 hour"
  const MUTE_SECONDS = 3600; // "Mute 1 h"
  const SNOOZE_SECONDS = 600; // "Snooze 10 min"
  const MAX_HELD_SHOWN = 200; // the newest held toasts listed (the count says how many there are)
  const SVG_NS = "http://www.w3.org/2000/svg";

  let clockOffsetMs = 0; // server time minus browser time, for deadlines
  let retryMs = RETRY_MIN_MS;
  let controller = null;
  let timer = null;
  let snapshotNow = null; // the latest snapshot (its asks and log name the scheduled toasts)
  let attentionShown = false; // the snapshot carries the attention state (the page acts for the person)
  let attentionNow = null; // the attention state shown
  let changedHereAt = 0; // server time of this page's last change of it: a snapshot's state read before is stale
  let scrolledToHeld = false; // opened at #held (the digest toast's link): scrolled there once it is shown
  const drawn = {}; // what each attention list was last drawn from: unchanged lists are not rebuilt

  const $ = (id) => document.getElementById(id);

  function identity() {
    return {
      agentId: localStorage.getItem(AGENT_KEY) || "web",
      token: sessionStorage.getItem(TOKEN_KEY) || "",
    };
  }

  function headers(extra) {
    const { agentId, token } = identity();
    const out = { "X-Agent-Id": agentId, ...(extra || {}) };
    if (token) out.Authorization = `Bearer ${token}`;
    return out;
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // The same for SVG (the rates' charts): attributes only, text as text.
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const pad = (n) => String(n).padStart(2, "0");

  // A time as HH:MM (24 h, local), with the day when it is not today.
  function clock(unixMs) {
    const at = new Date(Number(unixMs));
    const hm = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    if (at.toDateString() === new Date(Date.now() + clockOffsetMs).toDateString()) return hm;
    return `${at.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short" })} ${hm}`;
  }

  function inWords(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.round(s / 60)} min`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }

  function setConnection(text, state) {
    const badge = $("connection");
    badge.textContent = text;
    badge.dataset.state = state;
    // what the page shows is only as fresh as the stream: mark it stale until the next snapshot
    document.body.dataset.stale = state === "live" ? "false" : "true";
  }

  // -- the snapshot stream ------------------------------------------------------------------------------

  async function connect() {
    clearTimeout(timer);
    if (controller) controller.abort();
    controller = new AbortController();
    const mine = controller;
    try {
      const response = await fetch("/v1/dashboard", { headers: headers(), cache: "no-store", signal: mine.signal });
      if (!response.ok) {
        const problem = await errorOf(response);
        setConnection(`refused: ${problem}`, "refused");
        if (response.status === 401 || response.status === 403) $("identity").open = true;
        return schedule(Math.max(retryMs, 3000));
      }
      setConnection("live", "live");
      retryMs = RETRY_MIN_MS;
      await readEvents(response.body, onEvent);
      if (mine.signal.aborted) return;
      setConnection("disconnected: reconnecting…", "down");
    } catch (err) {
      if (mine.signal.aborted) return;
      setConnection(`cannot reach the hub: retrying in ${Math.round(retryMs / 1000) || 1}s…`, "down");
    }
    schedule(retryMs);
    retryMs = Math.min(RETRY_MAX_MS, retryMs * 2);
  }

  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(connect, ms);
  }

  async function readEvents(body, handle) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") name = value;
          else if (field === "data") data.push(value);
        }
        if (data.length) handle(name, data.join("\n"));
      }
    }
  }

  function onEvent(name, data) {
    if (name === "snapshot") render(JSON.parse(data));
    else if (name === "error") {
      const error = JSON.parse(data).error || {};
      setConnection(`${error.reason || "ended"}: reconnecting…`, "down");
    }
  }

  async function errorOf(response) {
    try {
      const body = await response.json();
      return `${body.error.reason}: ${body.error.message}`;
    } catch (err) {
      return `HTTP ${response.status}`;
    }
  }

  // -- rendering ----------------------------------------------------------------------------------------

  function render(snapshot) {
    clockOffsetMs = snapshot.serverTimeUnixMs - Date.now();
    snapshotNow = snapshot;
    renderServer(snapshot.status);
    renderAsks(snapshot.asks);
    // the state this page's own click returned stays until a snapshot reads it after that click
    if (snapshot.attention && Number(snapshot.attentionReadUnixMs) < changedHereAt) snapshot.attention = attentionNow;
    renderAttention(snapshot.attention || null);
    renderAgents(snapshot.status.subscribers || []);
    renderProgress(snapshot.log);
    renderLog(snapshot.log);
    tickDeadlines();
    if (!scrolledToHeld && attentionShown && window.location.hash === "#held") {
      scrolledToHeld = true; // the browser's own jump came before the list was there
      $("held").scrollIntoView();
    }
  }

  function renderServer(status) {
    const facts = [
      ["version", status.version],
      ["store", status.store],
      ["backends", (status.backends || []).join(", ") || "none"],
      ["last sequence", status.lastSequence],
      ["open questions", status.pendingInteractions],
      // what each desktop shows toasts on: why a toast looks the way it does, or went to the console
      ...(status.desktops || []).map((d) => [
        `desktop: ${d.backend}`,
        `${d.available ? "" : "unavailable: "}${d.detail || ""}` +
          ((d.capabilities || []).length ? ` — ${d.capabilities.join(", ")}` : ""),
      ]),
    ];
    $("server").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  function renderAgents(subscribers) {
    const rows = subscribers.map((s) =>
      el("tr", {}, el("td", {}, s.clientId), el("td", { className: "num" }, s.queued), el("td", { className: "num" }, s.lastSequence))
    );
    $("agents").tBodies[0].replaceChildren(...rows);
    $("agents-empty").hidden = rows.length > 0;
    $("agents").hidden = rows.length === 0;
  }

  function renderAsks(asks) {
    const container = $("asks");
    const open = new Set(asks.map((a) => a.notificationId));
    for (const card of [...container.children]) {
      // A card being answered here stays until its confirmation was shown (the snapshot that no longer
      // lists the question can arrive before the answer's own response).
      if (!open.has(card.dataset.id) && !card.dataset.state) card.remove();
    }
    const shown = new Set([...container.children].map((c) => c.dataset.id));
    for (const ask of asks) {
      if (!shown.has(ask.notificationId)) container.append(askCard(ask));
    }
    $("asks-count").textContent = asks.length ? `(${asks.length})` : "";
    $("asks-empty").hidden = container.children.length > 0;
  }

  function askCard(ask) {
    const notification = ask.delivery ? ask.delivery.notification : null;
    const question = notification ? notification.interactive : null;
    const header = question && question.header ? question.header : {};
    const urgency = notification ? urgencyName(notification.urgency) : "info";
    const card = el("article", { className: `ask urgency-${urgency}`, dataset: { id: ask.notificationId } });
    card.append(el("h3", {}, header.title || ask.notificationId));
    if (question) {
      for (const line of [question.bodyTextLine1, question.bodyTextLine2]) if (line) card.append(el("p", {}, line));
    } else {
      card.append(el("p", { className: "muted" }, "The content of this question is no longer retained."));
    }
    const meta = el("p", { className: "meta" }, `asked by ${ask.publisherAgentId} · id ${ask.notificationId}`);
    if (ask.deadlineUnixMs) meta.append(" · ", el("span", { className: "deadline", dataset: { deadline: ask.deadlineUnixMs } }));
    card.append(meta);

    const inputs = el("div", { className: "inputs" });
    const textInputs = question ? question.textInputs || [] : ask.inputIds.map((id) => ({ id }));
    for (const input of textInputs) {
      inputs.append(
        el("label", {}, input.title || input.id,
          el("input", { type: "text", placeholder: input.placeholder || "", dataset: { inputId: input.id } }))
      );
    }
    for (const selection of question ? question.selectionInputs || [] : []) {
      const select = el("select", { dataset: { inputId: selection.id } });
      for (const choice of selection.choices || []) {
        select.append(el("option", { value: choice.id, selected: choice.id === selection.defaultChoiceId }, choice.label || choice.id));
      }
      inputs.append(el("label", {}, selection.title || selection.id, select));
    }
    if (inputs.children.length) card.append(inputs);

    const buttons = el("div", { className: "buttons" });
    const defined = question ? question.buttons || [] : ask.buttonIds.map((id) => ({ id, label: id }));
    for (const button of defined) {
      buttons.append(el("button", { type: "button", dataset: { buttonId: button.id },
        onclick: () => answer(card, { buttonId: button.id, inputs: collectInputs(card) }, button.label || button.id) },
        button.label || button.id));
    }
    buttons.append(el("button", { type: "button", className: "dismiss", onclick: () => answer(card, { dismiss: true }, "dismissed") }, "Dismiss"));
    // the person's only (shown with the attention state): off the desktop for a while, still answerable here
    buttons.append(el("button", { type: "button", className: "secondary snooze", hidden: !attentionShown,
      onclick: () => snooze(card) }, "Snooze 10 min"));
    card.append(buttons, el("p", { className: "snoozed meta", hidden: true }), el("p", { className: "result", role: "status" }));
    return card;
  }

  function collectInputs(card) {
    const values = {};
    for (const field of card.querySelectorAll("[data-input-id]")) {
      if (field.value !== "") values[field.dataset.inputId] = field.value;
    }
    return values;
  }

  async function answer(card, body, label) {
    const controls = card.querySelectorAll("button, input, select");
    controls.forEach((c) => (c.disabled = true));
    const result = card.querySelector(".result");
    result.textContent = "sending…";
    card.dataset.state = "sending";
    try {
      const response = await fetch(`/v1/notifications/${encodeURIComponent(card.dataset.id)}/answer`, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify({ ...body, source: "web" }),
      });
      if (!response.ok) {
        result.textContent = `Not sent: ${await errorOf(response)}`;
        controls.forEach((c) => (c.disabled = false));
        delete card.dataset.state;
        return;
      }
      const { accepted } = await response.json();
      card.dataset.state = "answered";
      result.textContent = accepted ? `Answered: ${label}` : "Not recorded: it was already decided";
      setTimeout(() => card.remove(), 2500); // long enough to read the confirmation
    } catch (err) {
      result.textContent = `Not sent: ${err}`;
      controls.forEach((c) => (c.disabled = false));
      delete card.dataset.state;
    }
  }

  // -- attention: do-not-disturb, held, scheduled, agents' rates, mute, snooze ---------------------------

  // `state`: an AttentionState (null: not the person's page, or a hub without it: the controls are hidden).
  function renderAttention(state) {
    attentionNow = state;
    attentionShown = Boolean(state);
    for (const node of document.querySelectorAll(".attention")) node.hidden = !attentionShown;
    markSnoozed(state);
    if (!state) return;
    renderDnd(state);
    renderHeld(state.held || []);
    renderScheduled(state.scheduled || []);
    renderRates(state.rates || [], state.muted || []);
  }

  // Draws a list again only when what it shows changed (a click on a button being replaced is lost).
  function changed(name, ...what) {
    const key = JSON.stringify(what);
    if (drawn[name] === key) return false;
    drawn[name] = key;
    return true;
  }

  function renderDnd(state) {
    let mode = "off";
    let text = "Do not disturb: off";
    if (state.doNotDisturb) {
      mode = "on";
      text = Number(state.untilUnixMs) ? `Do not disturb: on until ${clock(state.untilUnixMs)}` : "Do not disturb: on until turned off";
      if (state.quietHours) text += ` (and quiet hours ${state.quietHoursSpec})`;
    } else if (state.quietHours) {
      mode = "quiet";
      text = `Quiet hours (${state.quietHoursSpec}): toasts are held`;
    } else if (state.quietHoursSpec) {
      text += ` · quiet hours ${state.quietHoursSpec}`;
    }
    if (state.holding && state.criticalBreaksThrough) text += " · critical toasts still show";
    $("dnd").dataset.state = mode;
    $("dnd-state").textContent = text;
    $("dnd-off").disabled = !state.doNotDisturb;
  }

  function renderHeld(held) {
    $("held-count").textContent = held.length ? `(${held.length})` : "";
    $("held-empty").hidden = held.length > 0;
    $("held-note").hidden = held.length === 0;
    if (!changed("held", held)) return;
    const newest = held.slice(-MAX_HELD_SHOWN).reverse();
    const items = newest.map((h) =>
      el("li", { className: "held", dataset: { id: h.notificationId, reason: h.reason } },
        el("div", { className: "head" },
          el("span", { className: "kind reason" }, h.reason || "held"),
          el("span", { className: "route" }, `from ${h.agent}`),
          el("time", { datetime: new Date(Number(h.heldAtUnixMs)).toISOString() }, clock(h.heldAtUnixMs))),
        el("strong", {}, h.title || "(untitled)"),
        h.question ? el("p", { className: "meta" }, "A question: it can be answered above meanwhile.") : null)
    );
    if (held.length > newest.length) items.push(el("li", { className: "more" }, `and ${held.length - newest.length} older`));
    $("held-list").replaceChildren(...items);
  }

  function renderScheduled(scheduled) {
    $("scheduled-count").textContent = scheduled.length ? `(${scheduled.length})` : "";
    $("scheduled-empty").hidden = scheduled.length > 0;
    const titles = scheduled.map((t) => titleOf(t.notificationId));
    if (!changed("scheduled", scheduled, titles)) return;
    $("scheduled-list").replaceChildren(...scheduled.map((t, i) =>
      el("li", { dataset: { id: t.notificationId } },
        el("div", { className: "head" },
          el("time", { datetime: new Date(Number(t.deliverAtUnixMs)).toISOString() }, clock(t.deliverAtUnixMs)),
          el("span", { className: "until", dataset: { at: t.deliverAtUnixMs } }),
          el("span", { className: "route" }, `from ${t.agent}`)),
        el("strong", {}, titles[i].title || t.notificationId),
        titles[i].question ? el("p", { className: "meta" }, "A snoozed question: it can be answered above meanwhile.") : null)
    ));
  }

  // The title of a notification by its global id (<agent>~<id>): an open question, or one in the recent log.
  function titleOf(id) {
    const snapshot = snapshotNow || { asks: [], log: [] };
    const ask = snapshot.asks.find((a) => a.notificationId === id);
    if (ask) {
      const question = ask.delivery && ask.delivery.notification && ask.delivery.notification.interactive;
      return { title: (question && question.header && question.header.title) || "", question: true };
    }
    for (const d of snapshot.log) {
      if (d.notification && `${d.publisherAgentId}~${d.notification.id}` === id) {
        const payload = payloadOf(d.notification)[1];
        return { title: (payload.header && payload.header.title) || "", question: false };
      }
    }
    return { title: "", question: false };
  }

  function renderRates(rates, muted) {
    const byAgent = new Map(rates.map((r) => [r.agent, r]));
    for (const m of muted) {
      if (!byAgent.has(m.agent)) byAgent.set(m.agent, { agent: m.agent, shown: 0, held: 0, collapsed: 0, refused: 0, shownPerMinute: [] });
    }
    const mutedUntil = new Map(muted.map((m) => [m.agent, m.untilUnixMs]));
    $("rates-empty").hidden = byAgent.size > 0;
    $("rates").hidden = byAgent.size === 0;
    if (!changed("rates", rates, muted)) return;
    const rows = [...byAgent.values()].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0)).map((r) => {
      const until = mutedUntil.get(r.agent);
      return el("tr", { className: until ? "muted-agent" : "", dataset: { agent: r.agent, muted: until ? "true" : "false" } },
        el("td", {}, el("span", { className: "agent" }, r.agent), until ? el("span", { className: "badge muted-badge" }, `muted until ${clock(until)}`) : null),
        ...["shown", "held", "collapsed", "refused"].map((k) => el("td", { className: `num ${k}` }, r[k] || 0)),
        el("td", { className: "chart" }, sparkline(r.shownPerMinute || [])),
        el("td", {}, until
          ? el("button", { type: "button", className: "secondary unmute", onclick: (e) => mute(e.currentTarget, r.agent, true) }, "Unmute")
          : el("button", { type: "button", className: "mute", onclick: (e) => mute(e.currentTarget, r.agent, false) }, "Mute 1 h"))
      );
    });
    $("rates").tBodies[0].replaceChildren(...rows);
  }

  // Shown per minute over the last hour (oldest first), as bars; the numbers are in its label.
  function sparkline(perMinute) {
    const values = perMinute.slice(-60).map(Number);
    const peak = Math.max(0, ...values);
    const total = values.reduce((a, b) => a + b, 0);
    const label = peak ? `${total} shown in the last hour, at most ${peak} in one minute` : "none shown in the last hour";
    const chart = svg("svg", { class: "spark", viewBox: "0 0 120 24", width: 120, height: 24, role: "img", "aria-label": label,
      preserveAspectRatio: "none" }, svg("title", {}, label), svg("line", { class: "base", x1: 0, y1: 23.5, x2: 120, y2: 23.5 }));
    const offset = 60 - values.length;
    values.forEach((count, i) => {
      if (!count) return;
      const height = Math.max(2, Math.round((count / peak) * 22));
      chart.append(svg("rect", { x: (offset + i) * 2, y: 24 - height, width: 1.6, height, "data-count": count }));
    });
    return chart;
  }

  // A snoozed question's card says until when (the scheduled list has it, or this page just snoozed it).
  function markSnoozed(state) {
    const now = Date.now() + clockOffsetMs;
    const waiting = new Map(((state && state.scheduled) || []).map((t) => [t.notificationId, Number(t.deliverAtUnixMs)]));
    for (const card of $("asks").children) {
      const mine = Number(card.dataset.snoozedHere || 0); // until a snapshot carries it
      const at = waiting.get(card.dataset.id) || (mine > now ? mine : 0);
      showSnoozed(card, at);
    }
  }

  function showSnoozed(card, at) {
    const note = card.querySelector(".snoozed");
    card.classList.toggle("is-snoozed", Boolean(at));
    note.hidden = !at;
    note.textContent = at ? `Snoozed until ${clock(at)}: the desktop shows it again then; it can be answered here meanwhile.` : "";
    card.querySelector("button.snooze").hidden = !attentionShown || Boolean(at);
  }

  // POST to one of the person's attention routes; the reply (an AttentionState, or for snooze its time)
  // or null when refused, the reason then in `status`.
  async function post(path, body, status, failure) {
    status.textContent = "sending…";
    changedHereAt = Date.now() + clockOffsetMs;
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: headers({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
      });
      if (!response.ok) {
        status.textContent = `${failure}: ${await errorOf(response)}`;
        return null;
      }
      status.textContent = "";
      return await response.json();
    } catch (err) {
      status.textContent = `${failure}: ${err}`;
      return null;
    }
  }

  // A state the person's own click produced: shown at once (the next snapshot carries it too).
  function showState(state) {
    if (!state) return;
    renderAttention(state);
    tickDeadlines();
  }

  async function setDoNotDisturb(body) {
    $("dnd-on").disabled = $("dnd-off").disabled = true;
    const state = await post("/v1/attention/dnd", body, $("dnd-result"), "Not changed");
    $("dnd-on").disabled = false;
    showState(state);
    if (!state) $("dnd-off").disabled = !(attentionNow && attentionNow.doNotDisturb);
  }

  async function mute(button, agent, unmute) {
    button.disabled = true;
    const body = unmute ? { agent, unmute: true } : { agent, forSeconds: MUTE_SECONDS };
    const state = await post("/v1/attention/mute", body, $("rates-result"), unmute ? "Not unmuted" : "Not muted");
    if (!state) {
      button.disabled = false;
      return;
    }
    const until = (state.muted || []).find((m) => m.agent === agent);
    $("rates-result").textContent = until ? `${agent} is muted until ${clock(until.untilUnixMs)}` : `${agent} is no longer muted`;
    showState(state);
  }

  async function snooze(card) {
    const button = card.querySelector("button.snooze");
    const result = card.querySelector(".result");
    button.disabled = true;
    const reply = await post(`/v1/notifications/${encodeURIComponent(card.dataset.id)}/snooze`, { seconds: SNOOZE_SECONDS },
      result, "Not snoozed");
    button.disabled = false;
    if (!reply) return;
    card.dataset.snoozedHere = reply.backAtUnixMs;
    showSnoozed(card, Number(reply.backAtUnixMs));
    showState(await readAttention()); // the scheduled list has it now: without waiting for the next snapshot
  }

  async function readAttention() {
    try {
      const response = await fetch("/v1/attention", { headers: headers(), cache: "no-store" });
      return response.ok ? await response.json() : null;
    } catch (err) {
      return null;
    }
  }

  // The latest state of each progress bar (publisher and key) in the recent log, newest bar first.
  function renderProgress(deliveries) {
    const bars = new Map();
    for (const d of deliveries) {
      const p = d.notification && d.notification.progress;
      const id = p && `${d.publisherAgentId || ""}\u0000${p.progressKey || ""}`;
      if (p && !bars.has(id)) bars.set(id, { delivery: d, progress: p });
    }
    const items = [...bars.values()]
      .filter(({ progress }) => !progress.state || progress.state === "PROGRESS_STATE_RUNNING")
      .map(({ delivery, progress }) => {
        const percent = Math.round((progress.value || 0) * 100);
        return el(
          "li",
          { dataset: { key: progress.progressKey || "" } },
          el("strong", {}, (progress.header && progress.header.title) || "(untitled)"),
          el("progress", { max: 1, value: progress.value || 0 }),
          el("span", { className: "percent" }, progress.valueOverride || `${percent}%`),
          progress.status ? el("span", { className: "status" }, progress.status) : null,
          el("span", { className: "route" }, delivery.publisherAgentId || "")
        );
      });
    $("progress-bars").replaceChildren(...items);
    $("progress-empty").hidden = items.length > 0;
  }

  function renderLog(deliveries) {
    $("log").replaceChildren(...deliveries.map(logItem));
    $("log-empty").hidden = deliveries.length > 0;
  }

  function logItem(delivery) {
    const when = new Date(Number(delivery.publishedAtUnixMs || 0)).toLocaleTimeString();
    const item = el("li", { dataset: { sequence: delivery.sequence } });
    const route = `${delivery.publisherAgentId || "server"} → ${delivery.targetClientId || "all"}`;
    const head = el("div", { className: "head" }, el("span", { className: "seq" }, `#${delivery.sequence}`), el("time", {}, when));
    item.append(head);
    if (delivery.notification) {
      const n = delivery.notification;
      const [kind, payload] = payloadOf(n);
      item.className = `notification urgency-${urgencyName(n.urgency)}`;
      head.append(el("span", { className: "kind" }, kind), el("span", { className: "route" }, route));
      item.append(el("strong", {}, (payload.header && payload.header.title) || "(untitled)"));
      for (const line of [payload.bodyTextLine1, payload.bodyTextLine2, payload.status]) if (line) item.append(el("p", {}, line));
      if (kind === "progress") item.append(el("progress", { max: 1, value: payload.value || 0 }));
    } else if (delivery.interaction) {
      const i = delivery.interaction;
      item.className = "interaction";
      const what = (i.kind || "").replace("INTERACTION_KIND_", "").toLowerCase();
      head.append(el("span", { className: "kind" }, "answer"), el("span", { className: "route" }, `→ ${delivery.targetClientId}`));
      item.append(el("p", {}, `${i.notificationId}: ${what}${i.buttonId ? ` “${i.buttonId}”` : ""} via ${i.backend || "?"}`));
    } else if (delivery.receipt) {
      const r = delivery.receipt;
      item.className = "receipt";
      head.append(el("span", { className: "kind" }, "receipt"), el("span", { className: "route" }, `→ ${delivery.targetClientId}`));
      item.append(el("p", {}, r.shown ? `${r.notificationId} shown by ${r.backend}` : `${r.notificationId} not shown: ${r.error}`));
    } else {
      item.className = "other";
      item.append(el("p", {}, "gap"));
    }
    return item;
  }

  function payloadOf(n) {
    if (n.textMessage) return ["text", n.textMessage];
    if (n.imageText) return ["image", n.imageText];
    if (n.interactive) return ["question", n.interactive];
    if (n.progress) return ["progress", n.progress];
    return ["empty", {}];
  }

  function urgencyName(value) {
    return String(value || "URGENCY_LEVEL_INFO").replace("URGENCY_LEVEL_", "").replace("UNSPECIFIED", "INFO").toLowerCase();
  }

  function tickDeadlines() {
    const now = Date.now() + clockOffsetMs;
    for (const node of document.querySelectorAll("[data-deadline]")) {
      const left = Math.max(0, Math.round((Number(node.dataset.deadline) - now) / 1000));
      node.textContent = left > 0 ? `times out in ${left}s` : "timing out";
    }
    for (const node of document.querySelectorAll("[data-at]")) {
      const left = Number(node.dataset.at) - now;
      node.textContent = left > 0 ? `in ${inWords(left)}` : "due now";
    }
  }

  // -- start ----------------------------------------------------------------------------------------------

  // `toasty page` opens /#token=<the person secret>: keep it for this tab only, and take it out of the
  // address bar (and so out of the history) at once.
  function takeTokenFromLink() {
    const fragment = new URLSearchParams(window.location.hash.slice(1));
    const token = fragment.get("token");
    if (!token) return;
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, "", window.location.pathname + window.location.search);
  }

  document.addEventListener("DOMContentLoaded", () => {
    takeTokenFromLink();
    const { agentId, token } = identity();
    $("agent-id").value = agentId;
    $("token").value = token;
    $("identity-save").addEventListener("click", () => {
      localStorage.setItem(AGENT_KEY, $("agent-id").value.trim() || "web");
      sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
      retryMs = RETRY_MIN_MS;
      connect();
    });
    window.addEventListener("hashchange", () => {
      if (!new URLSearchParams(window.location.hash.slice(1)).get("token")) return;
      takeTokenFromLink();
      $("token").value = identity().token;
      retryMs = RETRY_MIN_MS;
      connect();
    });
    $("dnd-on").addEventListener("click", () => setDoNotDisturb({ on: true, forSeconds: DND_SECONDS }));
    $("dnd-off").addEventListener("click", () => setDoNotDisturb({ on: false }));
    setInterval(tickDeadlines, 1000);
    connect();
  });
})();
