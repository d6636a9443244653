"""Settings: config file merchants and saved cards, env vars, CLI precedence, precise config errors."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from mock_epay.app import create_app
from mock_epay.cli import main
from mock_epay.core.clock import Clock
from mock_epay.core.fakedata import FakeData
from mock_epay.gateway.models import Merchant, SeedCard, Terminal
from mock_epay.settings import (
    CONFIG_SCHEMA,
    TEST_CLIENT_SECRET,
    TEST_TERMINAL_ID,
    TEST_TERMINAL_NUMBER,
    TEST_TRANSFER_TERMINALS,
    ConfigError,
    Settings,
    build_settings,
    load_config_file,
)
from mock_epay.store.memory import Store
from tests.conftest import get_token
from tests.test_cards_auth import pay, payment_body

GOOD_CONFIG = """
port: 9001
merchants:
  - client_id: shop
    client_secret: s3cret
    name: My shop
    terminals:
      - id: 11111111-2222-3333-4444-555555555555
        two_stage: true
    saved_cards:
      - account_id: user-42
        card_number: "4405639704015096"
        id: 00000000-aaaa-bbbb-cccc-000000000042
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mock-epay.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_config_file_defines_merchants_and_keeps_the_test_merchant(tmp_path):
    settings = build_settings({"config_file": write(tmp_path, GOOD_CONFIG)}, {})
    assert settings.port == 9001
    assert [m.client_id for m in settings.merchants] == ["test", "shop"]
    shop = settings.merchants[1]
    assert shop.terminals[0].two_stage is True
    assert shop.saved_cards[0].card_number == "4405639704015096"


def test_precedence_cli_over_env_over_file(tmp_path):
    path = write(tmp_path, GOOD_CONFIG)
    env = {"MOCK_EPAY_PORT": "9002", "MOCK_EPAY_HOST": "0.0.0.0", "MOCK_EPAY_CONFIG": str(path)}
    assert build_settings({}, env).port == 9002
    assert build_settings({"port": 9003}, env).port == 9003
    assert build_settings({}, env).host == "0.0.0.0"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("port: eighty", "key 'port'"),
        ("merchants:\n  - client_id: a\n    client_secret: b\n", "terminals"),
        ("merchants:\n  - client_id: a\n    client_secret: b\n    terminals: []\n",
         "key 'merchants[0].terminals'"),
        ("unknown_key: 1", "unknown_key"),
        ("merchants:\n  - client_id: a\n    client_secret: b\n    terminals:\n"
         "      - id: t1\n        two_stage: yes-please\n", "two_stage"),
        ("port: [1", "not valid YAML"),
        ("merchants:\n  - {client_id: a, client_secret: b, terminals: [{id: t}]}\n"
         "  - {client_id: a, client_secret: c, terminals: [{id: u}]}\n", "defined twice"),
    ],
)
def test_malformed_config_names_file_key_and_problem(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "absent.yaml")


def test_bad_env_value():
    with pytest.raises(ConfigError, match="MOCK_EPAY_PORT"):
        build_settings({}, {"MOCK_EPAY_PORT": "http"})


async def test_configured_merchant_pays_with_its_seeded_card(tmp_path, make_client):
    settings = build_settings({"config_file": write(tmp_path, GOOD_CONFIG)}, {})
    client = await make_client(settings.with_overrides(log_requests=False))
    token = await get_token(client, client_id="shop", client_secret="s3cret",
                            terminal="11111111-2222-3333-4444-555555555555")
    response = await pay(client, token, payment_body(
        terminalId="11111111-2222-3333-4444-555555555555", accountId="user-42",
        cardId={"id": "00000000-aaaa-bbbb-cccc-000000000042"}))
    assert response.status == 200
    assert (await response.json())["status"] == "AUTH"


async def test_seed_makes_generated_data_reproducible(make_client):
    from mock_epay.settings import Settings

    answers = []
    for _ in range(2):
        client = await make_client(Settings(seed=7, log_requests=False))
        token = await get_token(client)
        answers.append((token, await (await pay(client, token, payment_body())).json()))
    assert answers[0][0] == answers[1][0]
    assert answers[0][1]["reference"] == answers[1][1]["reference"]
    assert answers[0][1]["id"] == answers[1][1]["id"]


async def test_seeded_cards_without_a_name_get_a_generated_cardholder(tmp_path, make_client):
    names = []
    for _ in range(2):
        settings = build_settings({"config_file": write(tmp_path, GOOD_CONFIG)}, {})
        client = await make_client(settings.with_overrides(log_requests=False, seed=5))
        token = (await (await client.post("/oauth2/token", data={
            "grant_type": "client_credentials", "scope": "webapi", "client_id": "shop",
            "client_secret": "s3cret"})).json())["access_token"]
        cards = await (await client.get("/cards/user-42",
                                        headers={"Authorization": f"Bearer {token}"})).json()
        names.append(cards[0]["PayerName"])
    assert names[0] == names[1]  # reproducible with --seed
    assert names[0] and names[0] == names[0].upper() and " " in names[0]


# -- adding to the built-in test merchant ---------------------------------------------------------

EXTEND_TEST_MERCHANT = """
merchants:
  - client_id: test
    terminals:
      - id: 22222222-3333-4444-5555-666666666666
        two_stage: true
    saved_cards:
      - account_id: user-7
        card_number: "5522042705066736"
        id: 00000000-aaaa-bbbb-cccc-000000000007
"""
TWO_STAGE_TERMINAL = "22222222-3333-4444-5555-666666666666"
BUILT_IN_CARDS = {"e7e2587f-de26-4f41-ae1f-80c1fea31728", "22f2c5db-64d8-475f-8066-af3de3dc8233",
                  "16aae4f4-6d24-4a17-b1c6-c09ce7659efb"}


async def service_token(client, client_id: str = "test", secret: str = TEST_CLIENT_SECRET) -> str:
    response = await client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "scope": "webapi", "client_id": client_id,
        "client_secret": secret})
    assert response.status == 200, await response.text()
    return (await response.json())["access_token"]


async def card_ids(client, account_id: str, token: str) -> set[str]:
    response = await client.get(f"/cards/{account_id}", headers={"Authorization": f"Bearer {token}"})
    body = await response.json()
    return {card["ID"] for card in body} if isinstance(body, list) else set()


async def test_a_config_adds_a_terminal_and_a_card_to_the_test_merchant_and_keeps_its_cards(
        tmp_path, make_client):
    settings = build_settings({"config_file": write(tmp_path, EXTEND_TEST_MERCHANT)}, {})
    assert [m.client_id for m in settings.merchants] == ["test"]
    client = await make_client(settings.with_overrides(log_requests=False))
    token = await service_token(client)
    assert await card_ids(client, "testuser1", token) == BUILT_IN_CARDS
    assert await card_ids(client, "user-7", token) == {"00000000-aaaa-bbbb-cccc-000000000007"}
    one_stage = await pay(client, await get_token(client), payment_body())
    assert (await one_stage.json())["status"] == "CHARGE"
    token = await get_token(client, invoiceID="000000002", terminal=TWO_STAGE_TERMINAL)
    two_stage = await pay(client, token, payment_body(
        invoiceId="000000002", terminalId=TWO_STAGE_TERMINAL, accountId="user-7",
        cardId={"id": "00000000-aaaa-bbbb-cccc-000000000007"}))
    assert two_stage.status == 200, await two_stage.text()
    assert (await two_stage.json())["status"] == "AUTH"


def test_redeclaring_the_default_terminal_by_id_changes_it_and_keeps_its_number(tmp_path):
    text = f"merchants:\n  - client_id: test\n    name: Renamed\n    terminals:\n" \
           f"      - id: {TEST_TERMINAL_ID}\n        two_stage: true\n"
    (test,) = build_settings({"config_file": write(tmp_path, text)}, {}).merchants
    assert test.name == "Renamed" and test.client_secret == TEST_CLIENT_SECRET
    assert test.terminals == (Terminal(TEST_TERMINAL_ID, TEST_TERMINAL_NUMBER, two_stage=True),
                              *TEST_TRANSFER_TERMINALS)
    assert {c.id for c in test.saved_cards} == BUILT_IN_CARDS


def test_the_test_merchant_comes_first_whatever_the_order_in_the_file(tmp_path):
    text = GOOD_CONFIG + "  - client_id: test\n    terminals:\n      - id: t-extra\n"
    merchants = build_settings({"config_file": write(tmp_path, text)}, {}).merchants
    assert [m.client_id for m in merchants] == ["test", "shop"]
    transfer_ids = [t.id for t in TEST_TRANSFER_TERMINALS]
    assert [t.id for t in merchants[0].terminals] == [TEST_TERMINAL_ID, *transfer_ids, "t-extra"]


def test_without_the_built_in_merchant_test_is_declared_from_scratch(tmp_path):
    path = write(tmp_path, "include_test_merchant: false\nmerchants:\n  - client_id: test\n")
    with pytest.raises(ConfigError, match=r"key 'merchants\[0\]'.*needs client_secret and terminals"):
        load_config_file(path)
    path = write(tmp_path, "include_test_merchant: false\nmerchants:\n"
                           "  - {client_id: test, client_secret: x, terminals: [{id: t1}]}\n")
    (test,) = build_settings({"config_file": path}, {}).merchants
    assert test.saved_cards == () and [t.id for t in test.terminals] == ["t1"]


def test_the_readme_config_example_loads(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    example = readme.split("# mock-epay.yaml\n", 1)[1].split("```", 1)[0]
    settings = build_settings({"config_file": write(tmp_path, example)}, {})
    test, shop = settings.merchants
    assert len(test.saved_cards) == 4 and len(test.terminals) == 2 + len(TEST_TRANSFER_TERMINALS)
    assert shop.client_id == "my-shop"


def test_every_setting_but_the_config_file_itself_has_a_config_key():
    keys = set(CONFIG_SCHEMA["properties"])
    for spec in fields(Settings):
        key = spec.metadata["config_key"]
        assert key == "" if spec.name == "config_file" else (key or spec.name) in keys, spec.name


# -- saved-card and terminal ids belong to one merchant -------------------------------------------

SAME_CARD_TWICE = """
merchants:
  - client_id: shop-a
    client_secret: a
    terminals: [{id: ta}]
    saved_cards:
      - {account_id: u1, card_number: "4405639704015096", id: shared-card}
  - client_id: shop-b
    client_secret: b
    terminals: [{id: tb}]
    saved_cards:
      - {account_id: u1, card_number: "5522042705066736", id: shared-card}
"""


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (SAME_CARD_TWICE, "merchants[1].saved_cards[0].id", ["'shared-card'", "'shop-a'", "'shop-b'"]),
        ("merchants:\n  - client_id: shop\n    client_secret: s\n    terminals: [{id: t}]\n"
         "    saved_cards:\n      - {account_id: u, card_number: '4405639704015096',"
         " id: e7e2587f-de26-4f41-ae1f-80c1fea31728}\n",
         "merchants[0].saved_cards[0].id", ["'test'", "'shop'"]),
        ("merchants:\n  - client_id: shop\n    client_secret: s\n    terminals: [{id: t}]\n"
         "    saved_cards:\n      - {account_id: u, card_number: '4405639704015096', id: c1}\n"
         "      - {account_id: v, card_number: '4405639704015096', id: c1}\n",
         "merchants[0].saved_cards[1].id", ["declared twice", "'shop'"]),
        ("merchants:\n  - client_id: shop\n    client_secret: s\n"
         f"    terminals: [{{id: {TEST_TERMINAL_ID}}}]\n",
         "merchants[0].terminals[0].id", ["'test'", "'shop'"]),
        ("merchants:\n  - client_id: shop\n    client_secret: s\n    terminals: [{id: t}, {id: t}]\n",
         "merchants[0].terminals[1].id", ["declared twice"]),
    ],
)
def test_an_id_two_merchants_claim_is_refused_at_start(tmp_path, capsys, text, key, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: key '{key}'"), message
    for word in words:
        assert word in message
    assert main(["serve", "--config", str(path)]) == 2  # the command line refuses to start
    assert f"key '{key}'" in capsys.readouterr().err


def test_a_built_in_card_id_may_be_reused_when_the_test_merchant_is_left_out(tmp_path):
    text = "include_test_merchant: false\n" + SAME_CARD_TWICE.split("  - client_id: shop-b")[0].replace(
        "shared-card", "e7e2587f-de26-4f41-ae1f-80c1fea31728")
    (shop,) = build_settings({"config_file": write(tmp_path, text)}, {}).merchants
    assert shop.saved_cards[0].id == "e7e2587f-de26-4f41-ae1f-80c1fea31728"


def test_settings_built_in_code_with_a_shared_card_id_do_not_start():
    card = SeedCard("u1", "4405639704015096", "shared-card")
    a = Merchant("a", "a", "A", (Terminal("ta", "90000001"),), saved_cards=(card,))
    b = Merchant("b", "b", "B", (Terminal("tb", "90000002"),), saved_cards=(card,))
    with pytest.raises(ConfigError, match="'shared-card' belongs to two merchants, 'a' and 'b'"):
        create_app(Settings(merchants=(a, b), log_requests=False))


class RepeatingIds(FakeData):
    """Generates the same few ids over and over, as an unlucky seed could."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(1)
        self._ids = ids
        self._next = 0

    def uuid(self) -> str:
        self._next += 1
        return self._ids[(self._next - 1) % len(self._ids)]


def test_generated_card_ids_stay_unique_across_merchants():
    cards = tuple(SeedCard("u1", "4405639704015096") for _ in range(3))
    a = Merchant("a", "a", "A", (Terminal("ta", "90000001"),), saved_cards=cards)
    declared = SeedCard("u2", "5522042705066736", "id-2")
    b = Merchant("b", "b", "B", (Terminal("tb", "90000002"),), saved_cards=(*cards, declared))
    ids = [f"id-{n}" for n in range(10)]
    store = Store([a, b], Clock(), RepeatingIds(ids))
    a_ids = {c.id for c in store.cards_for_account("a", "u1")}
    b_ids = {c.id for c in store.cards_for_account("b", "u1")}
    assert len(a_ids) == 3 and len(b_ids) == 3 and not a_ids & b_ids
    assert "id-2" not in a_ids | b_ids  # a generated id never takes one the config declares
    assert store.card("b", "id-2").account_id == "u2"
    assert store.card("a", "id-2") is None
