// Toasty's live page: reads the snapshot stream (GET /v1/dashboard) and answers questions
// (POST /v1/notifications/{id}/answer with source "web"). Every text from the server goes into the page
// through textContent or attributes, never as HTML; the server's Content-Security-Policy backs that up.
"use strict";

(() => {
  const AGENT_KEY = "toasty.agentId";
  const TOKEN_KEY = "toasty.token";
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 5000;

  let clockOffsetMs = 0; // server time minus browser time, for deadlines
  let retryMs = RETRY_MIN_MS;
  let controller = null;
  let timer = null;

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
    renderServer(snapshot.status);
    renderAsks(snapshot.asks);
    renderAgents(snapshot.status.subscribers || []);
    renderProgress(snapshot.log);
    renderLog(snapshot.log);
    tickDeadlines();
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
    card.append(buttons, el("p", { className: "result", role: "status" }));
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
    setInterval(tickDeadlines, 1000);
    connect();
  });
})();
