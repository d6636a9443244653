"""Every setting is documented: the README's settings table is the one generated from `Settings`."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mock_epay import settings_table
from mock_epay.settings import Settings
from mock_epay.settings_table import TABLE_END, TABLE_START, cli_flags, embed, main, markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def embedded_table(text: str) -> str:
    return text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]


def test_the_readme_holds_the_current_settings_table():
    assert embedded_table(README.read_text()).strip() == markdown_table().strip(), (
        "run: python -m mock_epay.settings_table"
    )


def test_every_setting_has_a_row_with_a_meaning():
    rows = markdown_table().splitlines()[2:]
    assert len(rows) == len(fields(Settings))
    for spec, row in zip(fields(Settings), rows, strict=True):
        assert row.startswith(f"| `{spec.name}`")
        assert row.rstrip(" |").split(" | ")[-1] == spec.metadata["meaning"]


def test_the_switches_strict_clients_need_are_in_the_table_with_their_env_vars():
    table = markdown_table()
    for name, env in [
        ("service_expires_in_as_string", "MOCK_EPAY_SERVICE_EXPIRES_IN_AS_STRING"),
        ("status_unknown_http", "MOCK_EPAY_STATUS_UNKNOWN_HTTP"),
        ("status_unknown_transaction_null", "MOCK_EPAY_STATUS_UNKNOWN_TRANSACTION_NULL"),
        ("empty_cards_http", "MOCK_EPAY_EMPTY_CARDS_HTTP"),
    ]:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{name}`"))
        assert f"`{env}`" in row


def test_cli_flags_are_read_from_the_real_parser():
    flags = cli_flags()
    assert flags["port"] == "--port"
    assert flags["config_file"] == "--config"
    assert flags["log_requests"] == "--quiet"  # a flag whose dest is not the setting's name
    assert flags["default_scenarios"] == "--no-default-scenarios"
    assert "status_unknown_http" not in flags


def test_a_setting_without_a_meaning_fails_the_table(monkeypatch):
    from dataclasses import dataclass, field

    @dataclass(frozen=True)
    class Undocumented:
        port: int = field(default=1)

    monkeypatch.setattr(settings_table, "Settings", Undocumented)
    with pytest.raises(ValueError, match="Settings.port has no meaning"):
        markdown_table()


def test_the_command_rewrites_only_the_text_between_the_markers(tmp_path, capsys):
    doc = tmp_path / "README.md"
    doc.write_text(f"# Title\n\n{TABLE_START}\nold table\n{TABLE_END}\n\nafter\n", encoding="utf-8")
    assert main([str(doc)]) == 0
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Title\n\n") and text.endswith("\n\nafter\n")
    assert embedded_table(text).strip() == markdown_table().strip()
    assert main([str(doc)]) == 0
    assert "already current" in capsys.readouterr().out


def test_a_document_without_markers_is_refused(tmp_path, capsys):
    doc = tmp_path / "README.md"
    doc.write_text("# no markers\n", encoding="utf-8")
    assert main([str(doc)]) == 1
    assert "markers" in capsys.readouterr().err
    with pytest.raises(ValueError):
        embed("nothing", "table")
