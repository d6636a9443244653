"""The OpenAPI description of the mock's own `/_mock/` paths (admin, callbacks, state, scenarios, pages)."""

from __future__ import annotations

from typing import Any

from mock_epay import __version__
from mock_epay.wire.openapi_parts import (
    ADMIN,
    ANY,
    DELIVERY_KINDS,
    DELIVERY_STATUSES,
    FORM,
    MAX_WAIT_SECONDS,
    NUM,
    PUBLIC,
    STR,
    TX_ID,
    error,
    html,
    json_content,
    obj,
    operation,
    param,
    ref,
    response,
)

# -- the mock's own endpoints ------------------------------------------------------------------


def admin_operations() -> list[tuple[str, str, dict[str, Any]]]:
    bad = error(
        "Bad query or body", {"code": -1, "message": "query parameter 'status': unknown status 'PAID'"}
    )
    delivery_id = param("delivery_id", "path", STR, "a delivery id from the log", "dlv-1")
    tx_path = param("transaction_id", "path", STR, "the transaction UUID", TX_ID)
    selector = [
        param("invoiceId", "query", STR, required=False, example="000000001"),
        param("transactionId", "query", STR, required=False),
        param("clientId", "query", STR, required=False),
    ]
    limit = param(
        "limit",
        "query",
        {"type": "string", "pattern": r"^\d+$"},
        "at most this many, newest first",
        required=False,
    )
    deliveries = ref("Deliveries")
    reset_body = {"required": False, "content": json_content(obj({"client_id": STR}, required=()))}
    clock_body = {"required": False, "content": json_content(obj({"seconds": NUM}, required=()))}
    forge = obj(
        {
            "url": STR,
            "body": ANY,
            "invoiceId": STR,
            "transactionId": STR,
            "clientId": STR,
            "overrides": {"type": "object"},
            "omit": {"type": "array", "items": STR},
        },
        required=(),
    )
    rule_example = {
        "match": {"invoiceId": "000000465"},
        "outcome": {"result": "decline", "reasonCode": 465},
        "times": 1,
    }
    return [
        (
            "/_mock/health",
            "get",
            operation(
                "health",
                "Liveness check (never needs the admin token)",
                ["admin"],
                {
                    "200": response(
                        "Up",
                        ref("Health"),
                        {"status": "ok", "version": __version__},
                    )
                },
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/requests",
            "get",
            operation(
                "requestJournal",
                "The last requests to the bank's endpoints with their answers (card numbers masked)",
                ["admin"],
                {
                    "200": response(
                        "Newest first", ref("Journal")
                    )
                },
                parameters=[
                    param("limit", "query", STR, "how many (default 100)", required=False, example="20")
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/transactions",
            "get",
            operation(
                "listTransactions",
                "Transactions, newest first, with a summary of their callbacks",
                ["admin"],
                {
                    "200": response(
                        "The list",
                        ref("Transactions"),
                    ),
                    "400": bad,
                },
                parameters=[
                    param("clientId", "query", STR, "one merchant", required=False),
                    param("invoiceId", "query", STR, "one invoice", required=False),
                    param(
                        "status",
                        "query",
                        STR,
                        "a status or a comma-separated list (AUTH,CHARGE)",
                        required=False,
                        example="CHARGE",
                    ),
                    limit,
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/transactions/{transaction_id}",
            "get",
            operation(
                "showTransaction",
                "One transaction with its history and callback deliveries",
                ["admin"],
                {
                    "200": response("The transaction", ref("Transaction")),
                    "404": error("Unknown id", {"code": 102, "message": "no transaction with id 'x'"}),
                },
                parameters=[tx_path],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/merchants",
            "get",
            operation(
                "listMerchants",
                "Configured merchants and terminals (never secrets)",
                ["admin"],
                {
                    "200": response(
                        "The merchants", ref("Merchants")
                    )
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries",
            "get",
            operation(
                "listDeliveries",
                "The callback delivery log, newest first",
                ["callbacks"],
                {"200": response("Deliveries", deliveries), "400": bad},
                parameters=[
                    *selector,
                    param("status", "query", {"enum": DELIVERY_STATUSES}, required=False),
                    param("kind", "query", {"enum": DELIVERY_KINDS}, required=False),
                    param("limit", "query", {"type": "number", "minimum": 0}, required=False),
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries/{delivery_id}",
            "get",
            operation(
                "showDelivery",
                "One delivery with every attempt",
                ["callbacks"],
                {"200": response("The delivery", ref("Delivery")), "404": error("Unknown id")},
                parameters=[delivery_id],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/deliveries/{delivery_id}/replay",
            "post",
            operation(
                "replayDelivery",
                "Send a delivery's body to its URL again (a new delivery)",
                ["callbacks"],
                {
                    "202": response("Queued", ref("Delivery")),
                    "400": error("The delivery has no URL"),
                    "404": error("Unknown id"),
                },
                parameters=[delivery_id],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/callbacks/forge",
            "post",
            operation(
                "forgeCallback",
                "Send any callback body to any allowed URL",
                ["callbacks"],
                {"202": response("Queued", ref("Delivery")), "400": bad, "404": error("Unknown transaction")},
                body={
                    "required": True,
                    "content": json_content(
                        forge,
                        {
                            "url": "http://127.0.0.1:9/epay/callback",
                            "body": {"invoiceId": "000000001", "code": "ok"},
                        },
                    ),
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/callbacks/wait",
            "get",
            operation(
                "waitForCallback",
                "Wait until the callbacks of an invoice / transaction are final",
                ["callbacks"],
                {
                    "200": response("The latest matching delivery", ref("Delivery")),
                    "400": bad,
                    "408": error("Nothing final within the timeout"),
                },
                parameters=[
                    *selector,
                    param("deliveryId", "query", STR, required=False),
                    param(
                        "timeout",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                        f"seconds, default 5, at most {MAX_WAIT_SECONDS}",
                        required=False,
                        example=1,
                    ),
                ],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/clock/advance",
            "post",
            operation(
                "advanceClock",
                "Move the mock's clock forward (token expiry, auto-cancel, retries)",
                ["state"],
                {
                    "200": response("The clock's total offset", ref("ClockOffset"), {"offset": 3600}),
                    "400": bad,
                },
                parameters=[
                    param(
                        "seconds",
                        "query",
                        {"type": "number", "minimum": 0, "maximum": 315360000},
                        required=False,
                        example=3600,
                    )
                ],
                body=clock_body,
                security=ADMIN,
            ),
        ),
        (
            "/_mock/reset",
            "post",
            operation(
                "resetState",
                "Forget tokens, transactions, cards and callbacks (all, or one merchant's)",
                ["state"],
                {
                    "200": response(
                        "Reset",
                        ref("ResetDone"),
                        {"status": "reset", "client_id": None},
                    ),
                    "400": bad,
                },
                parameters=[param("client_id", "query", STR, "only this merchant", required=False)],
                body=reset_body,
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios",
            "get",
            operation(
                "listScenarios",
                "Loaded scenario rules and one-off overrides",
                ["scenarios"],
                {
                    "200": response(
                        "Rules",
                        ref("Scenarios"),
                    )
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios",
            "post",
            operation(
                "addScenarioOverride",
                "Put one rule above every file for the next `times` matching requests",
                ["scenarios"],
                {"201": response("Added", ref("OverrideAdded")), "400": bad},
                body={"required": True,
                      "content": json_content(ref("ScenarioOverrideRequest"), rule_example)},
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios/overrides",
            "delete",
            operation(
                "clearScenarioOverrides",
                "Forget every one-off rule",
                ["scenarios"],
                {"200": response("How many were dropped", ref("OverridesCleared"))},
                security=ADMIN,
            ),
        ),
        (
            "/_mock/scenarios/reload",
            "post",
            operation(
                "reloadScenarios",
                "Re-read the scenario files (a bad file keeps the old rules)",
                ["scenarios"],
                {
                    "200": response("Reloaded", ref("ScenariosReloaded")),
                    "400": bad,
                },
                security=ADMIN,
            ),
        ),
        (
            "/_mock/acs",
            "get",
            operation(
                "mockAcs",
                "The mock issuer's 3-D Secure page (the `action` of `secure3D`)",
                ["3-D Secure"],
                {"200": html("The page"), "400": html("MD / TermUrl missing")},
                parameters=[
                    param("MD", "query", STR, required=False),
                    param("PaReq", "query", STR, required=False),
                    param("TermUrl", "query", STR, required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/acs",
            "post",
            operation(
                "mockAcsForm",
                "The mock ACS page, opened by a form post",
                ["3-D Secure"],
                {"200": html("The page"), "400": html("MD / TermUrl missing")},
                body={
                    "required": False,
                    "content": {
                        FORM: {"schema": obj({"MD": STR, "PaReq": STR, "TermUrl": STR}, required=())}
                    },
                },
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/acs/result",
            "get",
            operation(
                "mockAcsResult",
                "Where a cards/auth 3-D Secure step ends without a backLink",
                ["3-D Secure"],
                {"200": html("Success or failure page")},
                parameters=[
                    param("reference", "query", STR, required=False),
                    param("errorCode", "query", STR, required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/ui/",
            "get",
            operation(
                "dashboard",
                "The dashboard (open with ?token= when the admin token is on)",
                ["admin"],
                {"200": html("The page")},
                parameters=[param("token", "query", STR, "the admin token", required=False)],
                security=ADMIN,
            ),
        ),
        (
            "/_mock/static/{name}",
            "get",
            operation(
                "dashboardStatic",
                "The dashboard's CSS and JS",
                ["admin"],
                {
                    "200": {
                        "description": "The file",
                        "content": {"text/css": {"schema": STR}, "application/javascript": {"schema": STR}},
                    },
                    "404": error("No such file"),
                },
                parameters=[param("name", "path", STR, example="dashboard.css")],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/demo",
            "get",
            operation(
                "demoShop",
                "A demo shop that pays the public test merchant through the widget",
                ["admin"],
                {"200": html("The demo shop"), "404": error("The server has no public test merchant")},
                parameters=[
                    param("amount", "query", STR, "pre-filled amount", required=False),
                    param("result", "query", STR, "success or failure (the widget's backLinks)",
                          required=False),
                    param("invoiceId", "query", STR, "invoice to show the status of", required=False),
                ],
                security=PUBLIC,
            ),
        ),
        (
            "/_mock/openapi.json",
            "get",
            operation(
                "openapi",
                "This document",
                ["admin"],
                {"200": response("OpenAPI 3.1", {"type": "object"})},
                security=ADMIN,
            ),
        ),
    ]
