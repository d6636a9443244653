"""Settings: one frozen dataclass from defaults, a YAML config file, MOCK_EPAY_* env vars and CLI flags.

Later sources win: defaults < config file < environment < command line.
A malformed config file is refused with the file, the key and what is wrong.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import fastjsonschema
import yaml

from mock_epay.gateway.models import Merchant, SeedCard, Terminal

TEST_CLIENT_ID = "test"
TEST_CLIENT_SECRET = "yF587AV9Ms94qN2QShFzVR3vFnWkhjbAK3sG"
TEST_TERMINAL_ID = "67e34d63-102f-4bd1-898e-370781d0074d"
TEST_TERMINAL_NUMBER = "98120001"

# The documented test shop id (invoice link page) and a cabinet login for the password grant.
TEST_SHOP_ID = "04f25a4b-d2bd-4dd8-b3a7-9390be4774c4"
TEST_CABINET_LOGIN = "test@mock-epay.kz"
TEST_CABINET_PASSWORD = "Test-cabinet-1"

TEST_ACCOUNT_ID = "testuser1"
# Saved cards of the test merchant's demo customer; the ids are the ones in the bank's examples.
TEST_SAVED_CARDS = (
    SeedCard(TEST_ACCOUNT_ID, "4405639704015096", "e7e2587f-de26-4f41-ae1f-80c1fea31728",
             "TEST VISA", "01/27"),
    SeedCard(TEST_ACCOUNT_ID, "5522042705066736", "22f2c5db-64d8-475f-8066-af3de3dc8233",
             "TEST MASTERCARD", "01/27"),
    SeedCard(TEST_ACCOUNT_ID, "4003032704547597", "16aae4f4-6d24-4a17-b1c6-c09ce7659efb",
             "TEST LOCKED", "09/20"),
)

# The P2P / AFT / OCT test terminals the docs name (spec products 5.2); the 35-character id is the docs'.
TEST_P2P_TERMINAL_ID = "c36b282f-6819-4d4f-85df-a4bdc8a8f703"
TEST_TRANSFER_TERMINALS = (
    Terminal(id=TEST_P2P_TERMINAL_ID, number="98151552"),
    Terminal(id="40a348cb-68a3-45d5-9002-a4836d79c3b5", number="98151553"),
    Terminal(id="3ad0f5bd-88a8-464c-a9a4-cdb16d1dd31", number="98151554"),
)
DEFAULT_MERCHANT = Merchant(
    client_id=TEST_CLIENT_ID,
    client_secret=TEST_CLIENT_SECRET,
    name="Test merchant",
    terminals=(Terminal(id=TEST_TERMINAL_ID, number=TEST_TERMINAL_NUMBER), *TEST_TRANSFER_TERMINALS),
    saved_cards=TEST_SAVED_CARDS,
    shop_id=TEST_SHOP_ID,
    cabinet_login=TEST_CABINET_LOGIN,
    cabinet_password=TEST_CABINET_PASSWORD,
)


class ConfigError(Exception):
    """A config file or setting that cannot be used; the message names file and key."""


def setting(default: Any, meaning: str, *, config_key: str | None = None) -> Any:
    """A Settings field with its one-line meaning (the README's settings table is built from it).

    `config_key` is the field's key in the config file when it differs from its name
    ("" when the file cannot set it).
    """
    return field(default=default, metadata={"meaning": meaning, "config_key": config_key})


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", "address to bind")
    port: int = setting(8080, "port to listen on (0: any free port)")
    config_file: Path | None = setting(None, "the YAML config file these settings were read from",
                                       config_key="")
    seed: int | None = setting(None, "seed for generated data (tokens, ids, references, names): "
                                     "makes a run reproducible")
    public_url: str | None = setting(None, "base URL browsers use to reach the mock (behind a proxy, "
                                           "in Docker)")
    admin_token: str | None = setting(None, "token the /_mock/ admin API requires (`auto`: generate one)")
    allow_open_admin: bool = setting(False, "serve the admin API without a token even on a "
                                            "non-loopback address")
    log_requests: bool = setting(True, "log one line per request (method, path, status, ms)")
    scenario_paths: tuple[Path, ...] = setting((), "scenario files or directories, tried in order "
                                                   "before the shipped library",
                                               config_key="scenarios")
    watch_scenarios: bool = setting(False, "reload scenario files when they change")
    default_scenarios: bool = setting(True, "load the shipped scenarios/ library after the user's files")
    scenario_watch_interval: float = setting(1.0, "seconds between checks of watched scenario files")
    scenario_hang_seconds: float = setting(300.0, "a `hang` outcome answers 504 after this long at most")
    scenario_time_scale: float = setting(1.0, "multiplies scenario delays (0.01 makes a 3 s delay 30 ms)")
    payment_token_ttl: int = setting(1200, "seconds a payment token lives (its `expires_in`)")
    service_token_ttl: int = setting(7200, "seconds a service token lives (its `expires_in`)")
    qr_bill_ttl: int = setting(1200, "seconds a QR bill may stay unfinished before it becomes REJECTED")
    password_token_ttl: int = setting(900, "seconds a password-grant token lives (`expires_in` \"900\")")
    payment_expires_in_as_string: bool = setting(True, "payment tokens' `expires_in` is a JSON string "
                                                       "(`\"1200\"`, as live tokens); false: a number")
    service_expires_in_as_string: bool = setting(True, "service tokens' `expires_in` is a JSON string "
                                                       "(`\"7200\"`, as the bank's SDK declares it); "
                                                       "false: a number")
    strict_invoice_id: bool = setting(True, "`invoiceID` must be 6-15 digits; false: 1-64 characters")
    max_body_bytes: int = setting(1024 * 1024, "largest request body accepted (413 above)")
    store: str = setting("memory://", "where state lives: `memory://` (fresh every start); durable "
                                      "backends by URL (see Durable state)")
    header_timeout: float = setting(10.0, "seconds a client has to send complete request headers (408 after)")
    max_transactions: int = setting(20_000, "transactions kept; older ones are forgotten")
    journal_size: int = setting(500, "requests kept in the request journal")
    status_unknown_http: int = setting(200, "HTTP status of a status answer with resultCode 102 "
                                            "(unknown invoice): 200 or 400; the config key "
                                            "`status_error_http` sets it too")
    status_unknown_transaction_null: bool = setting(True, "a resultCode 102 status answer carries "
                                                          "`\"transaction\": null`; false: no "
                                                          "`transaction` key")
    rsa_key_file: Path | None = setting(None, "PEM file of the RSA private key for cryptograms; none: a "
                                              "2048-bit key made on first use (from --seed when set)")
    empty_cards_http: int = setting(200, "HTTP status of the saved-card list's `{\"code\": 1373}` "
                                         "answer (no cards): 200 or 400")
    transfer_fee_percent: float = setting(0.0, "fee of a P2P / AFT / OCT transfer in percent of its "
                                               "amount (the answer's and status's `fee`)")
    statement_paging: str = setting("offset", "`paging.page` of a statement request: `offset` (records "
                                              "to skip, as the docs say) or `page` (1-based page number)")
    callback_timeout: float = setting(10.0, "seconds to wait for the merchant's callback endpoint")
    callback_max_attempts: int = setting(5, "attempts per callback before it is marked failed")
    callback_backoff: float = setting(5.0, "seconds before the first retry; doubles each time")
    callback_window: float = setting(600.0, "seconds all retries of one callback fit in (the backoff "
                                             "is scaled down to fit)")
    callback_allowed_hosts: tuple[str, ...] = setting((), "hosts callbacks may go to (`*.x` "
                                                          "wildcards); empty: any host except "
                                                          "link-local / metadata")
    callback_concurrency: int = setting(64, "deliveries in flight at once, across all merchants")
    callback_per_host_concurrency: int = setting(32, "of those, at most this many to one merchant host:port, "
                                                     "so one hung merchant cannot starve the others")
    callback_log_size: int = setting(5000, "deliveries kept in the delivery log")
    callback_shutdown_grace: float = setting(5.0, "seconds a graceful stop waits for due deliveries")
    merchants: tuple[Merchant, ...] = setting((DEFAULT_MERCHANT,), "merchants, terminals and saved "
                                                                   "cards (see Config file); the "
                                                                   "public test merchant is "
                                                                   "always included unless "
                                                                   "`include_test_merchant: false`")

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def with_overrides(self, **overrides: Any) -> Settings:
        known = {f.name for f in fields(self)}
        return replace(self, **{k: v for k, v in overrides.items() if k in known and v is not None})


_TERMINAL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "number": {"type": "string", "pattern": "^[0-9]{8}$"},
        "two_stage": {"type": "boolean"},
        "auto_cancel_seconds": {"type": "number", "exclusiveMinimum": 0},
    },
}
_CARD_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["account_id", "card_number"],
    "properties": {
        "account_id": {"type": "string", "minLength": 1},
        "card_number": {"type": ["string", "integer"], "pattern": "^[0-9]{12,19}$"},
        "id": {"type": "string", "minLength": 1},
        "payer_name": {"type": "string"},
        "expiry": {"type": "string", "pattern": "^[0-9]{2}/[0-9]{2}$"},
    },
}
_MERCHANT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    # The built-in test merchant is extended, not re-declared: it needs only its client_id.
    "if": {"properties": {"client_id": {"const": TEST_CLIENT_ID}}},
    "then": {"required": ["client_id"]},
    "else": {"required": ["client_id", "client_secret", "terminals"]},
    "properties": {
        "client_id": {"type": "string", "minLength": 1},
        "client_secret": {"type": "string", "minLength": 1},
        "name": {"type": "string"},
        "callback_format": {"enum": ["current", "legacy"]},
        "callbacks_after_operations": {"type": "boolean"},
        "terminals": {"type": "array", "minItems": 1, "items": _TERMINAL_SCHEMA},
        "saved_cards": {"type": "array", "items": _CARD_SCHEMA},
        "shop_id": {"type": "string", "minLength": 1, "maxLength": 64},
        "cabinet_login": {"type": "string", "minLength": 1, "maxLength": 128},
        "cabinet_password": {"type": "string", "minLength": 1, "maxLength": 128},
    },
}
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
    "callback_log_size": {"type": "integer", "minimum": 10},
    "callback_shutdown_grace": {"type": "number", "minimum": 0},
    "merchants": {"type": "array", "items": _MERCHANT_SCHEMA},
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
    _check_merchants(path, data.get("merchants", []), data.get("include_test_merchant", True))
    return data


def _check_merchants(path: Path, merchants: list[dict[str, Any]], include_test: bool) -> None:
    """Refuse what would silently mix merchants up: a client_id twice, a terminal or saved-card
    id owned by two merchants (the built-in test merchant's included)."""
    terminal_owner: dict[str, str] = {}
    card_owner: dict[str, str] = {}
    if include_test:
        terminal_owner = {t.id: TEST_CLIENT_ID for t in DEFAULT_MERCHANT.terminals}
        card_owner = {c.id: TEST_CLIENT_ID for c in DEFAULT_MERCHANT.saved_cards if c.id}
    seen_clients: set[str] = set()
    seen_terminals: set[str] = set()
    seen_cards: set[str] = set()
    for index, merchant in enumerate(merchants):
        client_id = merchant["client_id"]
        key = f"{path}: key 'merchants[{index}]"
        if client_id in seen_clients:
            raise ConfigError(f"{key}.client_id': {client_id!r} is defined twice")
        seen_clients.add(client_id)
        if client_id == TEST_CLIENT_ID and not include_test and not (
            "client_secret" in merchant and "terminals" in merchant
        ):
            raise ConfigError(f"{key}': with include_test_merchant: false, merchant {client_id!r} "
                              "is declared from scratch and needs client_secret and terminals")
        for t_index, terminal in enumerate(merchant.get("terminals", [])):
            terminal_key = f"{key}.terminals[{t_index}].id'"
            owner = terminal_owner.setdefault(terminal["id"], client_id)
            if owner != client_id:
                raise ConfigError(f"{terminal_key}: terminal {terminal['id']!r} belongs to two "
                                  f"merchants, {owner!r} and {client_id!r}")
            if terminal["id"] in seen_terminals:
                raise ConfigError(f"{terminal_key}: terminal {terminal['id']!r} is declared twice "
                                  f"for merchant {client_id!r}")
            seen_terminals.add(terminal["id"])
        for c_index, card in enumerate(merchant.get("saved_cards", [])):
            card_id = card.get("id")
            if card_id is None:
                continue
            card_key = f"{key}.saved_cards[{c_index}].id'"
            owner = card_owner.setdefault(card_id, client_id)
            if owner != client_id:
                raise ConfigError(f"{card_key}: saved card {card_id!r} belongs to two merchants, "
                                  f"{owner!r} and {client_id!r}")
            if card_id in seen_cards:
                raise ConfigError(f"{card_key}: saved card {card_id!r} is declared twice "
                                  f"for merchant {client_id!r}")
            seen_cards.add(card_id)


def _terminal_from_config(raw: Mapping[str, Any], number: str) -> Terminal:
    return Terminal(
        id=raw["id"],
        number=raw.get("number") or number,
        two_stage=raw.get("two_stage", False),
        auto_cancel_seconds=raw.get("auto_cancel_seconds"),
    )


def _card_from_config(raw: Mapping[str, Any]) -> SeedCard:
    return SeedCard(
        account_id=raw["account_id"],
        card_number=str(raw["card_number"]),
        id=raw.get("id"),
        payer_name=raw.get("payer_name", ""),
        expiry=raw.get("expiry", "01/27"),
    )


def _merchant_from_config(raw: Mapping[str, Any], index: int) -> Merchant:
    terminals = tuple(
        _terminal_from_config(t, f"{98120002 + index * 10 + t_index:08d}")
        for t_index, t in enumerate(raw["terminals"])
    )
    return Merchant(
        client_id=raw["client_id"],
        client_secret=raw["client_secret"],
        name=raw.get("name", raw["client_id"]),
        terminals=terminals,
        callback_format=raw.get("callback_format", "current"),
        callbacks_after_operations=raw.get("callbacks_after_operations", False),
        saved_cards=tuple(_card_from_config(c) for c in raw.get("saved_cards", [])),
        shop_id=raw.get("shop_id", ""),
        cabinet_login=raw.get("cabinet_login", ""),
        cabinet_password=raw.get("cabinet_password", ""),
    )


def _merge_by_id(base: tuple[Any, ...], added: list[Any]) -> tuple[Any, ...]:
    """`base` with items of the same `id` replaced by `added` ones, the other `added` ones after."""
    by_id = {item.id: item for item in added if item.id}
    merged = [by_id.pop(item.id, item) for item in base]
    return tuple(merged + [item for item in added if not item.id or item.id in by_id])


def _extend_test_merchant(raw: Mapping[str, Any], index: int) -> Merchant:
    """The built-in test merchant plus what the config adds: terminals and saved cards (a
    terminal or card with an id it already has replaces that one); other keys override."""
    base = DEFAULT_MERCHANT
    base_numbers = {t.id: t.number for t in base.terminals}
    terminals = [
        _terminal_from_config(t, base_numbers.get(t["id"]) or f"{98120002 + index * 10 + t_index:08d}")
        for t_index, t in enumerate(raw.get("terminals", []))
    ]
    cards = [_card_from_config(c) for c in raw.get("saved_cards", [])]
    return replace(
        base,
        client_secret=raw.get("client_secret", base.client_secret),
        name=raw.get("name", base.name),
        callback_format=raw.get("callback_format", base.callback_format),
        callbacks_after_operations=raw.get("callbacks_after_operations", base.callbacks_after_operations),
        terminals=_merge_by_id(base.terminals, terminals),
        saved_cards=_merge_by_id(base.saved_cards, cards),
        shop_id=raw.get("shop_id", base.shop_id),
        cabinet_login=raw.get("cabinet_login", base.cabinet_login),
        cabinet_password=raw.get("cabinet_password", base.cabinet_password),
    )


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
        include_test = data.get("include_test_merchant", True)
        merchants = [
            _extend_test_merchant(m, i) if include_test and m["client_id"] == TEST_CLIENT_ID
            else _merchant_from_config(m, i)
            for i, m in enumerate(data["merchants"])
        ]
        if include_test:
            extended = [m for m in merchants if m.client_id == TEST_CLIENT_ID]
            merchants = [extended[0] if extended else DEFAULT_MERCHANT] + [
                m for m in merchants if m.client_id != TEST_CLIENT_ID
            ]
        values["merchants"] = tuple(merchants)
    return replace(base, **values)


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
})


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
