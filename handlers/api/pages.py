"""Cursor pagination: an opaque cursor naming the last row of a page, and the page's shape."""

import base64
import binascii
from typing import Generic, TypeVar

from fastapi import HTTPException, status
from pydantic import BaseModel

MAX_LIMIT = 200
T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None  # pass as `cursor` for the next page; null on the last


def cursor_of(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{row_id}".encode()).decode().rstrip("=")


def row_after(cursor: str | None) -> int | None:
    """The row id a cursor names; 422 naming `cursor` when it is not one of ours."""
    if cursor is None:
        return None
    try:
        label, _, number = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        if label == "after" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeDecodeError):
        pass
    raise HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        [{"loc": ["query", "cursor"], "msg": "not a cursor this API gave", "type": "value_error"}],
    )


def page(rows: list[T], ids: list[int], limit: int) -> Page[T]:
    """A page of `limit` rows from `limit + 1` fetched (`ids`: theirs): the extra one says there is a next page."""
    more = len(rows) > limit
    return Page[T](data=rows[:limit], next_cursor=cursor_of(ids[limit - 1]) if more else None)
