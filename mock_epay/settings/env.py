"""Settings from the environment: the MOCK_EPAY_* variables, what each sets, and how its text is read.

A variable that cannot be read (`MOCK_EPAY_PORT=eighty`) is a `ConfigError` naming it and its value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mock_epay.settings.fields import ConfigError

_ENV_PREFIX = "MOCK_EPAY_"
_ENV_CONVERTERS: dict[str, Any] = {
    "HOST": ("host", str),
    "PORT": ("port", int),
    "SEED": ("seed", int),
    "PUBLIC_URL": ("public_url", str),
    "ADMIN_TOKEN": ("admin_token", str),
    "ALLOW_OPEN_ADMIN": ("allow_open_admin", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "CONFIG": ("config_file", Path),
    "LOG_REQUESTS": ("log_requests", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "SCENARIOS": ("scenario_paths", lambda v: tuple(Path(p) for p in v.split(os.pathsep) if p)),
    "WATCH_SCENARIOS": ("watch_scenarios", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "CALLBACK_TIMEOUT": ("callback_timeout", float),
    "CALLBACK_MAX_ATTEMPTS": ("callback_max_attempts", int),
    "CALLBACK_ALLOWED_HOSTS": (
        "callback_allowed_hosts", lambda v: tuple(h.strip() for h in v.split(",") if h.strip())
    ),
    "DEFAULT_SCENARIOS": ("default_scenarios", lambda v: v.lower() in ("1", "true", "yes", "on")),
    "HEADER_TIMEOUT": ("header_timeout", float),
    "STORE": ("store", str),
}
_ENV_TYPE_NAMES = {int: "an integer", float: "a number"}


def _env_flag(value: str) -> bool:
    """A boolean env var: 1/true/yes/on is true, 0/false/no/off false, anything else an error."""
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false (1/0, yes/no, on/off)")


def _env_http_status(value: str) -> int:
    status = int(value)
    if status not in (200, 400):
        raise ValueError("expected 200 or 400")
    return status


# Answer-shape switches: how strict clients decode tokens, status and saved-card answers.
_ENV_CONVERTERS.update({
    "PAYMENT_EXPIRES_IN_AS_STRING": ("payment_expires_in_as_string", _env_flag),
    "SERVICE_EXPIRES_IN_AS_STRING": ("service_expires_in_as_string", _env_flag),
    "STATUS_UNKNOWN_HTTP": ("status_unknown_http", _env_http_status),
    "STATUS_UNKNOWN_TRANSACTION_NULL": ("status_unknown_transaction_null", _env_flag),
    "EMPTY_CARDS_HTTP": ("empty_cards_http", _env_http_status),
    "RSA_KEY_FILE": ("rsa_key_file", Path),
    "CALLBACK_SENDER": ("callback_sender", lambda v: _env_choice(v, ("auto", "process", "inline"))),
})


def _env_choice(value: str, choices: tuple[str, ...]) -> str:
    text = value.strip().lower()
    if text not in choices:
        raise ValueError(f"expected one of {', '.join(choices)}")
    return text


def env_var_of(name: str) -> str | None:
    """The MOCK_EPAY_* variable that sets the field `name`, if there is one."""
    for suffix, (field_name, _) in _ENV_CONVERTERS.items():
        if field_name == name:
            return _ENV_PREFIX + suffix
    return None


def settings_from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """Overrides read from MOCK_EPAY_* environment variables."""
    overrides: dict[str, Any] = {}
    for suffix, (name, convert) in _ENV_CONVERTERS.items():
        raw = environ.get(_ENV_PREFIX + suffix)
        if raw is None or raw == "":
            continue
        try:
            overrides[name] = convert(raw)
        except ValueError as exc:
            expected = _ENV_TYPE_NAMES.get(convert)
            why = f"expected {expected}" if expected else str(exc)
            raise ConfigError(f"environment variable {_ENV_PREFIX + suffix}={raw!r}: {why}") from exc
    return overrides
