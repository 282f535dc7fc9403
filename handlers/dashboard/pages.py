"""The dashboard's pages: the overview (the report's figures and charts, with its filters), the open cases oldest
first, and one case with its trail. Figures come from the report's aggregates, cases from storage's read models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from bot.app import Core
from bot.cli import min_group_size
from bot.report_html import survey_figures
from bot.report_output import COLUMNS, INTERVALS_NOTE, report_title, row_cells
from bot.reports import Breakdown, Report, SurveyReport, build_report
from handlers.dashboard.counted import CountedReports
from handlers.dashboard.filters import FilterError, Filters, read_filters
from storage import views
from storage.views import CaseView

OPEN_CASES_SHOWN = 200  # the oldest; the page says how many more there are


@dataclass(frozen=True, slots=True)
class Row:
    group: str
    hidden: bool
    cells: list[str]  # as the report's tables show them, COLUMNS in order


@dataclass(frozen=True, slots=True)
class SurveySection:
    survey: SurveyReport
    rows: list[Row]
    charts: list[str]  # plotly figures as JSON, drawn by static/dashboard.js


@dataclass(frozen=True, slots=True)
class OpenCase:
    case: CaseView
    age: str
    overdue: bool


class Pages:
    def __init__(self, core: Core, templates: Jinja2Templates) -> None:
        self.core, self.templates = core, templates
        self.reports = CountedReports(self.count, core.engine.clock)

    async def overview(self, request: Request) -> Response:
        """The report of the surveys chosen by the filters: its tables and charts."""
        try:
            filters = read_filters(request.query_params, self.core.surveys, self.core.engine.clock().date())
        except FilterError as error:
            return self.page(request, "overview.html", filters=Filters(), error=str(error), status_code=400)
        counted = await self.reports.report(filters)
        report = counted.report
        sections = [section(survey, report.min_group_size) for survey in report.surveys]
        title = report_title(report)
        return self.page(
            request, "overview.html", filters=filters, error=None, title=title, sections=sections, at=counted.at
        )

    async def count(self, filters: Filters) -> Report:
        """The report `feedbackbot report` prints for the same options."""
        chosen = [self.core.surveys[filters.survey]] if filters.survey else list(self.core.surveys.values())
        smallest = min_group_size(self.core.settings)
        return await build_report(
            self.core.database, chosen, since=filters.since, until=filters.until, by=filters.by, min_group_size=smallest
        )

    async def open_cases(self, request: Request) -> Response:
        """The cases waiting for staff, oldest first, with their age and owner."""
        now = self.core.engine.clock()
        async with self.core.database.snapshot() as session:
            total = await views.count_open_cases(session)
            oldest = await views.oldest_open_cases(session, limit=OPEN_CASES_SHOWN)
        cases = [OpenCase(case, age(now - case.created_at), is_overdue(case, now)) for case in oldest]
        return self.page(request, "cases.html", cases=cases, total=total)

    async def case(self, request: Request) -> Response:
        """One case: its triage, the customer's answers and words, and its trail."""
        number: int = request.path_params["number"]
        async with self.core.database.snapshot() as session:
            case = await views.get_case(session, case_id=number)
            trail = await views.case_trail(session, case_id=number)
        if case is None:
            return self.page(request, "missing.html", number=number, status_code=404)
        answers = await self.core.cases.answers_of(case)
        now = self.core.engine.clock()
        return self.page(request, "case.html", case=case, answers=answers, trail=trail, age=age(now - case.created_at))

    def page(self, request: Request, template: str, status_code: int = 200, **context: object) -> Response:
        shared = {"surveys": self.core.surveys, "breakdowns": list(Breakdown), "columns": COLUMNS}
        shared["intervals_note"] = INTERVALS_NOTE
        return self.templates.TemplateResponse(request, template, shared | context, status_code=status_code)


def section(survey: SurveyReport, min_group_size: int) -> SurveySection:
    rows = [
        Row(group.group, group.hidden is not None, list(row_cells(group, min_group_size)))
        for group in (survey.total, *survey.groups)
    ]
    return SurveySection(survey, rows, [figure.to_json() for figure in survey_figures(survey)])


def age(elapsed: timedelta) -> str:
    """How long a case has waited, to the minute for a recent one and to the hour for an old one: 3 d 4 h."""
    minutes = max(int(elapsed.total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def is_overdue(case: CaseView, now: datetime) -> bool:
    """Past its time to acknowledge or to resolve, and not done."""
    late_ack = case.acknowledged_at is None and case.due_ack_at is not None and case.due_ack_at < now
    late_resolve = case.resolved_at is None and case.due_resolve_at is not None and case.due_resolve_at < now
    return late_ack or late_resolve
