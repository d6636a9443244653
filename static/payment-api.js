/*
 * mock-epay payment-api.js: the widget script of the mock ePay gateway.
 *
 * Written for mock-epay (MIT); behaves like the bank's script as described in the
 * project's API reference (section 4): one global `halyk` with Config(), pay(),
 * showPaymentWidget(), cardverification(), p2p(), aft() and oct().
 * The payment object is flattened to key=value pairs and packed into ?params=
 * with LZString's compressToEncodedURIComponent (an own implementation below).
 *
 * The mock fills in MOCK_EPAY_BASE when it serves this file.
 */
var halyk = (function () {
  "use strict";

  var BASE_URL = "__MOCK_EPAY_BASE__"; // e.g. http://127.0.0.1:8080 (no trailing slash)
  var PAGE_PATH = "__MOCK_EPAY_PAGE_PATH__"; // "/payform/" or "/redesign-payform/"
  var TOKEN_URL = BASE_URL + "/oauth2/token";

  /* ---------------------------------------------------------------- LZString
   * compressToEncodedURIComponent: LZ-style dictionary coding over UTF-16 code
   * units, codes written least-significant bit first, six bits per character of
   * the URI-safe alphabet. Reserved codes: 0 = 8-bit literal follows,
   * 1 = 16-bit literal follows, 2 = end of stream.
   */
  var URI_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$";

  function BitWriter(bitsPerChar, alphabet) {
    this.out = [];
    this.value = 0;
    this.position = 0;
    this.bitsPerChar = bitsPerChar;
    this.alphabet = alphabet;
  }
  BitWriter.prototype.write = function (value, bits) {
    for (var i = 0; i < bits; i++) {
      this.value = (this.value << 1) | (value & 1);
      value = value >> 1;
      if (this.position === this.bitsPerChar - 1) {
        this.out.push(this.alphabet.charAt(this.value));
        this.value = 0;
        this.position = 0;
      } else {
        this.position++;
      }
    }
  };
  BitWriter.prototype.finish = function () {
    for (;;) {
      this.value = this.value << 1;
      if (this.position === this.bitsPerChar - 1) {
        this.out.push(this.alphabet.charAt(this.value));
        break;
      }
      this.position++;
    }
    return this.out.join("");
  };

  function compressToEncodedURIComponent(input) {
    if (input === null || input === undefined) return "";
    input = String(input);
    var codes = Object.create(null); // phrase -> code
    var literalPending = Object.create(null); // one-unit phrases whose literal is not written yet
    var writer = new BitWriter(6, URI_ALPHABET);
    var nextCode = 3;
    var numBits = 2;
    var enlargeIn = 2;
    var w = "";

    function countDown() {
      enlargeIn--;
      if (enlargeIn === 0) {
        enlargeIn = Math.pow(2, numBits);
        numBits++;
      }
    }

    function emit(phrase) {
      if (literalPending[phrase]) {
        var unit = phrase.charCodeAt(0);
        if (unit < 256) {
          writer.write(0, numBits);
          writer.write(unit, 8);
        } else {
          writer.write(1, numBits);
          writer.write(unit, 16);
        }
        countDown();
        delete literalPending[phrase];
      } else {
        writer.write(codes[phrase], numBits);
      }
      countDown();
    }

    for (var i = 0; i < input.length; i++) {
      var c = input.charAt(i);
      if (!(c in codes)) {
        codes[c] = nextCode++;
        literalPending[c] = true;
      }
      var wc = w + c;
      if (wc in codes) {
        w = wc;
      } else {
        emit(w);
        codes[wc] = nextCode++;
        w = c;
      }
    }
    if (w !== "") emit(w);
    writer.write(2, numBits);
    return writer.finish();
  }

  var LZString = { compressToEncodedURIComponent: compressToEncodedURIComponent };

  /* ---------------------------------------------------------- payment object */

  // key=encodeURIComponent(value) pairs joined by "&"; nested objects are encoded
  // the same way and then URI-encoded as one value (auth=access_token%3D...).
  function encodeParams(obj) {
    var parts = [];
    for (var key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key) || key === "") continue;
      var value = obj[key];
      if (value === undefined || value === null) {
        value = "";
      } else if (typeof value === "object") {
        value = encodeParams(value);
      }
      parts.push(key + "=" + encodeURIComponent(value));
    }
    return parts.join("&");
  }

  function Config() {
    return {
      pageUrL: BASE_URL + PAGE_PATH,
      origin: pageOrigin(),
      TokenAPIConfig: { url: TOKEN_URL, clientId: "test" },
    };
  }

  function pageOrigin() {
    var match = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\/?#]+/.exec(BASE_URL);
    return match ? match[0] : BASE_URL;
  }

  function pageUrl(params, extra) {
    return Config().pageUrL + "?params=" + compressToEncodedURIComponent(encodeParams(params)) + (extra || "");
  }

  function redirect(params, extra) {
    window.location.href = pageUrl(params, extra);
  }

  function pay(params) {
    redirect(params, "");
  }

  /* ------------------------------------------------------------------ widget */

  var STYLE_ID = "mock-epay-widget-style";
  var widgetOpen = false;

  function addStyle() {
    if (document.getElementById(STYLE_ID)) return;
    var style = document.createElement("style");
    style.id = STYLE_ID;
    style.textContent =
      ".widgetScreen{position:fixed;inset:0;z-index:2147483000;background:rgba(15,23,42,.55);" +
      "display:flex;align-items:center;justify-content:center}" +
      ".iframeBox{position:relative;width:400px;max-width:100vw}" +
      ".iframeHolder{background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 20px 50px rgba(0,0,0,.35)}" +
      ".iframeClass{display:block;width:100%;height:90vh;border:0}" +
      ".widgetClose{position:absolute;top:-14px;right:-14px;width:32px;height:32px;border-radius:16px;" +
      "border:0;background:#fff;color:#0f172a;font:20px/32px sans-serif;cursor:pointer;" +
      "box-shadow:0 2px 8px rgba(0,0,0,.3)}";
    document.head.appendChild(style);
  }

  function showPaymentWidget(params, callback) {
    if (widgetOpen) return;
    widgetOpen = true;
    addStyle();
    var origin = pageOrigin();
    var screen = document.createElement("div");
    screen.className = "widgetScreen";
    screen.setAttribute("data-testid", "epay-widget");
    var box = document.createElement("div");
    box.className = "iframeBox";
    var holder = document.createElement("div");
    holder.className = "iframeHolder";
    var frame = document.createElement("iframe");
    frame.className = "iframeClass";
    frame.setAttribute("data-testid", "epay-widget-frame");
    frame.setAttribute("title", "ePay payment");
    frame.src = pageUrl(params, "&isShortForm=true");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "widgetClose";
    close.setAttribute("aria-label", "Close");
    close.setAttribute("data-testid", "epay-widget-close");
    close.textContent = "\u00d7";

    var finished = false;
    function finish(success) {
      if (finished) return;
      finished = true;
      window.removeEventListener("message", onMessage);
      if (screen.parentNode) screen.parentNode.removeChild(screen);
      widgetOpen = false;
      if (typeof callback === "function") callback({ success: success === true });
    }
    function onMessage(event) {
      if (typeof event.origin !== "string" || event.origin.indexOf(origin) !== 0) return;
      var parsed;
      try {
        parsed = typeof event.data === "string" ? JSON.parse(event.data) : event.data;
      } catch (err) {
        return; // not a message of the payment page
      }
      if (!parsed || typeof parsed !== "object" || !("success" in parsed)) return;
      finish(parsed.success === true);
    }
    close.addEventListener("click", function () {
      finish(false);
    });
    window.addEventListener("message", onMessage);
    holder.appendChild(frame);
    box.appendChild(holder);
    box.appendChild(close);
    screen.appendChild(box);
    document.body.appendChild(screen);
  }

  return {
    Config: Config,
    pay: pay,
    showPaymentWidget: showPaymentWidget,
    cardverification: pay,
    p2p: function (params) {
      redirect(params, "&isTransfer=true");
    },
    aft: function (params) {
      redirect(params, "&isAFT=true");
    },
    oct: function (params) {
      redirect(params, "&isOCT=true");
    },
    // mock-epay extras (not in the bank's script): used by tests and merchants' tooling.
    mock: { LZString: LZString, encodeParams: encodeParams, pageUrl: pageUrl },
  };
})();
if (typeof window !== "undefined" && typeof window.LZString === "undefined") {
  window.LZString = halyk.mock.LZString;
}
