"""The plain-HTTP listener of a TLS router: every request is answered 308 to its https URL.

308 (not 301) keeps the method and body, so a POST sent to http:// is repeated as a POST.
"""

from __future__ import annotations

import re

from v11ops.router.control_http import ControlRequest, ControlResponse, Handler

# A host name, an IPv4 address or a bracketed IPv6 address, with an optional port. Anything else
# in a Host header is refused rather than echoed into a Location header.
_HOST = re.compile(r"^(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::[0-9]{1,5})?$")


def https_redirect_handler(https_port: int) -> Handler:
    """Answer every request with 308 to the same host and target on `https_port`."""
    port = "" if https_port == 443 else f":{https_port}"

    async def handle(request: ControlRequest) -> ControlResponse:
        match = _HOST.match(request.headers.get("host", ""))
        if match is None:
            return ControlResponse.error(400, "a valid Host header is needed to redirect to https")
        target = request.target if request.target.startswith("/") else "/"
        location = f"https://{match['name']}{port}{target}"
        body = f"use {location}\n".encode()
        return ControlResponse(308, body, "text/plain", {"location": location})

    return handle
