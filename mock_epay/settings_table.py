"""The README's table of every setting: name (config key), env var, CLI flag, default, meaning.

Built from the `Settings` dataclass (each field's meaning is its metadata), the env
var table of `mock_epay.settings` and the real `serve` parser of `mock_epay.cli`.
`python -m mock_epay.settings_table [README]` rewrites the table between the marker
comments; a test checks the README holds the current one.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Sequence
from dataclasses import MISSING, Field, fields
from pathlib import Path
from typing import Any

from mock_epay.cli import _cli_overrides, build_parser
from mock_epay.settings import DEFAULT_MERCHANT, Settings, env_var_of

TABLE_START = "<!-- settings-table:start -->"
TABLE_END = "<!-- settings-table:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"
_SAMPLE_VALUES = ("1", "x")  # arguments to try for a flag that takes one: a number, then text


def _serve_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices["serve"]
    raise LookupError("mock_epay.cli.build_parser() has no 'serve' command")


def _parse_flag(flag: str, *, takes_value: bool) -> argparse.Namespace:
    """`serve FLAG [VALUE]` parsed for real, with the first sample value the flag's type accepts."""
    for sample in (_SAMPLE_VALUES if takes_value else ("",)):
        argv = ["serve", flag] + ([sample] if takes_value else [])
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                return build_parser().parse_args(argv)
        except SystemExit:
            continue
    raise LookupError(f"no sample value fits the serve flag {flag}")


def cli_flags() -> dict[str, str]:
    """Setting name -> the `serve` flag that sets it, found by parsing each flag for real."""
    flags: dict[str, str] = {}
    for action in _serve_parser()._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = max(action.option_strings, key=len)
        args = _parse_flag(flag, takes_value=action.nargs != 0)
        for name, value in _cli_overrides(args).items():
            if value is not None and name not in flags:
                flags[name] = flag
    return flags


def _default(spec: Field[Any]) -> str:
    value = spec.default if spec.default is not MISSING else None
    if value == (DEFAULT_MERCHANT,):
        return "the public test merchant"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == ():
        return "none"
    return f"`{value}`"


def _name(spec: Field[Any]) -> str:
    """The setting's name, and its config-file key when that differs."""
    key = spec.metadata.get("config_key")
    if key == "":
        return f"`{spec.name}` (not in the file)"
    if key:
        return f"`{spec.name}` (file key `{key}`)"
    return f"`{spec.name}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table() -> str:
    """One row per `Settings` field; raises when a field has no meaning."""
    flags = cli_flags()
    lines = ["| Setting | Env var | CLI flag | Default | Meaning |", "|---|---|---|---|---|"]
    for spec in fields(Settings):
        meaning = spec.metadata.get("meaning")
        if not meaning:
            raise ValueError(f"Settings.{spec.name} has no meaning: declare it with settings.setting()")
        env = env_var_of(spec.name)
        cells = [_name(spec), f"`{env}`" if env else "—",
                 f"`{flags[spec.name]}`" if spec.name in flags else "—", _default(spec), meaning]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def embed(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table`."""
    if TABLE_START not in document or TABLE_END not in document:
        raise ValueError(f"the document has no {TABLE_START} ... {TABLE_END} markers")
    head, rest = document.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{table}{TABLE_END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[0]) if args else README
    try:
        document = path.read_text(encoding="utf-8")
        updated = embed(document, markdown_table())
    except (OSError, ValueError) as exc:
        print(f"settings_table: {path}: {exc}", file=sys.stderr)
        return 1
    if updated != document:
        path.write_text(updated, encoding="utf-8")
        print(f"{path}: settings table updated")
    else:
        print(f"{path}: settings table already current")
    return 0


if __name__ == "__main__":
    sys.exit(main())
