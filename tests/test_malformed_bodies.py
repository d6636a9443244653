"""Malformed bodies that the schemathesis run found answered with a 500 are a 400 in the bank's format."""

from __future__ import annotations

import pytest

BROKEN_PART = (
    b"--b\r\nContent-Disposition: form-data; name=\"\xc3\xa1\x14\"\r\n\r\nx\r\n--b--\r\n"
)


async def test_a_multipart_part_with_a_malformed_header_is_a_400(client):
    response = await client.post("/oauth2/token", data=BROKEN_PART,
                                 headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1 and "malformed request body" in body["message"]


@pytest.mark.parametrize("path", ["/payform/pay", "/payform/3ds", "/_mock/acs"])
async def test_multipart_without_a_boundary_is_a_400_on_the_payment_pages(client, path):
    response = await client.post(path, data=b"", headers={"Content-Type": "multipart/form-data"})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == -1 and "malformed form body" in body["message"]
