"""The embeddable chat widget: `/widget.js`, the one script a host page includes, and the chat page it opens
in an iframe (`/widget`, with its script and style). Every file comes from this package and the chat page's
Content-Security-Policy forbids loading anything from elsewhere; the chat talks to `/v1/chat/completions`.
"""

from importlib.resources import files

from fastapi import FastAPI
from fastapi.responses import Response

ASSETS = files("assistant.faces") / "widget"
# The chat page may be framed by any host page, and may load and call only this server.
CHAT_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def asset(name: str, **headers: str) -> Response:
    kind = name.rsplit(".", 1)[1]
    return Response((ASSETS / name).read_bytes(), media_type=TYPES[kind], headers={"Cache-Control": "no-cache", **headers})


def add_widget_routes(api: FastAPI) -> None:
    @api.get("/widget.js", include_in_schema=False)
    def widget_script() -> Response:
        # Loaded by pages of other origins: the host page's own policy decides whether it may.
        return asset("widget.js", **{"Access-Control-Allow-Origin": "*"})

    @api.get("/widget", include_in_schema=False)
    def chat_page() -> Response:
        return asset("chat.html", **{"Content-Security-Policy": CHAT_POLICY})

    @api.get("/widget/chat.js", include_in_schema=False)
    def chat_script() -> Response:
        return asset("chat.js")

    @api.get("/widget/chat.css", include_in_schema=False)
    def chat_style() -> Response:
        return asset("chat.css")
