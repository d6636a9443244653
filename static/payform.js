/* mock-epay hosted payment page: client-side checks, test-card panel, widget messages, unattended mode. */
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("payform-config").textContent || "{}");
  var framed = window.parent && window.parent !== window;

  function tell(success) {
    // The widget contract (spec 4.3): a JSON string, posted to the merchant's page.
    if (config.short && framed) window.parent.postMessage(JSON.stringify({ success: success === true }), "*");
  }

  var closeButton = document.querySelector("[data-testid=payform-close]");
  if (closeButton) closeButton.addEventListener("click", function () { tell(false); });

  if (config.result) {
    tell(config.result.success === true);
    return;
  }

  function digits(text) { return String(text || "").replace(/\D/g, ""); }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number.charAt(number.length - 1 - i));
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function parseExpiry(text) {
    var m = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(text || "");
    if (!m) return null;
    var month = Number(m[1]);
    var year = Number(m[2].slice(-2)) + 2000;
    return month >= 1 && month <= 12 ? { month: month, year: year } : null;
  }

  function setError(name, message) {
    var el = document.querySelector("[data-testid=error-" + name + "]");
    var input = document.querySelector("[name=" + name + "]");
    if (el) el.textContent = message || "";
    if (input) input.classList.toggle("invalid", !!message);
    return !message;
  }

  function check(form) {
    if (!form.cardNumber) return true; // saved card: nothing to type
    var ok = true;
    var pan = digits(form.cardNumber.value);
    var isTestCard = (config.testCards || []).indexOf(pan) >= 0;
    if (!pan) ok = setError("cardNumber", "Enter the card number") && ok;
    else if (pan.length < 12 || pan.length > 19) ok = setError("cardNumber", "The card number must be 12 to 19 digits") && ok;
    else if (!luhn(pan)) ok = setError("cardNumber", "This card number is not valid (check digit mismatch); check for a typo") && ok;
    else setError("cardNumber", "");
    var expiry = parseExpiry(form.expiry.value);
    var today = config.today || [new Date().getFullYear(), new Date().getMonth() + 1];
    if (!form.expiry.value.trim()) ok = setError("expiry", "Enter the expiry date as MM/YY") && ok;
    else if (!expiry) ok = setError("expiry", "The expiry date must be MM/YY with a month from 01 to 12") && ok;
    else if (!isTestCard && (expiry.year < today[0] || (expiry.year === today[0] && expiry.month < today[1])))
      ok = setError("expiry", "This card has expired (the expiry date is in the past)") && ok;
    else setError("expiry", "");
    var cvcLength = /^3[47]/.test(pan) ? 4 : 3;
    var cvc = form.cvc.value.trim();
    if (!cvc) ok = setError("cvc", "Enter the CVC code from the back of the card") && ok;
    else if (!/^\d+$/.test(cvc) || cvc.length !== cvcLength) ok = setError("cvc", "The CVC must be " + cvcLength + " digits") && ok;
    else setError("cvc", "");
    var holder = form.holder.value.trim();
    if (holder && !/^[A-Za-z][A-Za-z .'\-]{0,63}$/.test(holder))
      ok = setError("holder", "Write the cardholder's name in Latin letters, as on the card") && ok;
    else setError("holder", "");
    return ok;
  }

  function fill(form, pan, expiry, cvc) {
    form.cardNumber.value = pan.replace(/(\d{4})(?=\d)/g, "$1 ");
    form.expiry.value = expiry;
    form.cvc.value = cvc;
    if (!form.holder.value) form.holder.value = "TEST CARDHOLDER";
    ["cardNumber", "expiry", "cvc"].forEach(function (name) { setError(name, ""); });
  }

  var form = document.querySelector("[data-testid=card-form]");
  if (form) {
    form.addEventListener("submit", function (event) {
      if (!check(form)) { event.preventDefault(); return; }
      var button = form.querySelector("[data-testid=pay-button]");
      if (button) {
        // Disable after the browser has taken the submission, so the click still submits.
        setTimeout(function () { button.disabled = true; button.textContent = "Processing…"; }, 0);
      }
    });
    if (form.cardNumber) {
      form.cardNumber.addEventListener("input", function () {
        var d = digits(form.cardNumber.value).slice(0, 19);
        form.cardNumber.value = d.replace(/(\d{4})(?=\d)/g, "$1 ");
      });
      form.expiry.addEventListener("input", function (event) {
        var d = digits(form.expiry.value).slice(0, 4);
        if (event.inputType && event.inputType.indexOf("delete") === 0) return;
        if (form.expiry.value.indexOf("/") >= 0) return; // typed with a slash: leave it as is
        form.expiry.value = d.length > 2 ? d.slice(0, 2) + "/" + d.slice(2) : d;
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll(".use-card"), function (button) {
      button.addEventListener("click", function () {
        fill(form, button.getAttribute("data-pan"), button.getAttribute("data-expiry"), button.getAttribute("data-cvc"));
      });
    });
    if (config.autoPay) {
      setTimeout(function () {
        if (form.cardNumber) fill(form, config.autoPay.card, config.autoPay.expiry, config.autoPay.cvc);
        form.requestSubmit ? form.requestSubmit() : form.submit();
      }, Number(config.autoPay.afterMs) || 0);
    }
  }

  var secureForm = document.querySelector("[data-testid=secure3d-form]");
  if (secureForm && config.autoOtp) {
    setTimeout(function () {
      secureForm.code.value = config.autoOtp.otp;
      secureForm.submit();
    }, Number(config.autoOtp.afterMs) || 0);
  }
})();
