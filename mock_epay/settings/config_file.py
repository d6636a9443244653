"""The YAML config file: its schema, reading and validating it, and applying it to `Settings`.

A malformed file is refused with the file, the key and what is wrong (`ConfigError`); the
schema is compiled on first use, so a server started without a config file never pays for it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml

from mock_epay.settings.fields import ConfigError, Settings
from mock_epay.settings.merchants import MERCHANT_SCHEMA, check_merchants, merchants_from_config

_SETTING_TYPES = {
    "host": {"type": "string"},
    "port": {"type": "integer", "minimum": 0, "maximum": 65535},
    "seed": {"type": "integer"},
    "public_url": {"type": "string", "pattern": "^https?://"},
    "admin_token": {"type": "string", "minLength": 1},
    "allow_open_admin": {"type": "boolean"},
    "log_requests": {"type": "boolean"},
    "scenarios": {"type": "array", "items": {"type": "string"}},
    "watch_scenarios": {"type": "boolean"},
    "default_scenarios": {"type": "boolean"},
    "scenario_watch_interval": {"type": "number", "exclusiveMinimum": 0},
    "scenario_hang_seconds": {"type": "number", "exclusiveMinimum": 0},
    "scenario_time_scale": {"type": "number", "minimum": 0},
    "payment_token_ttl": {"type": "integer", "minimum": 1},
    "service_token_ttl": {"type": "integer", "minimum": 1},
    "password_token_ttl": {"type": "integer", "minimum": 1},
    "qr_bill_ttl": {"type": "integer", "minimum": 1},
    "payment_expires_in_as_string": {"type": "boolean"},
    "service_expires_in_as_string": {"type": "boolean"},
    "strict_invoice_id": {"type": "boolean"},
    "max_body_bytes": {"type": "integer", "minimum": 1024},
    "store": {"type": "string", "minLength": 1},
    "header_timeout": {"type": "number", "exclusiveMinimum": 0},
    "max_transactions": {"type": "integer", "minimum": 100},
    "journal_size": {"type": "integer", "minimum": 1},
    "status_unknown_http": {"enum": [200, 400]},
    "status_error_http": {"enum": [200, 400]},  # the older name of status_unknown_http
    "status_unknown_transaction_null": {"type": "boolean"},
    "empty_cards_http": {"enum": [200, 400]},
    "rsa_key_file": {"type": "string", "minLength": 1},
    "transfer_fee_percent": {"type": "number", "minimum": 0, "maximum": 100},
    "statement_paging": {"enum": ["offset", "page"]},
    "callback_timeout": {"type": "number", "exclusiveMinimum": 0},
    "callback_max_attempts": {"type": "integer", "minimum": 1},
    "callback_backoff": {"type": "number", "minimum": 0},
    "callback_window": {"type": "number", "exclusiveMinimum": 0},
    "callback_allowed_hosts": {
        "type": "array",
        "items": {"type": "string", "pattern": "^(\\*\\.)?[A-Za-z0-9._:\\[\\]-]+$"},
    },
    "callback_concurrency": {"type": "integer", "minimum": 1},
    "callback_per_host_concurrency": {"type": "integer", "minimum": 1},
    "callback_sender": {"enum": ["auto", "process", "inline"]},
    "callback_log_size": {"type": "integer", "minimum": 10},
    "callback_shutdown_grace": {"type": "number", "minimum": 0},
    "merchants": {"type": "array", "items": MERCHANT_SCHEMA},
    "include_test_merchant": {"type": "boolean"},
}
CONFIG_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": _SETTING_TYPES,
}


@functools.cache
def _config_validator() -> Any:
    """Compiled on first use: a server started without a config file never pays for it."""
    return fastjsonschema.compile(CONFIG_SCHEMA)


def _describe_schema_error(exc: fastjsonschema.JsonSchemaValueException) -> str:
    name = exc.name or ""
    key = name.removeprefix("data").lstrip(".") or "(top level)"
    what = exc.message.removeprefix(name).strip()
    return f"key {key!r}: {what}"


def load_config_file(path: Path) -> dict[str, Any]:
    """Read and validate a YAML config file; raise ConfigError naming file, key and problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    try:
        _config_validator()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise ConfigError(f"{path}: {_describe_schema_error(exc)}") from exc
    check_merchants(path, data.get("merchants", []), data.get("include_test_merchant", True))
    return data




def settings_from_config(data: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Apply a validated config mapping on top of `base` (defaults when None).

    A merchant with the test merchant's client_id extends the built-in one (unless
    `include_test_merchant: false`); the built-in one is always first.
    """
    base = base or Settings()
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("merchants", "include_test_merchant", "scenarios", "status_error_http"):
            continue
        values[key] = tuple(value) if isinstance(value, list) else value
    if "status_error_http" in data and "status_unknown_http" not in data:
        values["status_unknown_http"] = data["status_error_http"]
    if "scenarios" in data:
        values["scenario_paths"] = tuple(Path(p) for p in data["scenarios"])
    if "merchants" in data:
        values["merchants"] = merchants_from_config(data)
    return replace(base, **values)
