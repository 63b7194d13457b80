"""llama-cpp-python's OpenAI-compatible server, taking ``response_format`` as OpenAI, vLLM and
llama.cpp's own server write it: ``{"type": "json_schema", "json_schema": {"schema": ...}}``.
llama-cpp-python's server knows only ``{"type": "json_object", "schema": ...}`` and refuses
the other form; each request's is rewritten to it, which the server then enforces with a
grammar built from the schema, as the others do.

Run as ``python -m evaluation.generation.local_server`` with llama_cpp.server's own options
(``local_model.server_command``); it imports nothing else of ftapp, so it starts without
Django."""

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def response_format_rewritten(body: bytes) -> bytes:
    """The request body with a ``json_schema`` response format given in the form
    llama-cpp-python reads; any other body as it came."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    response_format = request.get("response_format") if isinstance(request, dict) else None
    if not isinstance(response_format, dict) or response_format.get("type") != "json_schema":
        return body
    schema = (response_format.get("json_schema") or {}).get("schema")
    request["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
    return json.dumps(request).encode()


class JsonSchemaResponseFormat:
    """ASGI middleware: rewrites the body of each chat completion request before the
    server's own validation reads it."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"].endswith("/chat/completions")
        ):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before it finished sending
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = response_format_rewritten(b"".join(chunks))
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # waits for the client's disconnect
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


def main() -> None:
    import argparse

    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_args_from_model(parser, Settings)
    given = {k: v for k, v in vars(parser.parse_args()).items() if v is not None}
    # As llama_cpp.server's own entry point splits the options between the two.
    server_settings = ServerSettings(
        **{k: v for k, v in given.items() if k in ServerSettings.model_fields}
    )
    model_settings = ModelSettings(
        **{k: v for k, v in given.items() if k in ModelSettings.model_fields}
    )
    app = create_app(server_settings=server_settings, model_settings=[model_settings])
    uvicorn.run(JsonSchemaResponseFormat(app), host=server_settings.host, port=server_settings.port)


if __name__ == "__main__":
    main()
