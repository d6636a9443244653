"""The OpenAPI operations of the mock's own `/_mock/` paths (admin, callbacks, state, scenarios, pages).

One function per operation; each route attaches its function where it is registered
(`add_route(..., doc=lazy_doc(ADMIN_DOCS, "health"))`), so this module is imported only
when the document is first built.
"""

from __future__ import annotations

from typing import Any

from mock_epay import __version__
from mock_epay.wire.admin_requests import (
    ClockAdvanceRequest,
    ForgeRequest,
    ResetRequest,
    ScenarioOverrideRequest,
)
from mock_epay.wire.bank_requests import AcsRequest
from mock_epay.wire.openapi_parts import (
    ADMIN,
    DELIVERY_KINDS,
    DELIVERY_STATUSES,
    FORM,
    MAX_WAIT_SECONDS,
    PUBLIC,
    STR,
    TX_ID,
    error,
    html,
    operation,
    param,
    ref,
    request_body,
    response,
    static_files,
)

# -- shared pieces ---------------------------------------------------------------------------------


def _bad() -> dict[str, Any]:
    return error("Bad query or body",
                 {"code": -1, "message": "query parameter 'status': unknown status 'PAID'"})


def _delivery_id() -> dict[str, Any]:
    return param("delivery_id", "path", STR, "a delivery id from the log", "dlv-1")


def _selector() -> list[dict[str, Any]]:
    return [
        param("invoiceId", "query", STR, required=False, example="000000001"),
        param("transactionId", "query", STR, required=False),
        param("clientId", "query", STR, required=False),
    ]


# -- introspection ---------------------------------------------------------------------------------


def health() -> dict[str, Any]:
    return operation("health", "Liveness check (never needs the admin token)", ["admin"],
                     {"200": response("Up", ref("Health"), {"status": "ok", "version": __version__})},
                     security=PUBLIC)


def request_journal() -> dict[str, Any]:
    return operation(
        "requestJournal",
        "The last requests to the bank's endpoints with their answers (card numbers masked)",
        ["admin"],
        {"200": response("Newest first", ref("Journal"))},
        parameters=[param("limit", "query", STR, "how many (default 100)", required=False, example="20")],
        security=ADMIN,
    )


def list_transactions() -> dict[str, Any]:
    limit = param("limit", "query", {"type": "string", "pattern": r"^\d+$"},
                  "at most this many, newest first", required=False)
    return operation(
        "listTransactions",
        "Transactions, newest first, with a summary of their callbacks",
        ["admin"],
        {"200": response("The list", ref("Transactions")), "400": _bad()},
        parameters=[
            param("clientId", "query", STR, "one merchant", required=False),
            param("invoiceId", "query", STR, "one invoice", required=False),
            param("status", "query", STR, "a status or a comma-separated list (AUTH,CHARGE)", required=False,
                  example="CHARGE"),
            limit,
        ],
        security=ADMIN,
    )


def show_transaction() -> dict[str, Any]:
    return operation(
        "showTransaction",
        "One transaction with its history and callback deliveries",
        ["admin"],
        {
            "200": response("The transaction", ref("Transaction")),
            "404": error("Unknown id", {"code": 102, "message": "no transaction with id 'x'"}),
        },
        parameters=[param("transaction_id", "path", STR, "the transaction UUID", TX_ID)],
        security=ADMIN,
    )


def list_merchants() -> dict[str, Any]:
    return operation("listMerchants", "Configured merchants and terminals (never secrets)", ["admin"],
                     {"200": response("The merchants", ref("Merchants"))}, security=ADMIN)


# -- callbacks -------------------------------------------------------------------------------------


def list_deliveries() -> dict[str, Any]:
    return operation(
        "listDeliveries",
        "The callback delivery log, newest first",
        ["callbacks"],
        {"200": response("Deliveries", ref("Deliveries")), "400": _bad()},
        parameters=[
            *_selector(),
            param("status", "query", {"enum": DELIVERY_STATUSES}, required=False),
            param("kind", "query", {"enum": DELIVERY_KINDS}, required=False),
            param("limit", "query", {"type": "number", "minimum": 0}, required=False),
        ],
        security=ADMIN,
    )


def show_delivery() -> dict[str, Any]:
    return operation("showDelivery", "One delivery with every attempt", ["callbacks"],
                     {"200": response("The delivery", ref("Delivery")), "404": error("Unknown id")},
                     parameters=[_delivery_id()], security=ADMIN)


def replay_delivery() -> dict[str, Any]:
    return operation(
        "replayDelivery",
        "Send a delivery's body to its URL again (a new delivery)",
        ["callbacks"],
        {
            "202": response("Queued", ref("Delivery")),
            "400": error("The delivery has no URL"),
            "404": error("Unknown id"),
        },
        parameters=[_delivery_id()],
        security=ADMIN,
    )


def forge_callback() -> dict[str, Any]:
    example = {"url": "http://127.0.0.1:9/epay/callback", "body": {"invoiceId": "000000001", "code": "ok"}}
    return operation(
        "forgeCallback",
        "Send any callback body to any allowed URL",
        ["callbacks"],
        {"202": response("Queued", ref("Delivery")), "400": _bad(), "404": error("Unknown transaction")},
        body=request_body(ForgeRequest, example),
        security=ADMIN,
    )


def wait_for_callback() -> dict[str, Any]:
    timeout = param("timeout", "query", {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                    f"seconds, default 5, at most {MAX_WAIT_SECONDS}", required=False, example=1)
    return operation(
        "waitForCallback",
        "Wait until the callbacks of an invoice / transaction are final",
        ["callbacks"],
        {
            "200": response("The latest matching delivery", ref("Delivery")),
            "400": _bad(),
            "408": error("Nothing final within the timeout"),
        },
        parameters=[*_selector(), param("deliveryId", "query", STR, required=False), timeout],
        security=ADMIN,
    )


# -- state -----------------------------------------------------------------------------------------


def advance_clock() -> dict[str, Any]:
    seconds = param("seconds", "query", {"type": "number", "minimum": 0, "maximum": 315360000},
                    required=False, example=3600)
    return operation(
        "advanceClock",
        "Move the mock's clock forward (token expiry, auto-cancel, retries)",
        ["state"],
        {"200": response("The clock's total offset", ref("ClockOffset"), {"offset": 3600}), "400": _bad()},
        parameters=[seconds],
        body=request_body(ClockAdvanceRequest, required=False),
        security=ADMIN,
    )


def reset_state() -> dict[str, Any]:
    return operation(
        "resetState",
        "Forget tokens, transactions, cards and callbacks (all, or one merchant's)",
        ["state"],
        {"200": response("Reset", ref("ResetDone"), {"status": "reset", "client_id": None}), "400": _bad()},
        parameters=[param("client_id", "query", STR, "only this merchant", required=False)],
        body=request_body(ResetRequest, required=False),
        security=ADMIN,
    )


# -- scenarios -------------------------------------------------------------------------------------


def list_scenarios() -> dict[str, Any]:
    return operation("listScenarios", "Loaded scenario rules and one-off overrides", ["scenarios"],
                     {"200": response("Rules", ref("Scenarios"))}, security=ADMIN)


def add_scenario_override() -> dict[str, Any]:
    example = {"match": {"invoiceId": "000000465"}, "outcome": {"result": "decline", "reasonCode": 465},
               "times": 1}
    return operation(
        "addScenarioOverride",
        "Put one rule above every file for the next `times` matching requests",
        ["scenarios"],
        {"201": response("Added", ref("OverrideAdded")), "400": _bad()},
        body=request_body(ScenarioOverrideRequest, example),
        security=ADMIN,
    )


def clear_scenario_overrides() -> dict[str, Any]:
    return operation("clearScenarioOverrides", "Forget every one-off rule", ["scenarios"],
                     {"200": response("How many were dropped", ref("OverridesCleared"))}, security=ADMIN)


def reload_scenarios() -> dict[str, Any]:
    return operation("reloadScenarios", "Re-read the scenario files (a bad file keeps the old rules)",
                     ["scenarios"], {"200": response("Reloaded", ref("ScenariosReloaded")), "400": _bad()},
                     security=ADMIN)


# -- the mock issuer's 3-D Secure pages ------------------------------------------------------------


def mock_acs() -> dict[str, Any]:
    return operation(
        "mockAcs",
        "The mock issuer's 3-D Secure page (the `action` of `secure3D`)",
        ["3-D Secure"],
        {"200": html("The page"), "400": html("MD / TermUrl missing")},
        parameters=[param(name, "query", STR, required=False) for name in ("MD", "PaReq", "TermUrl")],
        security=PUBLIC,
    )


def mock_acs_form() -> dict[str, Any]:
    return operation(
        "mockAcsForm",
        "The mock ACS page, opened by a form post",
        ["3-D Secure"],
        {"200": html("The page"), "400": html("MD / TermUrl missing")},
        body=request_body(AcsRequest, required=False, media=(FORM,)),
        security=PUBLIC,
    )


def mock_acs_result() -> dict[str, Any]:
    return operation(
        "mockAcsResult",
        "Where a cards/auth 3-D Secure step ends without a backLink",
        ["3-D Secure"],
        {"200": html("Success or failure page")},
        parameters=[param("reference", "query", STR, required=False),
                    param("errorCode", "query", STR, required=False)],
        security=PUBLIC,
    )


# -- pages and this document -----------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    return operation("dashboard", "The dashboard (open with ?token= when the admin token is on)", ["admin"],
                     {"200": html("The page")},
                     parameters=[param("token", "query", STR, "the admin token", required=False)],
                     security=ADMIN)


def dashboard_static() -> dict[str, Any]:
    return static_files("dashboardStatic", "The dashboard's CSS and JS", "admin", "dashboard.css")


def demo_shop() -> dict[str, Any]:
    return operation(
        "demoShop",
        "A demo shop that pays the public test merchant through the widget",
        ["admin"],
        {"200": html("The demo shop"), "404": error("The server has no public test merchant")},
        parameters=[
            param("amount", "query", STR, "pre-filled amount", required=False),
            param("result", "query", STR, "success or failure (the widget's backLinks)", required=False),
            param("invoiceId", "query", STR, "invoice to show the status of", required=False),
        ],
        security=PUBLIC,
    )


def openapi() -> dict[str, Any]:
    return operation("openapi", "This document", ["admin"],
                     {"200": response("OpenAPI 3.1", {"type": "object"})}, security=ADMIN)
