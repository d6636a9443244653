"""The settings' field table: the frozen `Settings` dataclass, each field's default and one-line meaning.

`setting(default, meaning)` declares a field; the README's settings table is built from these
(`python -m mock_epay.settings_table`). `ConfigError` is the one error a bad setting raises.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mock_epay.gateway.models import Merchant
from mock_epay.settings.sandbox import DEFAULT_MERCHANT


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
    callback_concurrency: int = setting(256, "deliveries in flight at once, across all merchants")
    callback_per_host_concurrency: int = setting(128, "of those, at most this many to one merchant "
                                                      "host:port, so one hung merchant cannot starve "
                                                      "the others")
    callback_sender: str = setting("auto", "where callbacks go out on the wire: `process` (a helper "
                                           "process started on the first callback, so delivery runs on "
                                           "another core), `inline` (in the server's event loop), "
                                           "`auto` (`process` under `mock-epay serve`, `inline` for an app "
                                           "made in-process: the pytest plugin, `create_app`)")
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
