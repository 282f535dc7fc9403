"""The Bot API calls' transport: python-telegram-bot's request interface on aiohttp.

PTB ships an httpx transport; for each call httpcore's pool walks every connection (a system call per idle one)
and anyio looks up the running task several times, which cost more CPU than the rest of a sendMessage. aiohttp,
which slack_sdk uses too, hands a call a free connection from a queue, at most `connections` of them at once.
"""

from __future__ import annotations

import logging
import ssl

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)


class AiohttpRequest(BaseRequest):
    """Bot API calls over one aiohttp session: at most `connections` at once, the others waiting for one in turn
    (without a time limit: each call in flight has its own). `timeout` bounds connecting, and reading an answer."""

    def __init__(self, *, connections: int, timeout: float, tls: ssl.SSLContext) -> None:
        self._connections = connections
        self._timeout = timeout
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._connections, ssl=self._tls)
            self._session = aiohttp.ClientSession(connector=connector, headers={"User-Agent": self.USER_AGENT})

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            sock_connect=_seconds(connect_timeout, self._timeout), sock_read=_seconds(read_timeout, self._timeout)
        )
        try:
            async with self._session.request(method, url, data=_body(request_data), timeout=timeout) as response:
                log.debug("HTTP Request: %s %s %d", method, url, response.status)  # the token is redacted in logs
                return response.status, await response.read()
        except TimeoutError as error:  # aiohttp's SocketTimeoutError (reading) and ConnectionTimeoutError among them
            raise TimedOut from error
        except aiohttp.ClientError as error:
            raise NetworkError(f"aiohttp.{type(error).__name__}: {error}") from error


def _seconds(given: ODVInput[float], default: float) -> float | None:
    """A call's own timeout (PTB passes getUpdates' and a caller's), else the transport's."""
    return default if isinstance(given, DefaultValue) else given


def _body(request_data: RequestData | None) -> aiohttp.FormData | dict[str, str] | None:
    """The parameters form-encoded, or as a multipart form with the files of an upload, as PTB's httpx transport
    sends them."""
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        return request_data.json_parameters
    form = aiohttp.FormData(request_data.json_parameters)
    for name, (filename, content, mime_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=mime_type)
    return form
