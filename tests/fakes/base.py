"""What both fake platform servers share: serving on loopback, recorded spec violations, waiting for a change."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import pytest
from aiohttp import web

T = TypeVar("T")


@dataclass(frozen=True)
class Violation:
    """A call that breaks the platform's published spec (or a response of the fake that would)."""

    method: str
    description: str
    params: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.method}({json.dumps(self.params, default=str)}): {self.description}"


class FakeApi:
    """Base of a fake server: subclasses record violations, call `_pulse` on every change and set `_closing`."""

    api_name: ClassVar[str]  # "the Slack Web API", as failure messages name it

    def __init__(self) -> None:
        self.violations: list[Violation] = []
        self._closing = False
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def start(self) -> Self:
        raise NotImplementedError

    async def _listen(self, app: web.Application) -> str:
        """Serves `app` on a free loopback port; returns its root URL."""
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop the server; pending long polls and delays return at once."""
        self._closing = True
        self._pulse()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.close()

    def pop_violations(self) -> list[Violation]:
        """Return and forget the recorded violations (for tests that send bad calls on purpose)."""
        violations, self.violations = self.violations, []
        return violations

    def expect_violation(self, fragment: str) -> Violation:
        """Remove and return the violation whose description contains `fragment`; fail if there is none."""
        for violation in self.violations:
            if fragment in violation.description:
                self.violations.remove(violation)
                return violation
        raise AssertionError(f"no violation mentions {fragment!r}: {[str(v) for v in self.violations]}")

    def assert_clean(self) -> None:
        """Fail the running test if any violation is recorded (the fixture calls this at teardown)."""
        if self.violations:
            report = "\n".join(f"  {v}" for v in self.violations)
            pytest.fail(f"the bot called {self.api_name} wrongly:\n{report}", pytrace=False)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:  # noqa: ASYNC109
        """Wait until `predicate()` is truthy and return it; re-checked on every call to the fake."""
        try:
            async with asyncio.timeout(timeout):
                while not (result := predicate()):
                    await self._wait_change(0.05)  # a short wait also covers conditions outside the fake
        except TimeoutError:
            raise AssertionError(f"condition not met within {timeout}s") from None
        return result

    def _pulse(self) -> None:
        """Wake everything waiting for a change (new update, finished call, shutdown)."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), seconds)

    async def _sleep(self, seconds: float) -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        while not self._closing and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await self._wait_change(left)
