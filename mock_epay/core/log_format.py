"""Log lines that cannot be forged: control characters in logged text are escaped.

A request path or a merchant's URL may carry CR, LF or other control characters (a
decoded `%0d%0a`); written raw they would start a fake log line. `escape_control`
makes them visible as `\\r`, `\\n`, `\\x1b`...; `SafeFormatter` applies it to every
record, so one record is one line (a traceback follows as indented lines).
"""

from __future__ import annotations

import logging

_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), 0x7F)}
_ESCAPES.update({0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r", 0x85: "\\x85",
                 0x2028: "\\u2028", 0x2029: "\\u2029"})
_ESCAPE_TABLE = str.maketrans(_ESCAPES)


def escape_control(text: str) -> str:
    """`text` with control characters (and Unicode line separators) escaped."""
    if text.isprintable():  # the usual case: nothing to do
        return text
    return text.translate(_ESCAPE_TABLE)


class SafeFormatter(logging.Formatter):
    """A Formatter whose message part is always one line: control characters escaped."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return escape_control(super().formatMessage(record))

    def formatException(self, ei: object) -> str:  # noqa: N802
        text = super().formatException(ei)  # type: ignore[arg-type]
        return "\n".join("    " + escape_control(line) for line in text.splitlines())

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return "\n".join("    " + escape_control(line) for line in stack_info.splitlines())
