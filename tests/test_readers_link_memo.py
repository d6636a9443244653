"""parse_url / parse_back_link remember links they accepted: the same answers, a bounded memory."""

from __future__ import annotations

import pytest

from mock_epay.gateway.errors import EpayError
from mock_epay.web import readers


def test_an_accepted_link_is_accepted_again_and_a_refused_one_refused_again() -> None:
    for _ in range(2):
        assert readers.parse_url("http://shop.kz/cb", "postLink") == "http://shop.kz/cb"
        assert readers.parse_back_link("myapp://done", "backLink") == "myapp://done"
        assert readers.parse_url(" http://shop.kz/cb ", "postLink") == "http://shop.kz/cb"
        with pytest.raises(EpayError, match="must be an http or https URL"):
            readers.parse_url("ftp://shop.kz/cb", "postLink")
        with pytest.raises(EpayError, match="javascript"):
            readers.parse_back_link("javascript:alert(1)", "backLink")


def test_a_link_accepted_as_one_kind_is_still_checked_as_the_other() -> None:
    assert readers.parse_back_link("myapp://return", "backLink") == "myapp://return"
    with pytest.raises(EpayError, match="must be an http or https URL"):
        readers.parse_url("myapp://return", "postLink")


def test_the_memory_is_bounded() -> None:
    for number in range(readers._ACCEPTED_LINKS_KEPT * 3):
        readers.parse_url(f"http://shop.kz/cb/{number}", "postLink")
    assert len(readers._ACCEPTED_LINKS) <= readers._ACCEPTED_LINKS_KEPT
