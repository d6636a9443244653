"""Settings: one frozen dataclass from defaults, a YAML config file, MOCK_EPAY_* env vars and CLI flags.

Later sources win: defaults < config file < environment < command line.
A malformed config file is refused with the file, the key and what is wrong.
The parts: `fields` (the dataclass, its field table), `config_file` (the YAML file),
`merchants` (merchants in that file), `env` (the environment), `sandbox` (the public test merchant).
Every name is importable from here, as before: `from mock_epay.settings import Settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from mock_epay.settings.config_file import CONFIG_SCHEMA, load_config_file, settings_from_config
from mock_epay.settings.env import env_var_of, settings_from_env
from mock_epay.settings.fields import ConfigError, Settings, setting
from mock_epay.settings.sandbox import (
    DEFAULT_MERCHANT,
    TEST_ACCOUNT_ID,
    TEST_CABINET_LOGIN,
    TEST_CABINET_PASSWORD,
    TEST_CLIENT_ID,
    TEST_CLIENT_SECRET,
    TEST_P2P_TERMINAL_ID,
    TEST_SAVED_CARDS,
    TEST_SHOP_ID,
    TEST_TERMINAL_ID,
    TEST_TERMINAL_NUMBER,
    TEST_TRANSFER_TERMINALS,
)

__all__ = [
    "CONFIG_SCHEMA", "DEFAULT_MERCHANT", "TEST_ACCOUNT_ID", "TEST_CABINET_LOGIN", "TEST_CABINET_PASSWORD",
    "TEST_CLIENT_ID", "TEST_CLIENT_SECRET", "TEST_P2P_TERMINAL_ID", "TEST_SAVED_CARDS", "TEST_SHOP_ID",
    "TEST_TERMINAL_ID", "TEST_TERMINAL_NUMBER", "TEST_TRANSFER_TERMINALS", "ConfigError", "Settings",
    "build_settings", "env_var_of", "load_config_file", "setting", "settings_from_config",
    "settings_from_env",
]


def build_settings(cli: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    """Combine defaults, config file, environment and CLI flags (in that order of precedence)."""
    env = settings_from_env(environ)
    config_path = cli.get("config_file") or env.get("config_file")
    settings = Settings()
    if config_path:
        settings = settings_from_config(load_config_file(Path(config_path)), settings)
        settings = replace(settings, config_file=Path(config_path))
    settings = settings.with_overrides(**env)
    return settings.with_overrides(**cli)
