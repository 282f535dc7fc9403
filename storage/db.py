"""The async engine and sessions: SQLite (WAL) by default, PostgreSQL to scale out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, make_url
from sqlalchemy.exc import DisconnectionError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.sqlite_inline import inline_creator

READ_ONLY = "feedbackbot_read_only"
BUSY_TIMEOUT_MS = 10_000
SQLITE_PRAGMAS = ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}")
SCRUB_ATTEMPTS = 50
SCRUB_PAUSE_SECONDS = 0.02
# PostgreSQL connections kept open, and no more: busy moments need more than SQLAlchemy's 5, and a connection beyond
# those kept (SQLAlchemy's overflow) is closed when it is returned, so each burst paid for new ones, a server process
# and its prepared statements each (370 in the scale-out bench's minute; a quarter of the updates per second). A
# burst past the pool waits for a connection instead: the process has one core to run its work on anyway.
POSTGRES_POOL_SIZE = 20
# A pooled PostgreSQL connection idle this long is pinged before use (a firewall may have dropped it unnoticed);
# one busy a moment ago is not: a ping per checkout (SQLAlchemy's pool_pre_ping) cost a transaction of its own.
PING_AFTER_IDLE_SECONDS = 30.0
RETURNED_AT = "feedbackbot_returned_at"  # the key of a pooled connection's info: when it was last checked in
log = logging.getLogger(__name__)
T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[T]]


def _configure_sqlite(engine: AsyncEngine) -> None:
    """WAL for concurrent readers; BEGIN IMMEDIATE so writers queue on busy_timeout instead of failing;
    secure_delete so that erased words are overwritten, not left in free space."""

    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's BEGIN below start transactions
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_PRAGMAS, "secure_delete=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _replace_dead_connections(engine: AsyncEngine) -> None:
    """A pooled connection the server closed (a restart, a terminated backend) is replaced before use, at no cost:
    asyncpg saw the socket close. One idle for PING_AFTER_IDLE_SECONDS is pinged first. A connection that dies
    while in use fails its transaction, and SQLAlchemy then replaces every connection pooled before the failure."""

    @event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server closed the connection")
        returned_at = record.info.get(RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise DisconnectionError(f"the idle connection does not answer: {type(error).__name__}") from error


def create_engine(url: str) -> AsyncEngine:
    """An async engine for a `sqlite+aiosqlite://` or `postgresql+asyncpg://` URL. Its errors name no statement
    parameters: they hold customers' words, and database errors are logged as warnings."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_async_engine(url, pool_size=POSTGRES_POOL_SIZE, max_overflow=0, hide_parameters=True)
        _replace_dead_connections(engine)
        return engine
    engine = create_async_engine(url, async_creator=inline_creator(parsed.database or ":memory:"), hide_parameters=True)
    _configure_sqlite(engine)
    return engine


class Database:
    """The engine and its session factory, opened once per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self.pool_size: int = self.engine.pool.size()  # type: ignore[attr-defined]  # a QueuePool's, on both
        self._sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # SQLite has one writer at a time: queueing writers here is fair and fast, where SQLite's busy handler
        # would make them sleep and poll. PostgreSQL takes concurrent writers as they come.
        self.serialises_writers = self.engine.dialect.name == "sqlite"
        self._writer: contextlib.AbstractAsyncContextManager[object] = (
            asyncio.Lock() if self.serialises_writers else contextlib.nullcontext()
        )
        self.group_commit = GroupCommit(self)
        self.scrub_requested = False
        self.errors: Counter[tuple[str, str]] = Counter()  # (operation, error type) -> failures, for /metrics

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with self._counting_errors("write"):
            async with self._writer, self._sessions() as session, session.begin():
                yield session

    async def write(self, job: Job[T], *, grouped: bool = False) -> T:
        """Runs `job` in a transaction of its own, or `grouped` in the group commit's (see GroupCommit)."""
        if grouped:
            return await self.group_commit.run(job)
        async with self.transaction() as session:
            return await job(session)

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session for reading only: on SQLite it does not take the write lock, so long reads block no one."""
        with self._counting_errors("read"):
            async with self.engine.connect() as connection:
                await connection.execution_options(**{READ_ONLY: True})
                async with AsyncSession(bind=connection) as session:
                    yield session

    @contextlib.contextmanager
    def _counting_errors(self, operation: str) -> Iterator[None]:
        """Counts the database's failures (unreachable, refusing, timing out) by operation and error type. A
        constraint's conflict is no failure: it is how a redelivered event or a concurrent write is recognised."""
        try:
            yield
        except IntegrityError:
            raise
        except (SQLAlchemyError, OSError) as error:
            self.errors[operation, type(error).__name__] += 1
            raise

    async def ping(self) -> None:
        """Raises when the database does not answer."""
        async with self.snapshot() as session:
            await session.exec(select(1))

    def request_scrub(self) -> None:
        """Asks whoever keeps raw copies of erased data (Telegram's inbox) to scrub once theirs are dropped."""
        self.scrub_requested = True

    def take_scrub_request(self) -> bool:
        """Whether a scrub was asked for; the request is taken, so only one caller honours it."""
        requested, self.scrub_requested = self.scrub_requested, False
        return requested

    async def scrub(self) -> None:
        """Moves SQLite's write-ahead log into the database file and empties it: the old versions of erased rows
        go with it, and secure_delete has zeroed them in the file. Nothing to do on PostgreSQL.

        Readers still on an older snapshot block the checkpoint: it is tried again for a moment, and if it still
        cannot finish (or fails), the request stays for the next `take_scrub_request()`."""
        if not self.serialises_writers:
            return
        emptied = False
        try:
            emptied = await self._empty_write_ahead_log()
        finally:
            if not emptied:
                log.warning("could not empty the SQLite write-ahead log after erasing data; left for the next scrub")
                self.request_scrub()

    async def _empty_write_ahead_log(self) -> bool:
        async with self._writer, self.engine.connect() as connection:
            sqlite = (await connection.get_raw_connection()).driver_connection
            assert sqlite is not None
            await sqlite.execute("PRAGMA busy_timeout=0")  # retried here, without blocking the event loop
            try:
                for _ in range(SCRUB_ATTEMPTS):
                    cursor = await sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    busy, _, _ = await cursor.fetchone()
                    if not busy:
                        return True
                    await asyncio.sleep(SCRUB_PAUSE_SECONDS)
                return False
            finally:
                await sqlite.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    async def close(self) -> None:
        await self.engine.dispose()


class GroupCommit:
    """Runs the write jobs that queue up together in one transaction: one commit for several chats' work.

    On SQLite writers take turns anyway; on PostgreSQL a transaction of its own would cost each job three round trips
    (BEGIN, the job, COMMIT), a batch's jobs share them. The jobs of a batch run one after another,
    in arrival order. A batch that fails is rolled back and run again one job at
    a time, so that a job's failure (say a redelivered event's duplicate key) is its own and the others commit.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queued: list[tuple[Job[Any], asyncio.Future[Any]]] = []
        self._batch: list[tuple[Job[Any], asyncio.Future[Any]]] = []  # the jobs being run
        self._runner: asyncio.Task[None] | None = None

    async def run(self, job: Job[T]) -> T:
        """Runs `job` in a transaction, committed when this returns. A job may run twice (in a batch that failed
        and was rolled back, then alone) and runs even if its caller was cancelled meanwhile: jobs must be safe to
        repeat, as recording a delivery is."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued.append((job, future))
        if self._runner is None:
            self._runner = asyncio.create_task(self._run_queued())
        return await future

    async def _run_queued(self) -> None:
        try:
            while self._queued:
                await self._run_batch()
        except asyncio.CancelledError:  # shutting down: the callers still waiting are cancelled too
            for _, future in self._batch + self._queued:
                future.cancel()
            self._batch, self._queued = [], []
            raise
        finally:
            self._runner = None

    async def _run_batch(self) -> None:
        self._batch = []
        try:
            async with self.database.transaction() as session:
                self._batch, self._queued = self._queued, []  # taken on the writer's turn: every job queued so far
                results = [await job(session) for job, _ in self._batch]
        except Exception as error:
            if not self._batch:  # the transaction did not even start
                self._batch, self._queued = self._queued, []
            if len(self._batch) == 1:
                settle_future(self._batch[0][1], error=error)
            else:
                for job, future in self._batch:
                    await self._run_alone(job, future)
            return
        for (_, future), result in zip(self._batch, results, strict=True):
            settle_future(future, result)

    async def _run_alone(self, job: Job[Any], future: asyncio.Future[Any]) -> None:
        try:
            async with self.database.transaction() as session:
                result = await job(session)
        except Exception as error:
            settle_future(future, error=error)
        else:
            settle_future(future, result)


def settle_future(future: asyncio.Future[Any], result: object = None, error: BaseException | None = None) -> None:
    """Hands a queued job's result or error to its waiting caller, unless the caller stopped waiting."""
    if future.done():  # its caller was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
