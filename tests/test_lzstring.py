"""LZString URI-safe coding: our Python version against vectors made by our payment-api.js in Node.

The vectors in fixtures/lzstring_vectors.json were produced by running static/payment-api.js
in Node (tests/js/lzstring_vectors.js); when node is installed the test re-runs it to
check the JavaScript still produces them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mock_epay.core.lzstring import (
    LZStringError,
    compress_to_encoded_uri_component,
    decompress_from_encoded_uri_component,
)
from mock_epay.web.payform.params import decode_params, encode_params

HERE = Path(__file__).resolve().parent
VECTORS = json.loads((HERE / "fixtures" / "lzstring_vectors.json").read_text(encoding="utf-8"))
STRINGS = VECTORS["strings"]
OBJECTS = VECTORS["objects"]


def _id(vector: dict) -> str:
    return repr(vector["input"][:24])


@pytest.mark.parametrize("vector", STRINGS, ids=_id)
def test_python_compresses_exactly_like_the_javascript(vector):
    assert compress_to_encoded_uri_component(vector["input"]) == vector["compressed"]


@pytest.mark.parametrize("vector", [v for v in STRINGS if v["input"]], ids=_id)
def test_python_decompresses_what_the_javascript_compressed(vector):
    assert decompress_from_encoded_uri_component(vector["compressed"]) == vector["input"]


def test_vectors_cover_cyrillic_kazakh_emoji_and_long_inputs():
    inputs = [v["input"] for v in STRINGS]
    assert "Оплата в интернет магазине" in inputs
    assert any("Қазақстан" in text for text in inputs)
    assert any("😀" in text for text in inputs)
    assert max(len(text) for text in inputs) >= 2000
    assert "" in inputs


def test_empty_string_compresses_to_the_end_marker_only():
    assert compress_to_encoded_uri_component("") == "Q"
    assert decompress_from_encoded_uri_component("Q") == ""


@pytest.mark.parametrize("vector", OBJECTS, ids=lambda v: str(v["object"].get("invoiceId")))
def test_payment_objects_encode_and_decode_like_payment_api_js(vector):
    assert encode_params(vector["object"]) == vector["encoded"]
    decoded = decode_params(vector["compressed"])
    source = vector["object"]
    assert decoded["invoiceId"] == str(source["invoiceId"])
    assert decoded["description"] == source["description"]
    assert "" not in decoded  # an empty key is skipped, as the script does


def test_a_form_decoder_turning_plus_into_space_is_tolerated():
    compressed = next(v["compressed"] for v in STRINGS if "+" in v["compressed"])
    expected = decompress_from_encoded_uri_component(compressed)
    assert decompress_from_encoded_uri_component(compressed.replace("+", " ")) == expected


@pytest.mark.parametrize("bad", ["", "not*valid", "A", "$$$$"])
def test_malformed_input_raises_a_clear_error(bad):
    with pytest.raises(LZStringError):
        decompress_from_encoded_uri_component(bad)


def test_output_is_bounded():
    compressed = compress_to_encoded_uri_component("a" * 50_000)
    with pytest.raises(LZStringError, match="longer than"):
        decompress_from_encoded_uri_component(compressed, max_output=10_000)


def test_agrees_with_the_lzstring_package_on_bmp_text():
    """The PyPI package treats a non-BMP char as one unit (JS uses two), so emoji are left out."""
    lzstring = pytest.importorskip("lzstring")
    reference = lzstring.LZString()
    for vector in STRINGS:
        if any(ord(char) > 0xFFFF for char in vector["input"]):
            continue
        assert reference.compressToEncodedURIComponent(vector["input"]) == vector["compressed"]


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_vectors_still_match_what_payment_api_js_produces_in_node():
    request = {"strings": [v["input"] for v in STRINGS], "objects": [v["object"] for v in OBJECTS]}
    completed = subprocess.run(
        ["node", str(HERE / "js" / "lzstring_vectors.js")],
        input=json.dumps(request), capture_output=True, text=True, timeout=30, check=True,
    )
    fresh = json.loads(completed.stdout)
    assert fresh["strings"] == STRINGS
    assert fresh["objects"] == OBJECTS
