"""GET /api/v1/responses, /api/v1/cases and /api/v1/cases/{id}: what people answered and the cases it opened, as
data (the people's words included, as JSON strings), paged with a cursor."""

import re
from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, status
from pydantic import BaseModel

from handlers.api import PREFIX
from handlers.api.invitations import ATTRIBUTE_NAME
from handlers.api.pages import MAX_LIMIT, Page, page, row_after
from storage.db import Database
from storage.models import CaseStatus
from storage.responses import ResponseView, response_page
from storage.views import CaseView, case_trail, get_case, list_cases

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most this many in the page")]
Cursor = Annotated[str | None, Query(description="The `next_cursor` of the page before")]


class AnswerPublic(BaseModel):
    question: str
    kind: str
    value: int | None
    choice: str | None
    text: str | None
    skipped: bool
    sentiment: str | None
    polarity: float | None
    answered_at: datetime


class ResponsePublic(BaseModel):
    id: int
    survey: str
    channel: str
    person_id: int | None
    reference: str | None
    language: str
    status: str
    started_at: datetime
    closed_at: datetime | None
    invitation_id: int | None
    attributes: dict[str, str]
    answers: list[AnswerPublic]

    @classmethod
    def of(cls, view: ResponseView) -> "ResponsePublic":
        answers = [AnswerPublic(**answer._asdict()) for answer in view.answers]
        return cls(**{**view._asdict(), "survey": view.survey_id, "answers": answers})


class CasePublic(BaseModel):
    id: int
    status: str
    priority: str
    category: str | None
    reasons: list[str]
    polarity: float | None
    channel: str
    person_id: int | None
    survey: str | None
    reference: str | None
    text: str | None
    assignee: str | None
    corrective_action: str | None
    root_cause: str | None
    created_at: datetime
    due_ack_at: datetime | None
    due_resolve_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, case: CaseView) -> "CasePublic":
        fields = {name: getattr(case, name) for name in cls.model_fields if hasattr(case, name)}
        return cls(**{**fields, "survey": case.survey_id, "reasons": list(case.reasons)})


class TrailStep(BaseModel):
    at: datetime
    actor: str
    action: str
    detail: str | None


class CaseDetail(CasePublic):
    trail: list[TrailStep]


def attribute_filters(given: list[str]) -> dict[str, str]:
    """`region=north` pairs; 422 naming `attribute` for one without `=` or with a name no invitation can have."""
    pairs = [item.partition("=") for item in given]
    if any(not re.fullmatch(ATTRIBUTE_NAME, name) or not equals for name, equals, _ in pairs):
        problem = {"loc": ["query", "attribute"], "msg": "write each as NAME=VALUE", "type": "value_error"}
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [problem])
    return {name: value for name, _, value in pairs}


def add_read_routes(api: FastAPI, database: Database) -> None:
    @api.get(f"{PREFIX}/responses", tags=["responses"])
    async def list_responses(
        survey: str | None = None,
        since: Annotated[datetime | None, Query(description="Started at or after (ISO 8601 with a zone)")] = None,
        until: Annotated[datetime | None, Query(description="Started before")] = None,
        reference: str | None = None,
        attribute: Annotated[list[str], Query(description="NAME=VALUE of the invitation; repeat to narrow")] = [],  # noqa: B006  (FastAPI copies it)
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[ResponsePublic]:
        """Surveys taken (at least one answer), oldest first, with their answers."""
        filters = attribute_filters(attribute)
        async with database.snapshot() as session:
            views = await response_page(
                session,
                survey_id=survey,
                since=since,
                until=until,
                reference=reference,
                attributes=filters,
                after_id=row_after(cursor) or 0,
                limit=limit + 1,
            )
        return page([ResponsePublic.of(view) for view in views], [view.id for view in views], limit)

    @api.get(f"{PREFIX}/cases", tags=["cases"])
    async def cases_page(
        status: CaseStatus | None = None,
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> Page[CasePublic]:
        """Cases, newest first."""
        async with database.snapshot() as session:
            cases = await list_cases(
                session, status=status, overdue_at=None, limit=limit + 1, before_id=row_after(cursor)
            )
        return page([CasePublic.of(case) for case in cases], [case.id for case in cases], limit)

    @api.get(f"{PREFIX}/cases/{{case_id}}", tags=["cases"], responses={404: {"description": "No such case"}})
    async def get_one_case(case_id: int) -> CaseDetail:
        """The case with its audit trail."""
        async with database.snapshot() as session:
            case = await get_case(session, case_id=case_id)
            trail = await case_trail(session, case_id=case_id) if case else []
        if case is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no case has this number")
        steps = [TrailStep(**line._asdict()) for line in trail]
        return CaseDetail(**CasePublic.of(case).model_dump(), trail=steps)
