/* mock-epay transfer page (halyk.p2p / aft / oct): card-number grouping, the receiver's card-or-phone
 * switch, the test-card buttons and one submission at a time. The rules themselves are the server's
 * (the transfer API's parser), so a mistake comes back next to its field. Plain JS, no dependencies. */
(function () {
  "use strict";
  var form = document.querySelector("[data-testid=transfer-form]");
  if (!form) return;

  function digits(text) { return String(text || "").replace(/\D/g, ""); }
  function group(input) { input.value = digits(input.value).slice(0, 19).replace(/(\d{4})(?=\d)/g, "$1 "); }

  ["senderCard", "receiverCard"].forEach(function (name) {
    var input = form.elements[name];
    if (input) input.addEventListener("input", function () { group(input); });
  });
  var expiry = form.elements.senderExpiry;
  if (expiry) {
    expiry.addEventListener("input", function (event) {
      if (event.inputType && event.inputType.indexOf("delete") === 0) return;
      if (expiry.value.indexOf("/") >= 0) return;
      var d = digits(expiry.value).slice(0, 4);
      expiry.value = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
    });
  }

  function showReceiver() {
    var chosen = form.querySelector("input[name=receiverType]:checked");
    var type = chosen ? chosen.value : "card";
    Array.prototype.forEach.call(form.querySelectorAll("[data-receiver]"), function (box) {
      box.hidden = box.getAttribute("data-receiver") !== type;
    });
  }
  Array.prototype.forEach.call(form.querySelectorAll("input[name=receiverType]"), function (radio) {
    radio.addEventListener("change", showReceiver);
  });
  showReceiver();

  Array.prototype.forEach.call(document.querySelectorAll(".use-card"), function (button) {
    button.addEventListener("click", function () {
      var role = button.getAttribute("data-role");
      var card = form.elements[role + "Card"];
      card.value = button.getAttribute("data-pan");
      group(card);
      if (role === "sender") {
        form.elements.senderExpiry.value = button.getAttribute("data-expiry");
        form.elements.senderCvc.value = button.getAttribute("data-cvc");
        if (!form.elements.senderName.value) form.elements.senderName.value = "TEST CARDHOLDER";
      } else {
        var toCard = form.querySelector("input[name=receiverType][value=card]");
        if (toCard) { toCard.checked = true; showReceiver(); }
      }
    });
  });

  form.addEventListener("submit", function () {
    var button = form.querySelector("[data-testid=transfer-button]");
    // Disabled after the browser has taken the submission, so the click still submits.
    setTimeout(function () { button.disabled = true; button.textContent = "Processing…"; }, 0);
  });
})();
