"""Reading a request body that may be absent (operations and the admin state controls need none).

Empty, form or JSON: always a dict. `curl -d '{"amount": 10}'` labels JSON as a form; it is read as JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from mock_epay.web.readers import json_object, read_form_or_json, read_json_object

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_optional_body(request: web.Request) -> dict[str, Any]:
    """The body as a dict: empty when there is none (the bank requires no body)."""
    if not request.body_exists:  # not `can_read_body`: a body read ahead (web/fast_lane.py) is read already
        return {}
    if request.content_type == "multipart/form-data":
        return await read_form_or_json(request)  # reads the stream itself
    raw = await request.read()
    if not raw.strip():
        return {}
    if request.content_type in _FORM_TYPES and not raw.lstrip().startswith(b"{"):
        return await read_form_or_json(request)
    if request.content_type in _FORM_TYPES:
        return json_object(raw)
    return await read_json_object(request)
