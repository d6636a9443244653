/* mock-epay dashboard: polls the admin JSON API about once a second and renders it.
 * Plain JS, no dependencies, no build step. With the admin token on, open the page as
 * /_mock/ui/?token=<token>; every request then carries it as X-Mock-Admin-Token. */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var token = new URLSearchParams(location.search).get("token");
  var state = { selected: null, txKey: "", detailKey: "", journalKey: "" };

  // -- helpers -----------------------------------------------------------------------------

  function $(testid) { return document.querySelector('[data-testid="' + testid + '"]'); }

  function el(tag, attrs) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      var value = attrs[key];
      if (value === null || value === undefined || value === false) return;
      if (key === "text") node.textContent = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    });
    for (var i = 2; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function api(method, path, body) {
    var headers = { "Accept": "application/json" };
    if (token) headers["X-Mock-Admin-Token"] = token;
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body === undefined && method !== "GET") body = {};  // state-changing admin calls are JSON
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  function errorText(result) {
    var message = result.data && result.data.message ? result.data.message : "no details";
    return "HTTP " + result.status + ": " + message;
  }

  /* 4840 -> "4 840.00 KZT": the payment page's format (a narrow no-break space between thousands). */
  function money(amount, currency) {
    var fixed = Math.abs(Number(amount) || 0).toFixed(2).split(".");
    var whole = fixed[0].replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
    var sign = Number(amount) < 0 ? "−" : "";
    return sign + whole + "." + fixed[1] + " " + (currency || "");
  }

  /* The mock stamps times in Asia/Almaty already: show the wall-clock part of the string. */
  function localTime(stamp, withDate) {
    if (!stamp) return "";
    var match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}:\d{2}:\d{2})/.exec(stamp);
    if (!match) return stamp;
    return withDate ? match[3] + "." + match[2] + "." + match[1] + " " + match[4] : match[4];
  }

  /* Wall-clock time in Almaty (UTC+5 all year since 2024), whatever the browser's zone. */
  function almatyNow() {
    return new Date(Date.now() + 5 * 3600 * 1000).toISOString().slice(11, 19);
  }

  var STATUS_COLOURS = {
    AUTH: "green", CHARGE: "green", VERIFIED: "green", NEW: "amber",
    REJECT: "red", FAILED: "red", "3D": "red", CANCEL: "grey", CANCEL_OLD: "grey", REFUND: "blue",
    delivered: "green", pending: "amber", failed: "red", skipped: "grey",
    // transfers, subscriptions, invoice links and QR bills (dashboard_products.js)
    PAID: "green", ACTIVE: "green", CHARGED: "green", SCANNED: "amber", BLOCKED: "amber",
    REJECTED: "red", EXPIRED: "grey", CANCELLED: "grey", ENDED: "grey"
  };

  function badge(status, testid) {
    return el("span", { className: "badge " + (STATUS_COLOURS[status] || "grey"), "data-testid": testid,
                        "data-status": status }, status || "–");
  }

  function showError(message) {
    var banner = $("error-banner");
    banner.hidden = !message;
    banner.textContent = message || "";
  }

  // -- transactions --------------------------------------------------------------------------

  function filterQuery() {
    var params = new URLSearchParams({ limit: "200" });
    var merchant = $("filter-merchant").value, status = $("filter-status").value;
    var invoice = $("filter-invoice").value.trim();
    if (merchant) params.set("clientId", merchant);
    if (status) params.set("status", status);
    if (invoice) params.set("invoiceId", invoice);
    return params.toString();
  }

  function callbackCell(summary) {
    if (!summary || !summary.count) return el("span", { className: "muted" }, "none");
    var full = summary.count + (summary.count === 1 ? " delivery, " : " deliveries, ") +
               summary.attempts + (summary.attempts === 1 ? " attempt" : " attempts");
    return el("span", { className: "cb", title: full }, badge(summary.latestStatus, "tx-callback-status"),
              " ×" + summary.count);
  }

  /* The source filter works on the listed page (the admin API filters merchant, status, invoice). */
  function bySource(list) {
    var source = $("filter-source").value;
    if (!source) return list;
    var kept = list.transactions.filter(function (tx) { return tx.source === source; });
    return { transactions: kept, total: kept.length };
  }

  function renderTransactions(list) {
    list = bySource(list);
    var rows = $("tx-rows");
    rows.textContent = "";
    list.transactions.forEach(function (tx) {
      var row = el("tr", {
        "data-testid": "tx-row", "data-tx-id": tx.id, "data-invoice-id": tx.invoiceId, "data-source": tx.source,
        className: tx.id === state.selected ? "selected" : "",
        onclick: function () { select(tx.id); }
      },
        el("td", { "data-testid": "tx-time", className: "nowrap", title: tx.createdDate }, localTime(tx.createdDate)),
        el("td", { "data-testid": "tx-invoice", className: "mono" }, tx.invoiceId),
        el("td", {}, el("span", { className: "source " + sourceClass(tx.source), "data-testid": "tx-source" },
                       tx.source)),
        el("td", { "data-testid": "tx-amount", className: "num" }, money(tx.amount, tx.currency)),
        el("td", {}, badge(tx.status, "tx-status")),
        el("td", { className: "reason", title: tx.reason },
           tx.reasonCode ? tx.reasonCode + " " + tx.reason : tx.reason),
        el("td", { className: "mono nowrap" }, tx.cardMask || ""),
        el("td", { className: "nowrap" }, tx.clientId),
        el("td", { "data-testid": "tx-callbacks" }, callbackCell(tx.callbacks)));
      rows.appendChild(row);
    });
    $("tx-empty").hidden = list.transactions.length > 0;
    renderSummary(list);
  }

  function sourceClass(source) { return "src-" + String(source || "").replace(/[^a-z]/g, ""); }

  function renderSummary(list) {
    var counts = { paid: 0, failed: 0, other: 0, delivered: 0, failedCb: 0, pending: 0 };
    list.transactions.forEach(function (tx) {
      var colour = STATUS_COLOURS[tx.status];
      if (colour === "green" || colour === "blue") counts.paid++;
      else if (colour === "red") counts.failed++;
      else counts.other++;
      var cb = tx.callbacks && tx.callbacks.latestStatus;
      if (cb === "delivered") counts.delivered++;
      else if (cb === "failed") counts.failedCb++;
      else if (cb === "pending") counts.pending++;
    });
    var box = $("summary");
    box.textContent = "";
    [["summary-total", list.total, "transactions"], ["summary-paid", counts.paid, "paid"],
     ["summary-failed", counts.failed, "declined / failed"],
     ["summary-callbacks-ok", counts.delivered, "callbacks delivered"],
     ["summary-callbacks-failed", counts.failedCb, "callbacks failing"],
     ["summary-callbacks-pending", counts.pending, "callbacks pending"]].forEach(function (item) {
      box.appendChild(el("div", { className: "stat", "data-testid": item[0] },
                         el("b", {}, String(item[1])), el("span", {}, item[2])));
    });
  }

  // -- one transaction ------------------------------------------------------------------------

  function field(label, value, testid) {
    return [el("dt", {}, label), el("dd", { "data-testid": testid }, value === null || value === undefined ? "" : value)];
  }

  function renderDetail(tx) {
    var box = $("tx-detail");
    box.textContent = "";
    var dl = el("dl", { className: "facts" });
    [field("Invoice", tx.invoiceId, "detail-invoice"),
     field("Amount", money(tx.amount, tx.currency) +
           (tx.orgAmount !== tx.amount ? " (authorised " + money(tx.orgAmount, tx.currency) + ")" : ""),
           "detail-amount"),
     field("Reason", tx.reasonCode + " " + tx.reason, "detail-reason"),
     field("Card", (tx.cardType || "") + " " + (tx.cardMask || "–") + (tx.cardId ? " · saved " + tx.cardId : ""),
           "detail-card"),
     field("Merchant", tx.clientId + " · terminal " + tx.terminalId, "detail-merchant"),
     field("Account", tx.accountId || "–", "detail-account"),
     field("Created", localTime(tx.createdDate, true) + " · via " + tx.source, "detail-created"),
     field("Transaction id", tx.id, "detail-id")].forEach(function (pair) {
      dl.appendChild(pair[0]); dl.appendChild(pair[1]);
    });
    box.appendChild(el("div", { className: "card-head" },
      el("h2", {}, "Invoice " + tx.invoiceId), badge(tx.status, "detail-status")));
    box.appendChild(dl);

    box.appendChild(el("h3", {}, "History"));
    var history = el("ol", { className: "history", "data-testid": "detail-history" });
    tx.history.forEach(function (h) {
      history.appendChild(el("li", { "data-testid": "history-entry" },
        el("span", { className: "time" }, localTime(h.at)), " ", badge(h.status, "history-status"),
        " " + money(h.amount, tx.currency) + (h.note ? " · " + h.note : "")));
    });
    box.appendChild(history);

    box.appendChild(el("h3", {}, "Callbacks"));
    var deliveries = el("div", { "data-testid": "deliveries" });
    if (!tx.deliveries.length) deliveries.appendChild(el("p", { className: "muted" }, "No callbacks for this transaction."));
    tx.deliveries.slice().reverse().forEach(function (d) { deliveries.appendChild(renderDelivery(d)); });
    box.appendChild(deliveries);
  }

  function renderDelivery(d) {
    var attempts = el("table", { className: "table compact attempts", "data-testid": "delivery-attempts" },
      el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "Time"), el("th", {}, "Answer"),
                                  el("th", { className: "num" }, "ms"))));
    var body = el("tbody", {});
    d.attempts.forEach(function (a) {
      var answer = a.responseStatus !== null ? "HTTP " + a.responseStatus : (a.error || "");
      body.appendChild(el("tr", { "data-testid": "delivery-attempt", "data-attempt": a.attempt },
        el("td", {}, String(a.attempt)), el("td", {}, localTime(a.startedAt)),
        el("td", { className: a.responseStatus >= 200 && a.responseStatus < 300 ? "ok" : "bad",
                   title: a.responseBody || a.error || "" }, answer),
        el("td", { className: "num" }, String(Math.round(a.durationMs)))));
    });
    attempts.appendChild(body);
    var replay = el("button", {
      type: "button", className: "btn", "data-testid": "replay-button", "data-delivery-id": d.id,
      disabled: !d.url, title: d.url ? "POST the same body to " + d.url + " again" : "no target URL",
      onclick: function () { replayDelivery(d.id); }
    }, "Replay");
    return el("div", { className: "delivery", "data-testid": "delivery", "data-delivery-id": d.id,
                       "data-kind": d.kind, "data-status": d.status },
      el("div", { className: "delivery-head" },
        badge(d.status, "delivery-status"), el("b", {}, " " + d.kind + " "),
        el("span", { className: "mono muted" }, d.id), replay),
      el("div", { className: "mono url" }, d.url || "(no URL)"),
      d.note && d.note !== d.error ? el("div", { className: "muted", "data-testid": "delivery-note" }, d.note) : null,
      d.error ? el("div", { className: "bad", "data-testid": "delivery-error" }, d.error) : null,
      d.nextRetryAt ? el("div", { className: "muted" }, "next attempt at " + localTime(d.nextRetryAt)) : null,
      d.attempts.length ? attempts : null);
  }

  function select(id) {
    state.selected = id;
    state.detailKey = "";
    Array.prototype.forEach.call(document.querySelectorAll('[data-testid="tx-row"]'), function (row) {
      row.classList.toggle("selected", row.getAttribute("data-tx-id") === id);
    });
    refreshDetail();
  }

  function refreshDetail() {
    if (!state.selected) return Promise.resolve();
    var id = state.selected;
    return api("GET", "/_mock/transactions/" + encodeURIComponent(id)).then(function (result) {
      if (id !== state.selected) return;
      if (!result.ok) {
        state.selected = null;
        state.detailKey = "";
        $("tx-detail").textContent = "";
        $("tx-detail").appendChild(el("p", { className: "empty", "data-testid": "detail-empty" },
                                      "Transaction not found (" + errorText(result) + ")."));
        return;
      }
      var key = JSON.stringify(result.data);
      if (key !== state.detailKey) { state.detailKey = key; renderDetail(result.data); }
    });
  }

  function replayDelivery(id) {
    api("POST", "/_mock/deliveries/" + encodeURIComponent(id) + "/replay").then(function (result) {
      if (!result.ok) showError("Replay failed: " + errorText(result));
      return refreshDetail();
    });
  }

  // -- request journal ---------------------------------------------------------------------

  function renderJournal(entries) {
    var rows = $("request-rows");
    rows.textContent = "";
    entries.slice(0, 12).forEach(function (r) {
      rows.appendChild(el("tr", { "data-testid": "request-row", title: r.body || "" },
        el("td", {}, localTime(r.at)),
        el("td", { className: "mono path", "data-testid": "request-path", title: r.method + " " + r.path },
           r.method + " " + r.path),
        el("td", { className: r.status < 400 ? "ok" : "bad" }, String(r.status)),
        el("td", { className: "num" }, String(r.ms))));
    });
  }

  // -- polling --------------------------------------------------------------------------------

  function poll() {
    var listing = api("GET", "/_mock/transactions?" + filterQuery()).then(function (result) {
      if (!result.ok) throw new Error(errorText(result));
      var key = JSON.stringify(result.data);
      if (key !== state.txKey) { state.txKey = key; renderTransactions(result.data); }
    });
    var journal = api("GET", "/_mock/requests?limit=12").then(function (result) {
      if (!result.ok) return;
      var key = JSON.stringify(result.data);
      if (key !== state.journalKey) { state.journalKey = key; renderJournal(result.data.requests); }
    });
    Promise.all([listing, journal, refreshDetail()]).then(function () {
      document.body.classList.remove("offline");
      $("live-text").textContent = "live · updated " + almatyNow();
      if ($("error-banner").textContent.indexOf("Cannot reach") === 0) showError("");
    }, function (error) {
      document.body.classList.add("offline");
      $("live-text").textContent = "offline";
      showError("Cannot reach the admin API: " + error.message +
                (token ? "" : " (if the admin token is on, open this page with ?token=…)"));
    }).then(function () { setTimeout(poll, POLL_MS); });
  }

  // -- scenario form and reset ----------------------------------------------------------------

  function scenarioRule(form) {
    var data = new FormData(form);
    var outcomeKind = data.get("outcome");
    var value = String(data.get("matchValue") || "").trim();
    var match = {};
    if (data.get("matchBy") === "amount") match.amount = Number(value.replace(",", "."));
    else match.invoiceId = value;
    var outcome;
    if (outcomeKind === "decline") outcome = { result: "decline", reasonCode: Number(data.get("reasonCode")) };
    else if (outcomeKind === "server_error") outcome = { result: "server_error", http_status: Number(data.get("httpStatus")) };
    else if (outcomeKind === "delay") outcome = { result: "approve", delay_ms: Number(data.get("delayMs")) };
    else outcome = { result: "approve" };
    return { match: match, outcome: outcome, times: Number(data.get("times")) || 1 };
  }

  function showOutcomeFields() {
    var kind = $("scenario-outcome").value;
    Array.prototype.forEach.call(document.querySelectorAll("[data-show]"), function (label) {
      label.hidden = label.getAttribute("data-show") !== kind;
    });
  }

  function submitScenario(event) {
    event.preventDefault();
    var rule = scenarioRule(event.target);
    var out = $("scenario-result");
    out.className = "result";
    out.textContent = "sending…";
    api("POST", "/_mock/scenarios", rule).then(function (result) {
      out.className = "result " + (result.ok ? "ok" : "bad");
      out.textContent = result.ok
        ? "Added: " + JSON.stringify(rule.match) + " → " + rule.outcome.result + " (next " + rule.times + ")"
        : "Not added: " + errorText(result);
    }, function (error) {
      out.className = "result bad";
      out.textContent = "Not added: " + error.message;
    });
  }

  function reset() {
    if (!window.confirm("Reset all state? Transactions, tokens, saved cards, callbacks and the clock are forgotten.")) return;
    api("POST", "/_mock/reset").then(function (result) {
      if (!result.ok) { showError("Reset failed: " + errorText(result)); return; }
      state.selected = null;
      state.detailKey = "";
      state.txKey = "";
      $("tx-detail").textContent = "";
      $("tx-detail").appendChild(el("p", { className: "empty", "data-testid": "detail-empty" },
                                    "State was reset. Click a transaction to see its history and callbacks."));
    });
  }

  // -- start --------------------------------------------------------------------------------

  $("scenario-form").addEventListener("submit", submitScenario);
  $("scenario-outcome").addEventListener("change", showOutcomeFields);
  $("reset-button").addEventListener("click", reset);
  ["filter-merchant", "filter-status", "filter-invoice", "filter-source"].forEach(function (id) {
    $(id).addEventListener("input", function () { state.txKey = ""; });
  });
  showOutcomeFields();
  // Shared with dashboard_products.js (the tabs below the transactions).
  window.mockDashboard = { $: $, el: el, api: api, badge: badge, money: money, localTime: localTime,
                           errorText: errorText, showError: showError };
  poll();
})();
