// Runs the mock's own static/payment-api.js in Node and compresses the inputs given on stdin.
// stdin: {"strings": [...], "objects": [...]}; stdout: the same with the JS results.
// Used to produce tests/fixtures/lzstring_vectors.json and by tests/test_lzstring.py to re-check it.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const source = fs.readFileSync(path.join(__dirname, "..", "..", "static", "payment-api.js"), "utf8");
const sandbox = { window: {}, console };
vm.createContext(sandbox);
vm.runInContext(source + "\n;globalThis.__halyk = halyk;", sandbox);
const mock = sandbox.__halyk.mock;

const request = JSON.parse(fs.readFileSync(0, "utf8"));
const result = {
  strings: request.strings.map((input) => ({
    input,
    compressed: mock.LZString.compressToEncodedURIComponent(input),
  })),
  objects: request.objects.map((object) => {
    const encoded = mock.encodeParams(object);
    return { object, encoded, compressed: mock.LZString.compressToEncodedURIComponent(encoded) };
  }),
};
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
