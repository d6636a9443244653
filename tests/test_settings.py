"""Settings: config file merchants and saved cards, env vars, CLI precedence, precise config errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mock_epay.settings import ConfigError, build_settings, load_config_file
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
