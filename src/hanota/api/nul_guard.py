"""Refuse NUL characters at the door: PostgreSQL text cannot hold them, so a NUL that reached a query would
end as a driver error (a 500) instead of a clear answer. A NUL in the path, the query string or a
form-encoded body gets HTTP 400 before any route runs. (DUIS XML cannot carry a NUL at all: the XML parser
refuses it with E100; JSON bodies are checked by their own models.)"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_FORM_BYTES = 1024 * 1024
FORM = b"application/x-www-form-urlencoded"


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = bytes(scope.get("raw_path") or b"") + b"?" + bytes(scope.get("query_string") or b"")
        if b"%00" in raw or b"\x00" in raw or "\x00" in scope.get("path", ""):
            await _answer(send, 400, b"NUL characters are not accepted\n")
            return
        ctype = dict(scope.get("headers") or []).get(b"content-type", b"")
        if ctype.split(b";")[0].strip().lower() != FORM:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left mid-form: nobody to answer (BodyGuard logs it)
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_FORM_BYTES:
                await _answer(send, 413, b"form over 1 MiB\n")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if b"%00" in body or b"\x00" in body:
            await _answer(send, 400, b"NUL characters are not accepted\n")
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _answer(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
