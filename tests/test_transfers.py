"""P2P, AFT and OCT transfers over real HTTP: the SDK's body, the `...ID` answer, the P2P status,
declines by test card and scenario, callbacks to a real merchant server, and isolation between merchants."""

from __future__ import annotations

from typing import Any

import pytest

from mock_epay.gateway.models import Merchant, Terminal, evolve
from mock_epay.settings import DEFAULT_MERCHANT, TEST_P2P_TERMINAL_ID, TEST_TERMINAL_ID, Settings
from tests.conftest import get_service_token, get_token
from tests.test_callbacks import FakeMerchant

VISA, MASTERCARD, LOCKED = "4405639704015096", "5522042705066736", "4003032704547597"
SAVED_VISA = "e7e2587f-de26-4f41-ae1f-80c1fea31728"
TRANSFER_SCOPE = "webapi payment transfer"
OTHER_TERMINAL = "aaaaaaaa-0000-4000-8000-000000000009"
OTHER = Merchant("other-shop", "other-secret-123", "Other shop", (Terminal(OTHER_TERMINAL, "90000009"),))


@pytest.fixture
def settings() -> Settings:
    return Settings(
        seed=1234,
        log_requests=False,
        merchants=(DEFAULT_MERCHANT, OTHER),
        callback_allowed_hosts=("127.0.0.1",),
        callback_max_attempts=1,
    )


@pytest.fixture
async def merchant() -> Any:
    shop = FakeMerchant()
    await shop.start()
    yield shop
    await shop.stop()


def sender(pan: str = VISA, **extra: Any) -> dict[str, Any]:
    return {
        "save": False,
        "cardCred": pan,
        "cvc": "321",
        "expire": {"month": "01", "year": "27"},
        "name": "IVAN IVANOV",
        "transferType": "TYPEPAN",
        **extra,
    }


def receiver(pan: str = MASTERCARD, **extra: Any) -> dict[str, Any]:
    return {"save": False, "cardCred": pan, "transferType": "TYPEPAN", **extra}


def body(
    order_id: str = "12345678937780", *, cards: dict[str, Any] | None = None, **order: Any
) -> dict[str, Any]:
    return {
        "order": {
            "amount": 200,
            "currency": "KZT",
            "description": "TEST p2p",
            "id": order_id,
            "senderEmail": "sender@example.com",
            "foreign": False,
            "terminalId": TEST_P2P_TERMINAL_ID,
            **order,
        },
        "card": cards if cards is not None else {"sender": sender(), "receiver": receiver()},
    }


async def transfer_token(client: Any, **overrides: Any) -> str:
    return await get_service_token(client, scope=TRANSFER_SCOPE, **overrides)


async def send(
    client: Any, path: str, payload: dict[str, Any], token: str | None = None, **headers: str
) -> Any:
    token = token or await transfer_token(client)
    return await client.post(path, json=payload, headers={"Authorization": f"Bearer {token}", **headers})


async def status(client: Any, order_id: str, token: str | None = None) -> dict[str, Any]:
    token = token or await transfer_token(client)
    response = await client.get(
        f"/check-status/p2p/transaction/{order_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200
    return await response.json()


# -- the stories of the issue -----------------------------------------------------------------------


async def test_a_p2p_transfer_with_test_cards_succeeds_and_shows_in_p2p_status(client, merchant):
    payload = body(postLink=merchant.url("/p2p/ok"), failurePostLink=merchant.url("/p2p/fail"))
    response = await send(client, "/p2p/transfer", payload)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert not ("code" in answer and "message" in answer)  # the SDK would read that as a failure
    assert answer["orderID"] == "12345678937780" and answer["terminalID"] == TEST_P2P_TERMINAL_ID
    assert answer["accountID"] == "" and answer["amount"] == 200 and answer["fee"] == 0
    assert (answer["senderCardPAN"], answer["senderCardType"], answer["senderTransferType"]) == (
        "440563...5096",
        "VISA",
        "TYPEPAN",
    )
    assert (answer["receiverCardPAN"], answer["receiverCardType"]) == ("552204...6736", "MasterCard")
    assert VISA not in await response.text() and MASTERCARD not in await response.text()

    found = await status(client, "12345678937780")
    assert found["result"] == {"code": "100", "message": "SUCCESS"}
    p2p = found["transaction"]["p2p"]
    assert p2p["id"] == answer["id"] and p2p["invoiceID"] == "12345678937780"
    assert (p2p["statusName"], p2p["reasonCode"], p2p["transferType"]) == ("CHARGE", "0", "P2P")
    assert (p2p["senderCardMask"], p2p["receiverCardMask"], p2p["terminal"]) == (
        "440563...5096",
        "552204...6736",
        "98151552",
    )

    (callback,) = await merchant.wait_for_requests(1)
    sent = callback.json()
    assert callback.path == "/p2p/ok"
    assert (sent["invoiceId"], sent["code"], sent["cardMask"]) == ("12345678937780", "ok", "440563...5096")
    assert VISA not in callback.raw.decode()


async def test_an_oct_payout_to_a_card_succeeds_and_shows_in_p2p_status(client, merchant):
    payload = body("000000777", cards={"receiver": receiver()}, postLink=merchant.url())
    response = await send(client, "/chpayment/transfer", payload)
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["senderCardPAN"] == "" and answer["receiverCardPAN"] == "552204...6736"
    p2p = (await status(client, "000000777"))["transaction"]["p2p"]
    assert (p2p["statusName"], p2p["transferType"], p2p["cardType"]) == ("CHARGE", "OCT", "MasterCard")
    (callback,) = await merchant.wait_for_requests(1)
    assert callback.json()["cardMask"] == "552204...6736"  # a payout's callback names the receiver's card


async def test_a_lock_card_declines_with_its_code_and_the_failure_callback_is_sent(client, merchant):
    payload = body(
        "000000465",
        cards={"sender": sender(LOCKED), "receiver": receiver()},
        postLink=merchant.url("/ok"),
        failurePostLink=merchant.url("/fail"),
    )
    response = await send(client, "/p2p/transfer", payload)
    assert response.status == 400
    assert await response.json() == {"code": 465, "message": "Card is blocked"}
    p2p = (await status(client, "000000465"))["transaction"]["p2p"]
    assert (p2p["statusName"], p2p["reasonCode"]) == ("REJECT", "465")
    (callback,) = await merchant.wait_for_requests(1)
    assert callback.path == "/fail" and callback.json()["reasonCode"] == 465


async def test_a_payout_to_a_lock_card_and_a_p2p_to_a_lock_receiver_decline_with_465(client):
    payout = await send(
        client, "/chpayment/transfer", body("000000466", cards={"receiver": receiver(LOCKED)})
    )
    assert (payout.status, (await payout.json())["code"]) == (400, 465)
    p2p = await send(
        client, "/p2p/transfer", body("000000467", cards={"sender": sender(), "receiver": receiver(LOCKED)})
    )
    assert (p2p.status, (await p2p.json())["code"]) == (400, 465)


async def test_an_aft_debits_a_saved_card_named_by_its_id(client):
    cards = {"sender": {"cardCred": SAVED_VISA, "transferType": "TYPECARDID"}}
    response = await send(client, "/api/chdebit/transfer", body("000000888", cards=cards))
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert (answer["senderCardID"], answer["senderCardPAN"], answer["senderTransferType"]) == (
        SAVED_VISA,
        "440563...5096",
        "TYPECARDID",
    )
    assert answer["receiverTransferType"] == ""


async def test_a_payout_by_phone_and_iin_succeeds(client):
    cards = {"receiver": {"transferType": "TYPEPHONE", "phone": "77001234567", "iin": "900101300123"}}
    response = await send(client, "/chpayment/transfer", body("000000999", cards=cards))
    assert response.status == 200, await response.text()
    answer = await response.json()
    assert answer["receiverTransferType"] == "TYPEPHONE" and "77001234567" not in answer["receiverCardPAN"]


async def test_a_sender_card_saved_on_request_gets_an_id(client):
    response = await send(
        client,
        "/p2p/transfer",
        body("000001000", cards={"sender": sender(save=True), "receiver": receiver()}),
    )
    answer = await response.json()
    assert answer["senderCardID"] and answer["receiverCardID"] == ""


async def test_the_fee_is_the_configured_percent_of_the_amount(make_client):
    client = await make_client(Settings(seed=1, log_requests=False, transfer_fee_percent=1.5))
    answer = await (await send(client, "/p2p/transfer", body())).json()
    assert answer["fee"] == 3
    assert (await status(client, "12345678937780"))["transaction"]["p2p"]["fee"] == 3


# -- refusals -----------------------------------------------------------------------------------------


async def test_a_token_without_the_transfer_scope_is_refused_with_401(client):
    token = await get_service_token(client)  # scope "webapi ... payment": no transfer
    response = await send(client, "/p2p/transfer", body(), token=token)
    assert response.status == 401
    assert (await response.json())["message"].startswith("insufficient scope")


async def test_a_token_bound_to_another_order_is_refused(client):
    token = await get_token(
        client, scope=TRANSFER_SCOPE, invoiceID="000000001", amount="200", terminal=TEST_P2P_TERMINAL_ID
    )
    refused = await send(client, "/p2p/transfer", body("000000002"), token=token)
    assert refused.status == 400 and "order.id" in (await refused.json())["message"]
    accepted = await send(client, "/p2p/transfer", body("000000001"), token=token)
    assert accepted.status == 200


@pytest.mark.parametrize(
    ("path", "cards", "complaint"),
    [
        ("/p2p/transfer", {"sender": sender("4405639704015097"), "receiver": receiver()}, "Luhn"),
        ("/p2p/transfer", {"sender": sender()}, "card.receiver"),
        ("/chdebit/transfer", {"receiver": receiver()}, "card.sender"),
        ("/p2p/transfer", {"sender": sender(cvc="12"), "receiver": receiver()}, "cvc"),
        (
            "/p2p/transfer",
            {"sender": sender(expire={"month": "13", "year": "27"}), "receiver": receiver()},
            "month",
        ),
        (
            "/chpayment/transfer",
            {"receiver": {"transferType": "TYPEPHONE", "phone": "77001234567", "iin": "123"}},
            "iin",
        ),
        (
            "/p2p/transfer",
            {
                "sender": sender(),
                "receiver": {"transferType": "TYPEPHONE", "phone": "77001234567", "iin": "900101300123"},
            },
            "TYPEPHONE",
        ),
        (
            "/chdebit/transfer",
            {"sender": {"cardCred": "no-such-card", "transferType": "TYPECARDID"}},
            "not found",
        ),
        (
            "/p2p/transfer",
            {"sender": sender(transferType="TYPEIBAN"), "receiver": receiver()},
            "transferType",
        ),
    ],
)
async def test_a_malformed_card_part_gets_a_clear_400_and_records_nothing(client, path, cards, complaint):
    response = await send(client, path, body("000002000", cards=cards))
    assert response.status == 400
    answer = await response.json()
    assert set(answer) == {"code", "message"} and complaint in answer["message"]
    assert (await status(client, "000002000"))["result"]["code"] == "102"


async def test_a_second_successful_transfer_for_one_order_is_a_duplicate(client):
    assert (await send(client, "/p2p/transfer", body())).status == 200
    again = await send(client, "/p2p/transfer", body())
    assert again.status == 400 and (await again.json())["code"] == -1


async def test_an_unknown_terminal_is_refused(client):
    response = await send(client, "/p2p/transfer", body(terminalId=OTHER_TERMINAL))
    assert response.status == 400 and "terminal" in (await response.json())["message"]


# -- scenarios, isolation, admin ----------------------------------------------------------------------


async def test_a_scenario_rule_can_target_p2p_without_touching_payouts(client):
    added = await client.post(
        "/_mock/scenarios",
        json={"match": {"source": "p2p"}, "outcome": {"result": "decline", "reasonCode": 476}, "times": 5},
    )
    assert added.status == 201, await added.text()
    payout = await send(client, "/chpayment/transfer", body("000003001", cards={"receiver": receiver()}))
    assert payout.status == 200
    p2p = await send(client, "/p2p/transfer", body("000003002"))
    assert (p2p.status, (await p2p.json())["code"]) == (400, 476)
    assert p2p.headers["X-Mock-Rule"].startswith("override-")


async def test_another_merchant_never_sees_a_transfer(client):
    assert (await send(client, "/p2p/transfer", body())).status == 200
    other = await get_service_token(
        client, client_id=OTHER.client_id, client_secret=OTHER.client_secret, scope=TRANSFER_SCOPE
    )
    assert (await status(client, "12345678937780", token=other))["result"]["code"] == "102"
    theirs = await client.get(f"/_mock/transfers?client_id={OTHER.client_id}")
    assert (await theirs.json())["transfers"] == []
    ours = (await (await client.get("/_mock/transfers")).json())["transfers"]
    assert [(t["clientId"], t["kind"], t["senderCardMask"]) for t in ours] == [
        ("test", "p2p", "440563...5096")
    ]


async def test_a_payment_status_never_shows_a_transfer_of_the_same_number(client):
    assert (await send(client, "/p2p/transfer", body("000000001"))).status == 200
    token = await get_service_token(client)
    response = await client.get(
        "/check-status/payment/transaction/000000001", headers={"Authorization": f"Bearer {token}"}
    )
    assert (await response.json())["resultCode"] == "102"


async def test_the_documented_test_terminals_issue_transfer_tokens(client):
    for terminal in (
        TEST_P2P_TERMINAL_ID,
        "40a348cb-68a3-45d5-9002-a4836d79c3b5",
        "3ad0f5bd-88a8-464c-a9a4-cdb16d1dd31",
        TEST_TERMINAL_ID,
    ):
        token = await get_token(
            client, scope="transfer", terminal=terminal, invoiceID="000004000", amount="200"
        )
        assert token
    assert evolve(DEFAULT_MERCHANT).terminal("3ad0f5bd-88a8-464c-a9a4-cdb16d1dd31") is not None


@pytest.mark.parametrize(("change", "message"), [
    (lambda b: b.update(order="x"), "field 'order' must be an object"),
    (lambda b: b["order"].update(amount=[200]), "field 'order.amount' must be a number"),
    (lambda b: b["order"].pop("id"), "field 'order.id' is required"),
    (lambda b: b["card"]["sender"].update(expire={"month": 1, "year": "27"}),
     "field 'card.sender.expire.month' must be two digits 01-12"),
    (lambda b: b["card"]["sender"].update(expire={"month": "01"}),
     "field 'card.sender.expire.year' must be two digits (YY)"),
    (lambda b: b["card"]["receiver"].update(save=[True]),
     "field 'card.receiver.save' must be a boolean (true or false)"),
    (lambda b: b["card"]["sender"].update(cardCred={"pan": VISA}),
     "field 'card.sender.cardCred' must be a string"),
])
async def test_a_transfer_body_is_decoded_through_its_declaration_and_a_wrong_type_named(
    client, change, message
):
    payload = body(cards={"sender": sender(), "receiver": receiver()})
    change(payload)
    answer = await send(client, "/p2p/transfer", payload)
    assert answer.status == 400 and await answer.json() == {"code": -1, "message": message}
    listed = await (await client.get("/_mock/transfers")).json()
    assert listed["transfers"] == []  # nothing recorded


async def test_nulls_are_absent_fields_and_terminal_is_read_as_terminal_id(client):
    payload = body(cards={"sender": sender(name=None), "receiver": receiver()}, senderEmail=None)
    payload["order"]["terminal"] = payload["order"].pop("terminalId")
    answer = await send(client, "/p2p/transfer", payload)
    assert answer.status == 200, await answer.text()
