"""LZString's URI-safe encoding (`compressToEncodedURIComponent` and its inverse), written for mock-epay.

The bank's `payment-api.js` packs the payment object into `?params=` with LZString's
`compressToEncodedURIComponent`; the hosted page decodes it. This is an independent
implementation of that public algorithm, bit-for-bit compatible with the JavaScript one:

- the input is processed as UTF-16 code units (as JavaScript strings are), so a
  character outside the BMP (an emoji) is two units, each written with 16 bits;
- codes are written least-significant bit first, 6 bits per output character, into
  the alphabet `A-Z a-z 0-9 + - $`;
- the dictionary starts with three reserved codes: 0 (next is an 8-bit char),
  1 (next is a 16-bit char), 2 (end of stream).

`decompress_from_encoded_uri_component` raises `LZStringError` on malformed input
instead of returning null or "" as the JavaScript version does, and refuses
inputs or outputs above the given limits (a compressed string can expand a lot).
"""

from __future__ import annotations

URI_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+-$"
_URI_VALUES = {char: index for index, char in enumerate(URI_ALPHABET)}
_BITS_PER_CHAR = 6
_END_OF_STREAM = 2

MAX_INPUT_CHARS = 256 * 1024
MAX_OUTPUT_UNITS = 2 * 1024 * 1024


class LZStringError(ValueError):
    """The compressed text is not valid LZString output."""


def _to_units(text: str) -> str:
    """`text` as a string of UTF-16 code units (surrogate pairs split into two chars)."""
    raw = text.encode("utf-16-le", "surrogatepass")
    return "".join(chr(int.from_bytes(raw[i:i + 2], "little")) for i in range(0, len(raw), 2))


def _from_units(units: str) -> str:
    """Join UTF-16 code units back into a normal string (pairs become one character)."""
    raw = b"".join(ord(unit).to_bytes(2, "little") for unit in units)
    return raw.decode("utf-16-le", "surrogatepass")


class _BitWriter:
    """Packs codes LSB-first into 6-bit alphabet characters."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self._value = 0
        self._position = 0

    def write(self, value: int, bits: int) -> None:
        for _ in range(bits):
            self._value = (self._value << 1) | (value & 1)
            value >>= 1
            if self._position == _BITS_PER_CHAR - 1:
                self.out.append(URI_ALPHABET[self._value])
                self._value = 0
                self._position = 0
            else:
                self._position += 1

    def flush(self) -> str:
        """Pad the last character with zero bits (at least one, as the JS does)."""
        while True:
            self._value <<= 1
            if self._position == _BITS_PER_CHAR - 1:
                self.out.append(URI_ALPHABET[self._value])
                break
            self._position += 1
        return "".join(self.out)


def compress_to_encoded_uri_component(text: str | None) -> str:
    """What JavaScript's `LZString.compressToEncodedURIComponent(text)` returns."""
    if text is None:
        return ""
    units = _to_units(text)
    dictionary: dict[str, int] = {}
    pending_literals: set[str] = set()  # single chars whose literal is not written yet
    writer = _BitWriter()
    size = 3
    num_bits = 2
    enlarge_in = 2
    w = ""

    def emit(phrase: str) -> None:
        nonlocal enlarge_in, num_bits
        if phrase in pending_literals:
            code = ord(phrase)
            if code < 256:
                writer.write(0, num_bits)
                writer.write(code, 8)
            else:
                writer.write(1, num_bits)
                writer.write(code, 16)
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in = 1 << num_bits
                num_bits += 1
            pending_literals.discard(phrase)
        else:
            writer.write(dictionary[phrase], num_bits)
        enlarge_in -= 1
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1

    for c in units:
        if c not in dictionary:
            dictionary[c] = size
            size += 1
            pending_literals.add(c)
        wc = w + c
        if wc in dictionary:
            w = wc
            continue
        emit(w)
        dictionary[wc] = size
        size += 1
        w = c
    if w:
        emit(w)
    writer.write(_END_OF_STREAM, num_bits)
    return writer.flush()


class _BitReader:
    def __init__(self, text: str) -> None:
        self._text = text
        self._index = 0
        self._value = 0
        self._mask = 0
        self._next_char()

    def _next_char(self) -> None:
        if self._index >= len(self._text):
            raise LZStringError("compressed text ends in the middle of a code")
        char = self._text[self._index]
        value = _URI_VALUES.get(char)
        if value is None:
            raise LZStringError(f"character {char!r} at position {self._index} is not in the alphabet")
        self._index += 1
        self._value = value
        self._mask = 1 << (_BITS_PER_CHAR - 1)

    def read(self, bits: int) -> int:
        result = 0
        for bit in range(bits):
            if self._mask == 0:
                self._next_char()
            if self._value & self._mask:
                result |= 1 << bit
            self._mask >>= 1
        return result


def decompress_from_encoded_uri_component(
    text: str, *, max_input: int = MAX_INPUT_CHARS, max_output: int = MAX_OUTPUT_UNITS
) -> str:
    """Inverse of `compress_to_encoded_uri_component`; raises `LZStringError` on bad input.

    Spaces are read as `+` (a form decoder may have turned `+` into a space), as the JS does.
    """
    if not text:
        raise LZStringError("compressed text is empty")
    if len(text) > max_input:
        raise LZStringError(f"compressed text is longer than {max_input} characters")
    reader = _BitReader(text.replace(" ", "+"))
    dictionary: list[str] = ["", "", ""]
    num_bits = 3
    enlarge_in = 4

    first = reader.read(2)
    if first == _END_OF_STREAM:
        return ""
    if first not in (0, 1):
        raise LZStringError("compressed text does not start with a literal")
    w = chr(reader.read(8 if first == 0 else 16))
    dictionary.append(w)
    result = [w]
    produced = 1
    while True:
        code = reader.read(num_bits)
        if code == _END_OF_STREAM:
            return _from_units("".join(result))
        if code in (0, 1):
            dictionary.append(chr(reader.read(8 if code == 0 else 16)))
            code = len(dictionary) - 1
            enlarge_in -= 1
            if enlarge_in == 0:
                enlarge_in = 1 << num_bits
                num_bits += 1
        if code < len(dictionary) and code > 2:
            entry = dictionary[code]
        elif code == len(dictionary):
            entry = w + w[0]
        else:
            raise LZStringError(f"code {code} refers to no dictionary entry")
        produced += len(entry)
        if produced > max_output:
            raise LZStringError(f"decompressed text is longer than {max_output} characters")
        result.append(entry)
        dictionary.append(w + entry[0])
        enlarge_in -= 1
        w = entry
        if enlarge_in == 0:
            enlarge_in = 1 << num_bits
            num_bits += 1
