"""GET /api/v1/metrics: the report of `feedbackbot report --format json`, with the command's filters."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Response, status

from bot.app import Core
from bot.cli import min_group_size
from bot.report_output import report_json
from bot.reports import breakdown_of, build_report
from bot.surveys import Survey
from handlers.api import PREFIX

METRICS_DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {"description": "The report's JSON document (README.md, Reports)", "content": {"application/json": {}}}
}


def _invalid(name: str, message: str) -> HTTPException:
    problem = {"loc": ["query", name], "msg": message, "type": "value_error"}
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, [problem])


def add_metrics_route(api: FastAPI, core: Core) -> None:
    @api.get(f"{PREFIX}/metrics", tags=["metrics"], response_class=Response, responses=METRICS_DOCUMENT)
    async def metrics(
        since: Annotated[
            datetime | None, Query(description="Surveys started at or after (ISO 8601 with a zone)")
        ] = None,
        until: Annotated[datetime | None, Query(description="Surveys started before")] = None,
        survey: Annotated[str | None, Query(description="Only this survey (default: every survey)")] = None,
        by: Annotated[
            str | None, Query(description="channel, day, week, month, service or an invitation attribute's name")
        ] = None,
    ) -> Response:
        """CSAT, NPS, CES, sentiment, themes, cases and the response funnel per survey, with 95 % intervals; small
        anonymous groups hidden. The same document as `feedbackbot report --format json`."""
        if survey is not None and survey not in core.surveys:
            raise _invalid("survey", f"no survey {survey!r}; available: {', '.join(core.surveys)}")
        try:
            breakdown = None if by is None else breakdown_of(by)
        except ValueError as error:
            raise _invalid("by", str(error)) from None
        for name, moment in (("since", since), ("until", until)):
            if moment is not None and moment.tzinfo is None:
                raise _invalid(name, "give the time zone, as 2026-11-30T00:00:00Z")
        chosen: list[Survey] = [core.surveys[survey]] if survey else list(core.surveys.values())
        built = await build_report(
            core.database, chosen, since=since, until=until, by=breakdown, min_group_size=min_group_size(core.settings)
        )
        return Response(report_json(built), media_type="application/json")
