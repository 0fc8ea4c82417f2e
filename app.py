"""广圆享 web app entry: one server with the Gradio app at / and the JSON API under /api (docs at /docs).

python app.py            # or: make run
"""

import logging
import os

# Offline first: Gradio must not phone home with usage analytics.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI  # noqa: E402

from assistant.errors import PolicyQAError  # noqa: E402
from assistant.faces.api import create_api  # noqa: E402
from assistant.faces.ui import CSS, build_ui  # noqa: E402
from assistant.service.service import Service  # noqa: E402
from assistant.settings import Settings  # noqa: E402


def create_app(settings: Settings) -> FastAPI:
    service = Service(settings)
    service.reload()  # open the index now, so that the first question is answered at once
    api = create_api(service)
    ui = build_ui(service).queue(default_concurrency_limit=settings.concurrency_limit, max_size=settings.queue_limit)
    return gr.mount_gradio_app(
        api,
        ui,
        path="/",
        css=CSS,
        max_file_size=int(settings.max_upload_mb * 1_000_000),
        footer_links=["api"],
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    try:
        app = create_app(settings)
    except PolicyQAError as error:  # a configuration the server cannot start with: say which, without a traceback
        raise SystemExit(f"error: {error}") from None
    print(f"广圆享 running at http://{settings.host}:{settings.port}/  (API docs: /docs)", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
