/* mock-epay dashboard, the product tabs: transfers, subscriptions, invoice links, QR bills and the outbox.
 * Polls their admin lists about once a second (all tabs, so each tab's count stays current) and
 * renders them with the helpers dashboard.js shares as window.mockDashboard (text only, never HTML).
 * The buttons call the same admin API as everything else (JSON POST / DELETE, the admin token
 * when the page was opened with ?token=). Card numbers arrive masked; nothing here unmasks. */
(function () {
  "use strict";

  var d = window.mockDashboard;
  var POLL_MS = 1000;
  var keys = {};
  var QR_ACTIONS = {  // what the buyer's app may do in each status (as the Homebank simulator page)
    NEW: ["scan", "reject"], SCANNED: ["approve", "reject"], BLOCKED: ["reject"]
  };

  // -- helpers ------------------------------------------------------------------------------

  function cell(text, className, testid) {
    return d.el("td", { className: className || "", "data-testid": testid || null,
                        title: text && String(text).length > 40 ? String(text) : null },
                text === null || text === undefined ? "" : String(text));
  }

  /* A link the buyer would open; only http(s) addresses become links (never javascript:). */
  function linkCell(url, testid, label) {
    if (!/^https?:\/\//i.test(url || "")) return cell(url || "", "mono muted", testid);
    return d.el("td", { className: label ? "nowrap" : "mono path", title: url },
                d.el("a", { href: url, target: "_blank", rel: "noopener noreferrer", "data-testid": testid },
                     label || url));
  }

  function button(label, testid, onclick, enabled, title) {
    return d.el("button", { type: "button", className: "btn small", "data-testid": testid,
                            disabled: !enabled, title: title || null, onclick: onclick }, label);
  }

  function act(method, path, what) {
    return d.api(method, path).then(function (result) {
      if (!result.ok) d.showError(what + " failed: " + d.errorText(result));
      else d.showError("");
      keys = {};  // show the change at once
      return refresh();
    });
  }

  function fill(name, items, render) {
    var rows = d.$(name + "-rows");
    rows.textContent = "";
    items.forEach(function (item) { rows.appendChild(render(item)); });
    d.$(name + "-empty").hidden = items.length > 0;
    d.$("tab-" + name).querySelector(".count").textContent = String(items.length);
  }

  // -- one renderer per tab -------------------------------------------------------------------

  function transferRow(t) {
    return d.el("tr", { "data-testid": "transfer-row", "data-order-id": t.orderId },
      cell(d.localTime(t.createdDate), "nowrap"),
      cell(t.kind.toUpperCase(), "mono"),
      cell(t.orderId, "mono"),
      d.el("td", { className: "num" }, d.money(t.amount, t.currency)),
      d.el("td", { className: "num" }, d.money(t.fee, t.currency)),
      d.el("td", {}, d.badge(t.status, "transfer-status")),
      cell(t.reasonCode ? t.reasonCode + " " + t.reason : t.reason, "reason"),
      cell(t.senderCardMask, "mono nowrap", "transfer-sender"),
      cell(t.receiverCardMask || t.receiverPhone, "mono nowrap", "transfer-receiver"));
  }

  function subscriptionState(s) {
    if (!s.active) return "CANCELLED";
    return s.nextPaymentDate ? "ACTIVE" : "ENDED";
  }

  function subscriptionRow(s) {
    var state = subscriptionState(s);
    return d.el("tr", { "data-testid": "subscription-row", "data-transaction-id": s.transactionId },
      cell(d.localTime(s.createdDate, true), "nowrap"),
      cell(s.invoiceId, "mono", "subscription-invoice"),
      cell(s.transactionId, "mono muted"),
      cell(s.paymentFrequency, "", "subscription-frequency"),
      d.el("td", { className: "num" }, d.money(s.amount, s.currency)),
      cell(s.nextPaymentDate ? d.localTime(s.nextPaymentDate, true) : "–", "nowrap", "subscription-next"),
      d.el("td", { className: "num", "data-testid": "subscription-renewals" }, String(s.renewals)),
      d.el("td", {}, d.badge(state, "subscription-state")),
      d.el("td", {}, button("Cancel", "subscription-cancel", function () {
        act("DELETE", "/_mock/subscriptions/" + encodeURIComponent(s.id), "Cancelling the subscription");
      }, state === "ACTIVE", "stop its renewals (DELETE /_mock/subscriptions/{id})")));
  }

  function linkRow(x) {
    return d.el("tr", { "data-testid": "link-row", "data-invoice-id": x.invoice_id },
      cell(d.localTime(x.created_date, true), "nowrap"),
      cell(x.invoice_id, "mono", "link-invoice"),
      cell(x.shop_id, "mono muted"),
      d.el("td", { className: "num" }, d.money(x.amount, x.currency)),
      cell(x.description, "reason", "link-description"),
      d.el("td", {}, d.badge(x.status, "link-status")),
      cell(d.localTime(x.expire_date, true), "nowrap", "link-expiry"),
      linkCell(x.invoice_url, "link-url"),
      d.el("td", {}, button("Cancel", "link-cancel", function () {
        act("POST", "/_mock/invoice-links/" + encodeURIComponent(x.id) + "/cancel", "Cancelling the link");
      }, x.status === "ACTIVE")));
  }

  function billRow(b) {
    var allowed = QR_ACTIONS[b.status] || [];
    var actions = d.el("td", { className: "nowrap" });
    [["scan", "Scan"], ["approve", "Approve"], ["reject", "Reject"]].forEach(function (pair) {
      actions.appendChild(button(pair[1], "qr-" + pair[0], function () {
        act("POST", "/_mock/qr/" + encodeURIComponent(b.billNumber) + "/" + pair[0], pair[1]);
      }, allowed.indexOf(pair[0]) >= 0, "POST /_mock/qr/" + b.billNumber + "/" + pair[0]));
      actions.appendChild(document.createTextNode(" "));
    });
    return d.el("tr", { "data-testid": "qr-row", "data-bill-number": b.billNumber },
      cell(d.localTime(b.createdDate), "nowrap"),
      cell(b.billNumber, "mono", "qr-bill"),
      cell(b.invoiceId, "mono"),
      d.el("td", {}, d.badge(b.status, "qr-status")),
      cell(b.errDescription || ""),
      linkCell(b.qrcode, "qr-app-link", "open the app page"),
      actions);
  }

  function messageRow(m) {
    return d.el("tr", { "data-testid": "outbox-row", "data-invoice-id": m.invoice_id },
      cell(d.localTime(m.sent_at), "nowrap"),
      cell(m.channel, "", "outbox-channel"),
      cell(m.to, "mono", "outbox-to"),
      cell(m.invoice_id, "mono", "outbox-invoice"),
      linkCell(m.invoice_url, "outbox-link"),
      cell(m.text, "reason", "outbox-text"));
  }

  var TABS = [
    { name: "transfers", path: "/_mock/transfers", list: "transfers", row: transferRow },
    { name: "subscriptions", path: "/_mock/subscriptions", list: "subscriptions", row: subscriptionRow },
    { name: "links", path: "/_mock/invoice-links", list: "links", row: linkRow },
    { name: "qr", path: "/_mock/qr", list: "bills", row: billRow },
    { name: "outbox", path: "/_mock/outbox", list: "messages", row: messageRow,
      order: function (items) { return items.slice().reverse(); } }  // the API lists oldest first
  ];

  // -- polling and tabs -----------------------------------------------------------------------

  function refresh() {
    return Promise.all(TABS.map(function (tab) {
      return d.api("GET", tab.path).then(function (result) {
        if (!result.ok || !result.data) return;
        var text = JSON.stringify(result.data);
        if (text === keys[tab.name]) return;
        keys[tab.name] = text;
        var items = result.data[tab.list] || [];
        fill(tab.name, tab.order ? tab.order(items) : items, tab.row);
      });
    }));
  }

  function poll() {
    refresh().then(null, function () { /* dashboard.js reports an unreachable API */ })
      .then(function () { setTimeout(poll, POLL_MS); });
  }

  function show(name) {
    TABS.forEach(function (tab) {
      var selected = tab.name === name;
      d.$("tab-" + tab.name).setAttribute("aria-selected", selected ? "true" : "false");
      d.$("panel-" + tab.name).hidden = !selected;
    });
  }

  TABS.forEach(function (tab) {
    d.$("tab-" + tab.name).addEventListener("click", function () { show(tab.name); });
  });
  show("transfers");
  poll();
})();
