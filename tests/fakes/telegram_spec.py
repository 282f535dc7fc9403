"""Check Telegram Bot API calls and objects against the machine-readable spec in tests/reference/specs.

The spec (github.com/PaulSonOfLars/telegram-bot-api-spec) lists every method with its parameters and every type
with its fields: name, possible types ("Integer", "Array of MessageEntity", "InlineKeyboardMarkup", ...) and whether
it is required. Union types (ChatMember, BotCommandScope, ...) list their `subtypes`; a subtype's discriminating
field says `always "kicked"` in its description, which is enforced too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).resolve().parents[1] / "reference" / "specs" / "telegram-bot-api.json"
ARRAY = "Array of "
# A union subtype's discriminator: 'Type of the reaction, always "emoji"', 'Scope type, must be chat'.
_ALWAYS = re.compile(r'always "([^"]+)"|, must be ([a-z0-9_]+)$')
_INTEGER = re.compile(r"-?\d+")
# Fields of InlineKeyboardButton that do not choose the kind of the button.
_BUTTON_DECORATION = frozenset({"text", "icon_custom_emoji_id", "style"})

JSON = Any
Rule = Callable[[Mapping[str, JSON]], list[str]]


@dataclass(frozen=True)
class Field:
    """One parameter of a method or one field of a type."""

    name: str
    types: tuple[str, ...]
    required: bool
    always: str | None = None


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part (an InputFile)."""

    filename: str
    size: int
    data: bytes = dataclasses.field(default=b"", repr=False)  # what was sent, for a test to look at


def _fields(entry: Mapping[str, Any]) -> dict[str, Field]:
    return {
        f["name"]: Field(f["name"], tuple(f["types"]), f["required"], _always(f["description"]))
        for f in entry.get("fields", [])
    }


def _always(description: str) -> str | None:
    """The constant value of a discriminating field (`type`, `status`, `source`) of a union's subtype."""
    match = _ALWAYS.search(description)
    return (match[1] or match[2]) if match else None


class TelegramSpec:
    """The Bot API as data: validates method calls and (possibly nested) objects."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version: str = data["version"]
        self.methods = {name: _fields(m) for name, m in data["methods"].items()}
        self.returns = {name: tuple(m["returns"]) for name, m in data["methods"].items()}
        self.types = {name: _fields(t) for name, t in data["types"].items() if "fields" in t}
        self.unions = {name: tuple(t["subtypes"]) for name, t in data["types"].items() if "subtypes" in t}
        self._by_lower = {name.lower(): name for name in self.methods}

    @classmethod
    @cache
    def load(cls, path: Path = SPEC_PATH) -> TelegramSpec:
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def canonical(self, method: str) -> str | None:
        """The spec's spelling of a method name (Telegram matches method names case-insensitively)."""
        return self._by_lower.get(method.lower())

    def check_call(self, method: str, params: Mapping[str, JSON]) -> list[str]:
        """Problems with a call: unknown/missing parameters, wrong types, limits."""
        return self._check_fields(params, self.methods[method], method, "parameter")

    def check(self, value: JSON, types: Sequence[str], where: str = "value") -> list[str]:
        """Problems with a value that must be one of `types`; empty if it fits one of them."""
        best: list[str] | None = None
        for type_ in types:
            errors = self._check_one(value, type_, where)
            if not errors:
                return []
            if best is None or len(errors) < len(best):
                best = errors
        return best or [f"{where}: no type given"]

    def decode_form(self, method: str, raw: Mapping[str, str]) -> dict[str, JSON]:
        """Turn form/query strings into typed values, as Telegram does, guided by the parameter's types."""
        fields = self.methods.get(method, {})
        return {key: _coerce(value, fields[key].types if key in fields else ("Object",)) for key, value in raw.items()}

    def _check_one(self, value: JSON, type_: str, where: str) -> list[str]:
        if type_.startswith(ARRAY):
            if not isinstance(value, list):
                return [f"{where}: expected {type_}, got {_kind(value)}"]
            item_type = [type_.removeprefix(ARRAY)]
            return [e for i, item in enumerate(value) for e in self.check(item, item_type, f"{where}[{i}]")]
        if type_ in _PRIMITIVES:
            return [] if _PRIMITIVES[type_](value) else [f"{where}: expected {type_}, got {_kind(value)}"]
        if type_ == "InputFile":
            return [] if isinstance(value, str | Upload) else [f"{where}: expected InputFile, got {_kind(value)}"]
        if type_ in self.unions:  # RichText's subtypes include String and Array of RichText
            return self.check(value, self._matching_subtypes(value, type_), where)
        if not isinstance(value, dict):
            return [f"{where}: expected {type_} object, got {_kind(value)}"]
        if type_ in self.types:
            return self._check_fields(value, self.types[type_], type_, "field", where)
        return []  # a type without fields (CallbackGame, ForumTopicClosed, ...): any object

    def _check_fields(
        self, obj: Mapping[str, JSON], fields: Mapping[str, Field], owner: str, noun: str, where: str = ""
    ) -> list[str]:
        prefix = f"{where}." if where else ""
        errors = [f"unknown {noun} {prefix}{key}" for key in obj if key not in fields]
        for field in fields.values():
            if field.name not in obj:
                errors += [f"{noun} {prefix}{field.name} is required"] if field.required else []
                continue
            value = obj[field.name]
            errors += self.check(value, field.types, f"{prefix}{field.name}")
            if field.always is not None and value != field.always:
                errors.append(f"{prefix}{field.name} must be {field.always!r}, got {value!r}")
        return errors + [f"{where or owner}: {e}" for e in RULES.get(owner, _no_rule)(obj)]

    def _matching_subtypes(self, value: JSON, union: str) -> Sequence[str]:
        """The subtypes whose discriminator (`always "x"`) the value carries; all of them if none does."""
        subtypes = self.unions[union]
        if not isinstance(value, dict):
            return subtypes
        matching = [
            name
            for name in subtypes
            for f in self.types.get(name, {}).values()
            if f.always is not None and value.get(f.name) == f.always
        ]
        return matching or subtypes


def _coerce(raw: str, types: Sequence[str]) -> JSON:
    for type_ in sorted(types, key=lambda t: t in ("String", "InputFile")):
        if type_ == "Integer" and _INTEGER.fullmatch(raw):
            return int(raw)
        if type_ == "Float":
            try:
                return float(raw)
            except ValueError:
                continue
        if type_ == "Boolean" and raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if type_ in ("String", "InputFile"):
            return raw
        if type_ not in _PRIMITIVES:
            try:
                return json.loads(raw)
            except ValueError:
                continue
    return raw


def _kind(value: JSON) -> str:
    return type(value).__name__


_PRIMITIVES: dict[str, Callable[[JSON], bool]] = {
    "Integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "Float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "Boolean": lambda v: isinstance(v, bool),
    "String": lambda v: isinstance(v, str),
}


# Rules the spec only states in prose, keyed by method or type name.


def _no_rule(obj: Mapping[str, JSON]) -> list[str]:
    return []


def _text_length(limit: int, *, required: bool = True) -> Rule:
    def rule(obj: Mapping[str, JSON]) -> list[str]:
        text = obj.get("text")
        if not isinstance(text, str):
            return []
        size = len(text.strip())
        ok = (1 if required else 0) <= size <= limit
        return [] if ok else [f"text must be {int(required)}-{limit} characters after strip, got {size}"]

    return rule


def _button(obj: Mapping[str, JSON]) -> list[str]:
    kinds = sorted(set(obj) - _BUTTON_DECORATION)
    errors = [] if len(kinds) == 1 else [f"a button needs exactly one kind of action, got {kinds}"]
    data = obj.get("callback_data")
    if isinstance(data, str) and not 1 <= len(data.encode()) <= 64:
        errors.append(f"callback_data must be 1-64 bytes, got {len(data.encode())}")
    return errors


def _edit_target(obj: Mapping[str, JSON]) -> list[str]:
    by_chat = "chat_id" in obj and "message_id" in obj
    if by_chat == ("inline_message_id" in obj):
        return ["pass either chat_id and message_id, or inline_message_id"]
    return []


def _edit_text(obj: Mapping[str, JSON]) -> list[str]:
    missing = [] if "text" in obj or "rich_message" in obj else ["text is required"]
    return _edit_target(obj) + missing + _text_length(4096)(obj)


def _one_update(obj: Mapping[str, JSON]) -> list[str]:
    kinds = sorted(set(obj) - {"update_id"})
    return [] if len(kinds) == 1 else [f"an update carries exactly one object, got {kinds}"]


RULES: dict[str, Rule] = {
    "sendMessage": _text_length(4096),
    "editMessageText": _edit_text,
    "editMessageReplyMarkup": _edit_target,
    "answerCallbackQuery": _text_length(200, required=False),
    "InlineKeyboardButton": _button,
    "Update": _one_update,
}
