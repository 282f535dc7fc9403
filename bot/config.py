"""Settings: one validated pydantic-settings class, read from a TOML file and overridden by the environment."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import re
import tomllib
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.logformat import LogFormat
from bot.outbound import EventType
from bot.sentiment import ANALYZER_NAMES, DEFAULT_ANALYZER, DEFAULT_COMPLAINT_THRESHOLD

ENV_PREFIX = "FEEDBACKBOT_"
PULSE_NAME = r"^[a-z0-9][a-z0-9_-]{0,25}$"
QUIET_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
PLACEHOLDER_MARKERS = ("change-me", "changeme", "replace-me", "your-", "placeholder", "xxxx")


class ConfigError(Exception):
    """A configuration problem, worded as one line that names the key."""


def _comma_separated(value: Any) -> Any:
    """A list from the environment: JSON (["U1", "U2"]) or comma-separated (U1,U2)."""
    if not isinstance(value, str):
        return value
    if value.lstrip().startswith("["):
        return json.loads(value)
    return [item.strip() for item in value.split(",") if item.strip()]


# NoDecode: pydantic-settings hands the raw environment string to the validator instead of requiring JSON.
StringList = Annotated[list[str], NoDecode, BeforeValidator(_comma_separated)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def empty_is_unset(cls, value: Any) -> Any:
        """An empty string in the TOML file or the environment means 'not configured': the default."""
        if value == "":
            raise PydanticUseDefault
        return value


class StorageSettings(Section):
    url: str = "sqlite+aiosqlite:///feedback.db"

    @field_validator("url")
    @classmethod
    def supported_driver(cls, url: str) -> str:
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER:PASSWORD@HOST/DB")
        return url


class ServerSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(default=1_048_576, gt=0)  # a longer request body is refused with 413
    shutdown_seconds: int = Field(default=10, gt=0)  # SIGTERM: the longest wait for what is in flight


class ChannelSection(Section):
    """A channel's settings section, defined in the channel's folder; the registry adds it to the settings under the
    channel's name ([telegram], [slack]). What the core asks of a channel's settings is here."""

    @property
    @abstractmethod
    def configured(self) -> bool:
        """Whether the channel runs: its token or credentials are set."""

    # Keys that lived in another section, by their old place (section, key) -> their key here: a config still
    # using the old place is refused with a line that says where the key went.
    moved_here: ClassVar[Mapping[tuple[str, str], str]] = {}
    # Whether the bot may write to someone who never wrote to it (an invitation to a person it does not know).
    writes_first: ClassVar[bool] = False

    @property
    def staff_destination(self) -> str | None:
        """Where staff hear of new cases on this channel (a chat, a channel), if anywhere."""
        return None

    @property
    def escalation_destination(self) -> str | None:
        """Where staff hear of overdue or reopened cases on this channel: by default where they hear of new ones."""
        return self.staff_destination

    @property
    def mention_in_escalations(self) -> str | None:
        """Whom an escalation mentions, in the channel's own markup; by default nobody."""
        return None

    def surveys_named(self) -> dict[str, str]:
        """The surveys this section names, by key: each must exist while the channel runs."""
        return {}

    def start_link(self, token: str) -> str | None:
        """The address that opens this channel's bot with a survey link's token, if the channel has one."""
        return None


class SurveySettings(Section):
    dir: Path = Path("surveys")
    default: str = "csat"


class SentimentSettings(Section):
    analyzer: str = DEFAULT_ANALYZER
    complaint_threshold: float = Field(default=DEFAULT_COMPLAINT_THRESHOLD, ge=-1, le=1)

    @field_validator("analyzer")
    @classmethod
    def known_analyzer(cls, name: str) -> str:
        if name not in ANALYZER_NAMES:
            raise ValueError(f"unknown analyzer {name!r}; choose one of {', '.join(ANALYZER_NAMES)}")
        return name


class CaseSettings(Section):
    # Keyword rules that suggest a category: the first category with a keyword in the customer's words.
    categories: dict[str, list[str]] = {
        "delivery": ["late", "courier", "parcel", "delivery", "arrived", "shipping"],
        "billing": ["charge", "charged", "refund", "invoice", "price", "payment", "bill"],
        "service": ["rude", "agent", "support", "waiting", "answer", "staff"],
        "product": ["broken", "defect", "quality", "doesn't work", "stopped working", "crash"],
    }
    root_causes: StringList = ["process", "people", "product", "supplier", "communication", "other"]
    # Minutes to acknowledge and hours to resolve, by priority.
    ack_minutes: dict[str, int] = {"high": 60, "normal": 240, "low": 1440}
    resolve_hours: dict[str, int] = {"high": 24, "normal": 72, "low": 168}
    reminder_minutes: int = Field(default=60, ge=1)  # an overdue case is escalated again at most this often

    @field_validator("ack_minutes", "resolve_hours")
    @classmethod
    def every_priority(cls, given: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        """A partial table (`{ high = 30 }`) keeps the defaults of the priorities it does not name."""
        assert info.field_name is not None
        defaults: dict[str, int] = cls.model_fields[info.field_name].default
        unknown = sorted(set(given) - set(defaults))
        if unknown:
            raise ValueError(f"the priorities are {', '.join(defaults)}, not {', '.join(unknown)}")
        return defaults | given


class LoggingSettings(Section):
    # Unset: INFO for `run`, WARNING for the other commands.
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    format: LogFormat = "text"  # "json": one JSON object per line, for a log collector

    @field_validator("level", "format", mode="before")
    @classmethod
    def any_case(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        return value.upper() if info.field_name == "level" else value.lower()


class PrivacySettings(Section):
    # Keys the hash that recognises an anonymous respondent's open survey; without it nobody can reverse it.
    hash_key: SecretStr | None = None
    # People inactive this many days are anonymised as /forget does; unset keeps them.
    retention_days: int | None = Field(default=None, ge=1)
    retention_free_text: bool = False  # also clear free-text answers and complaints' words older than that


def _known_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"no time zone {name!r}: an IANA name such as 'Europe/Berlin'") from None
    return name


ZoneName = Annotated[str, AfterValidator(_known_zone)]  # an IANA time zone, such as "Europe/Berlin"


class ReminderSettings(Section):
    """One reminder (or `count`) of an invited survey that is still open and unfinished, `after_hours` after the
    invitation was sent, the survey last answered or the last reminder; never in the person's quiet hours."""

    enabled: bool = True
    after_hours: float = Field(default=24, gt=0)  # a survey's `reminder_after_hours` overrides it
    count: int = Field(default=1, ge=0, le=10)  # reminders per invitation at most; 0 sends none
    quiet_hours: str = "21:00-08:00"  # local time of the person, may span midnight; "off": none
    default_timezone: ZoneName = "UTC"  # for people whose platform tells no time zone (Telegram)

    @field_validator("quiet_hours")
    @classmethod
    def a_span_of_day(cls, value: str) -> str:
        if value.lower() != "off" and not QUIET_HOURS.fullmatch(value):
            raise ValueError('write the quiet hours as "HH:MM-HH:MM" (such as "21:00-08:00"), or "off"')
        return value

    @property
    def quiet_span(self) -> tuple[dt.time, dt.time] | None:
        """When the quiet hours start and end in the person's day; None when off."""
        found = QUIET_HOURS.fullmatch(self.quiet_hours)
        if found is None:
            return None
        start_hour, start_minute, end_hour, end_minute = map(int, found.groups())
        return dt.time(start_hour, start_minute), dt.time(end_hour, end_minute)


class ApiSettings(Section):
    # The HTTP API's bearer keys, by name (recorded in the audit for each write); none configured: no API served.
    keys: dict[Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,32}$")], SecretStr] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.keys)


Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = get_args(Weekday)


class DigestSettings(Section):
    enabled: bool = True  # the weekly digest to the staff destinations
    weekday: Weekday = "monday"
    time: dt.time = dt.time(9, 0)  # of day, in `timezone`
    timezone: ZoneName = "UTC"
    # Channel name -> staff chat or channel to send it to; empty: each configured channel's staff destination.
    destinations: dict[str, str] = {}
    open_cases: int = Field(default=5, ge=0, le=20)  # how many of the oldest open cases it lists

    @field_validator("weekday", mode="before")
    @classmethod
    def any_case(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class PulseRecipients(Section):
    """One source of a pulse's recipients on one channel: people by their platform ids, the members of a group the
    channel knows (a Slack channel "C…" or user group "S…"), or the segment of its known people whose latest
    invitation carried these attributes."""

    channel: str
    users: StringList = []
    members_of: str | None = None
    segment: dict[str, str] = {}

    @model_validator(mode="after")
    def one_source(self) -> PulseRecipients:
        given = [key for key in ("users", "members_of", "segment") if getattr(self, key)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of users, members_of or segment (given: {', '.join(given) or 'none'})")
        return self


class PulseSettings(Section):
    """A recurring survey: `survey` sent to the recipients at each time of `cron`, read in `timezone`."""

    name: Annotated[str, Field(pattern=PULSE_NAME)]  # short: "pulse:NAME" is the API key its invitations record
    survey: str
    cron: str  # five fields, as crontab(5): "0 9 * * MON"
    timezone: ZoneName = "UTC"
    recipients: list[PulseRecipients] = Field(min_length=1)
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def cron_parses(cls, cron: str) -> str:
        try:
            CronSim(cron, datetime.now(UTC))
        except CronSimError as error:
            raise ValueError(f"not a cron expression ({error}): five fields, e.g. '0 9 * * MON'") from None
        return cron

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DashboardSettings(Section):
    # Who may open the read-only dashboard at /dashboard (HTTP Basic), by user name; none configured: not served.
    users: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")], SecretStr] = {}

    @field_validator("users")
    @classmethod
    def long_passwords(cls, users: dict[str, SecretStr]) -> dict[str, SecretStr]:
        """A page of customers' words behind a password that nothing rate-limits: no short one."""
        short = sorted(name for name, password in users.items() if len(password.get_secret_value()) < 12)
        if short:
            raise ValueError(f"the password of {', '.join(short)} is shorter than 12 characters")
        return users

    @property
    def enabled(self) -> bool:
        return bool(self.users)


@dataclass(frozen=True, slots=True)
class FatigueRules:
    """How often one survey may invite one person: see [invitations]."""

    recontact_days: int
    overall_recontact_days: int
    sample_percent: float


class SurveyFatigue(Section):
    """[invitations.surveys.ID]: a survey's own rules; a key left out is the [invitations] one."""

    recontact_days: int | None = Field(default=None, ge=0)
    overall_recontact_days: int | None = Field(default=None, ge=0)
    sample_percent: float | None = Field(default=None, gt=0, le=100)


class InvitationSettings(Section):
    # Nobody is invited to a survey again within this many days of an invitation to it (0: no limit).
    recontact_days: int = Field(default=0, ge=0)
    # Nobody is invited to any survey within this many days of an invitation to any survey (0: no limit).
    overall_recontact_days: int = Field(default=0, ge=0)
    # The share of the people invited that get the invitation; the rest are skipped (the same ones on a rerun).
    sample_percent: float = Field(default=100, gt=0, le=100)
    # Invitations per second a campaign sends when `--rate` is not given: below Telegram's 30 messages/s, so that
    # the replies to people answering keep their room.
    campaign_rate: float = Field(default=20, ge=0.1)
    surveys: dict[str, SurveyFatigue] = {}

    def rules_for(self, survey_id: str) -> FatigueRules:
        """The survey's rules: its own keys, the others from [invitations]."""
        own = self.surveys.get(survey_id, SurveyFatigue())
        return FatigueRules(
            recontact_days=self.recontact_days if own.recontact_days is None else own.recontact_days,
            overall_recontact_days=(
                self.overall_recontact_days if own.overall_recontact_days is None else own.overall_recontact_days
            ),
            sample_percent=self.sample_percent if own.sample_percent is None else own.sample_percent,
        )


class WebhookSettings(Section):
    """One outbound webhook, [webhooks.NAME]: where the events it subscribes to are POSTed, signed with its secret."""

    url: str
    secret: SecretStr  # signs each delivery (Feedbackbot-Signature); FEEDBACKBOT_WEBHOOKS__NAME__SECRET
    events: Annotated[list[EventType], NoDecode, BeforeValidator(_comma_separated)] = Field(min_length=1)
    # Free-text answers and complaints are a person's words: sent only when the receiver is entitled to them.
    include_text: bool = False
    timeout_seconds: float = Field(default=10, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def http_url(cls, url: str) -> str:
        parsed = urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("use an http:// or https:// URL")
        return url


# A webhook's name is a table key and, prefixed, the outbox channel of its deliveries (at most 32 characters).
WebhookName = Annotated[str, Field(pattern=r"^[a-z0-9_-]{1,24}$")]


def _unique_pulse_names(pulses: list[PulseSettings]) -> list[PulseSettings]:
    names = [pulse.name for pulse in pulses]
    if repeated := sorted({name for name in names if names.count(name) > 1}):
        raise ValueError(f"each pulse needs a name of its own; repeated: {', '.join(repeated)}")
    return pulses


class Settings(BaseSettings):
    """Everything an operator configures; see config.example.toml for each key. The channels' sections are added by
    `with_channels`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    environment: Literal["development", "production"] = "development"
    storage: StorageSettings = StorageSettings()
    server: ServerSettings = ServerSettings()
    surveys: SurveySettings = SurveySettings()
    sentiment: SentimentSettings = SentimentSettings()
    privacy: PrivacySettings = PrivacySettings()
    cases: CaseSettings = CaseSettings()
    logging: LoggingSettings = LoggingSettings()
    api: ApiSettings = ApiSettings()
    digest: DigestSettings = DigestSettings()
    dashboard: DashboardSettings = DashboardSettings()
    invitations: InvitationSettings = InvitationSettings()
    webhooks: dict[WebhookName, WebhookSettings] = {}
    pulses: Annotated[list[PulseSettings], AfterValidator(_unique_pulse_names)] = []
    reminders: ReminderSettings = ReminderSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment overrides the TOML file, which load_settings passes in as init values."""
        return (env_settings, init_settings)

    @model_validator(mode="after")
    def no_placeholder_secrets(self) -> Settings:
        if self.environment == "development":
            return self
        for name, section in self.sections().items():
            for key, value in secrets_of(section):
                if any(marker in value.get_secret_value().lower() for marker in PLACEHOLDER_MARKERS):
                    raise ConfigError(f"[{name}] {key}: placeholder secret; set the real one outside development")
        if self.privacy.hash_key is None:
            raise ConfigError("[privacy] hash_key: required outside development (set FEEDBACKBOT_PRIVACY__HASH_KEY)")
        return self

    @property
    def respondent_hash_key(self) -> bytes:
        """The privacy key; development falls back to a fixed key so a fresh checkout runs as is."""
        secret = self.privacy.hash_key
        return (secret.get_secret_value() if secret else "feedbackbot-development-only").encode()

    @classmethod
    def with_channels(cls, sections: Mapping[str, type[ChannelSection]]) -> type[Settings]:
        """These settings with a section per channel, by name ([telegram]: FEEDBACKBOT_TELEGRAM__KEY), read and
        checked as the core's own sections are."""
        fields: dict[str, Any] = {name: (model, Field(default_factory=model)) for name, model in sections.items()}
        return create_model(cls.__name__, __base__=cls, __module__=cls.__module__, **fields)

    def sections(self) -> dict[str, BaseModel]:
        """Every section ([storage], [telegram], ..., [webhooks.NAME]), by name."""
        sections = {
            name: section for name in type(self).model_fields if isinstance(section := getattr(self, name), BaseModel)
        }
        return sections | {f"webhooks.{name}": webhook for name, webhook in self.webhooks.items()}

    def configured_channels(self) -> dict[str, ChannelSection]:
        """The sections of the channels that run, by channel name."""
        return {
            name: section
            for name, section in self.sections().items()
            if isinstance(section, ChannelSection) and section.configured
        }

    def start_link(self, token: str) -> str | None:
        """The first channel's address opening its bot with a survey link's token, whether or not the channel runs
        in this process (`feedbackbot link` needs no bot token)."""
        channels = (section for section in self.sections().values() if isinstance(section, ChannelSection))
        return next((url for section in channels if (url := section.start_link(token))), None)

    def secret_values(self) -> list[str]:
        """Every configured secret: each SecretStr of every section, and the database password."""
        secrets = [value.get_secret_value() for section in self.sections().values() for _, value in secrets_of(section)]
        password = make_url(self.storage.url).password
        return [secret for secret in [*secrets, password] if secret]


def secrets_of(section: BaseModel) -> list[tuple[str, SecretStr]]:
    """The section's secrets by key: each SecretStr, and each of a table of them ([api.keys]: `keys.NAME`)."""
    found: list[tuple[str, SecretStr]] = []
    for key, value in section:
        if isinstance(value, SecretStr):
            found.append((key, value))
        elif isinstance(value, dict):
            found += [(f"{key}.{name}", item) for name, item in value.items() if isinstance(item, SecretStr)]
    return found


def load_settings(path: Path, *, required: bool = False, model: type[Settings] = Settings) -> Settings:
    """Reads `path` (skipped when missing unless required) and the environment into `model` (the core's settings
    with the channels' sections); raises ConfigError."""
    values: dict[str, Any] = {}
    if path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{path}: not valid TOML: {error}") from None
        values = with_paths_in(path.parent, values)
    elif required:
        raise ConfigError(f"{path}: no such configuration file (copy config.example.toml)")
    try:
        return model(**values)
    except ValidationError as error:
        raise ConfigError(f"{path}: {describe(error, moved_keys(model))}") from None
    except SettingsError as error:  # pydantic-settings names only the section: 'error parsing value for field "x"'
        section = str(error).split('"')[1].upper() if str(error).count('"') >= 2 else "SECTION"
        raise ConfigError(
            f'{ENV_PREFIX}{section}__...: a table from the environment must be JSON, e.g. {{"high": 30}}'
        ) from None
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def with_paths_in(folder: Path, values: dict[str, Any]) -> dict[str, Any]:
    """The file's values with its relative paths (the SQLite database, the survey folder) made to point into
    `folder`, the file's own, whatever the current directory; defaults count as written in the file."""
    storage, surveys = values.setdefault("storage", {}), values.setdefault("surveys", {})
    if isinstance(storage, dict) and isinstance(storage.get("url", ""), str):
        storage["url"] = _sqlite_in(folder, storage.get("url") or StorageSettings().url)
    if isinstance(surveys, dict) and isinstance(surveys.get("dir", ""), str):
        surveys["dir"] = str(folder / (surveys.get("dir") or SurveySettings().dir))
    return values


def _sqlite_in(folder: Path, url: str) -> str:
    """A SQLite URL whose relative database file is taken in `folder`; any other URL as it is."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url  # the url validator says what is wrong
    database = parsed.database
    if not parsed.drivername.startswith("sqlite") or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return parsed.set(database=str(folder / database)).render_as_string(hide_password=False)


def setting_names(model: type[Settings] = Settings) -> list[str]:
    """Every environment variable a setting is read from: FEEDBACKBOT_KEY and FEEDBACKBOT_SECTION__KEY."""
    names = []
    for name, field in model.model_fields.items():
        names.append(ENV_PREFIX + name.upper())
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            names += [f"{ENV_PREFIX}{name}__{key}".upper() for key in field.annotation.model_fields]
    return names


def unknown_variables(environ: Mapping[str, str], model: type[Settings] = Settings) -> list[str]:
    """A warning for each FEEDBACKBOT_ variable that is no setting (so is ignored), naming the closest one."""
    known = setting_names(model)
    warnings = []
    for variable in sorted(name.upper() for name in environ if name.upper().startswith(ENV_PREFIX)):
        if variable in known or any(variable.startswith(name + "__") for name in known):
            continue  # a key of a table, such as FEEDBACKBOT_CASES__ACK_MINUTES__HIGH
        closest = difflib.get_close_matches(
            variable.removeprefix(ENV_PREFIX), [n.removeprefix(ENV_PREFIX) for n in known]
        )
        hint = f"; did you mean {ENV_PREFIX}{closest[0]}?" if closest else f" (settings are {ENV_PREFIX}SECTION__KEY)"
        warnings.append(f"{variable} is not a setting and is ignored{hint}")
    return warnings


def moved_keys(model: type[Settings]) -> dict[tuple[str, str], tuple[str, str]]:
    """Where each key that moved into a channel's section went: (old section, key) -> (section, key)."""
    return {
        old: (name, key)
        for name, field in model.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, ChannelSection)
        for old, key in field.annotation.moved_here.items()
    }


def describe(error: ValidationError, moved: Mapping[tuple[str, str], tuple[str, str]] | None = None) -> str:
    """The first validation problem as '[section] key (ENV_VAR): message'; a key `moved` elsewhere is named so."""
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
        if len(location) == 2 and (now_at := (moved or {}).get((location[0], location[1]))):
            section, key = now_at
            message = f"moved to [{section}] {key} ({ENV_PREFIX}{section.upper()}__{key.upper()})"
    if first["type"] == "assertion_error" or not location:
        return message
    section, key = (location[0], ".".join(location[1:])) if len(location) > 1 else ("", location[0])
    name = f"[{section}] {key}" if section else key
    env_name = ENV_PREFIX + "__".join(location).upper()
    return f"{name} ({env_name}): {message}"
