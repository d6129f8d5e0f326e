"""The 2010-04-01 family (Twilio, and SignalWire as its flavour) as the composition root wires it.

It lives in a module of its own, not in the package's `__init__`: `dialects/signalwire` imports
modules of this package, and this object imports SignalWire's flavour.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.responses import Response
from starlette.routing import BaseRoute

from callgate.config import Settings
from callgate.core.errors import ApiError
from callgate.dialects.registration import Dialect
from callgate.dialects.signalwire import SIGNALWIRE
from callgate.dialects.twilio import openapi
from callgate.dialects.twilio.api import CompatApi
from callgate.dialects.twilio.engine_face import CompatFace
from callgate.dialects.twilio.events_api import event_routes
from callgate.dialects.twilio.face import TWILIO
from callgate.dialects.twilio.http import FastRoutes
from callgate.dialects.twilio.recordings_api import recording_routes
from callgate.engine.faces import Face

#: SignalWire's own path prefix (on /2010-04-01 the account id in the path picks the flavour)
LAML = "/api/laml"


def faces(base_url: str) -> Mapping[str, Face]:
    return {"twilio": CompatFace(TWILIO, base_url), "signalwire": CompatFace(SIGNALWIRE, base_url)}


def routes(settings: Settings) -> Sequence[BaseRoute]:
    media_auth = settings.recording_media_auth
    both = (TWILIO, SIGNALWIRE)
    return [
        # Most traffic first: Starlette tries routes in order.
        *CompatApi("", both).routes(),
        *CompatApi(LAML, (SIGNALWIRE,)).routes(),
        *recording_routes("", both, media_auth=media_auth),
        *recording_routes(LAML, (SIGNALWIRE,), media_auth=media_auth),
        *event_routes("", both),
    ]


def error_response(error: ApiError, path: str) -> Response:
    flavor = SIGNALWIRE if path.startswith(LAML + "/") else TWILIO
    return flavor.error_response(error, path)


COMPAT = Dialect(
    name="2010-04-01",
    faces=faces,
    routes=routes,
    hot=FastRoutes,
    openapi=openapi.fragment,
    error_response=error_response,
    prefixes=("/2010-04-01/", LAML + "/"),
)

__all__ = ["COMPAT"]
