"""The bank's public test merchant, always on the sandbox: credentials, terminals, saved cards, cabinet login.

The values are the bank's own (spec 1, the SDK's examples): a shop switches only its base URLs.
"""

from __future__ import annotations

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
