"""Budgets from the config file: `budget = {usd, window[, model]}` (or a list of them) on `[keys.NAME]`
and `[teams.NAME]`, a key's `team`, and calendar windows (`day`, `week`, `month` in UTC or the configured
time zone, or `total`). Parsed and validated once, at start; a bad value is a `ConfigError`.

    plan = BudgetPlan.from_settings(settings)
    plan.applicable("alice", "openai", "gpt-4o")   # the key's budgets, then its team's, that cover the model
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..config import ConfigError, Settings

__all__ = ["WINDOWS", "BudgetPlan", "BudgetSpec", "Window", "from_units", "to_units"]

WINDOWS = ("day", "week", "month", "total")
UNITS = Decimal(10) ** 12  # money is counted in integer picodollars: exact in Redis, SQLite and Lua alike
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_units(usd: Decimal) -> int:
    """USD as whole picodollars, rounded up (a cost is never under-counted)."""
    return int((usd * UNITS).to_integral_value(ROUND_CEILING))


def from_units(units: int) -> Decimal:
    return Decimal(units) / UNITS


@dataclass(frozen=True, slots=True)
class Window:
    """One occurrence of a budget's window: when it started, and when it resets (None: never)."""

    start: dt.datetime
    reset: dt.datetime | None

    @property
    def tag(self) -> str:
        return str(int(self.start.timestamp()))


def window_at(kind: str, now: dt.datetime, tz: dt.tzinfo) -> Window:
    """The `kind` window holding `now` (calendar windows start at local midnight; weeks on Monday)."""
    if kind == "total":
        return Window(_EPOCH, None)
    local = now.astimezone(tz)
    day = dt.datetime(local.year, local.month, local.day, tzinfo=tz)
    if kind == "day":
        start, nxt = day, day.date() + dt.timedelta(days=1)
    elif kind == "week":
        start = day - dt.timedelta(days=local.weekday())
        nxt = start.date() + dt.timedelta(days=7)
    else:
        start = day.replace(day=1)
        nxt = (start.date().replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    reset = dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)  # wall-clock midnight, DST-safe
    return Window(start, reset)


@dataclass(frozen=True, slots=True)
class BudgetSpec:
    """One budget: who (`scope` "key" or "team", and `name`), how much per which window, for which models."""

    scope: str
    name: str
    window: str
    limit: Decimal
    model: str | None = None  # a pattern as in a key's `models` ("openai:gpt-4o*"); None: every model

    @property
    def limit_units(self) -> int:
        return to_units(self.limit)

    @property
    def id(self) -> str:
        return f"{self.scope}:{self.name}:{self.window}:{self.model or '*'}"

    def covers(self, provider: str, model: str) -> bool:
        if self.model is None:
            return True
        return fnmatchcase(f"{provider}:{model}", self.model) if ":" in self.model else fnmatchcase(model, self.model)

    def describe(self) -> str:
        what = f"{self.scope} '{self.name}'"
        return f"the {self.window} budget of ${self.limit} of {what}" + (f" for {self.model}" if self.model else "")


@dataclass(frozen=True, slots=True)
class BudgetPlan:
    by_key: Mapping[str, tuple[BudgetSpec, ...]]
    by_team: Mapping[str, tuple[BudgetSpec, ...]]
    team_of: Mapping[str, str]
    tz: dt.tzinfo

    def __bool__(self) -> bool:
        return bool(self.by_key or self.by_team)

    def budgets_of(self, key: str, team: str | None = None) -> tuple[BudgetSpec, ...]:
        """Every budget of the key and of its team (`team`, else the key's configured one)."""
        team = team if team is not None else self.team_of.get(key)
        return self.by_key.get(key, ()) + (self.by_team.get(team, ()) if team else ())

    def applicable(self, key: str, provider: str, model: str, team: str | None = None) -> list[BudgetSpec]:
        return [b for b in self.budgets_of(key, team) if b.covers(provider, model)]

    def members(self, team: str) -> list[str]:
        return sorted(k for k, t in self.team_of.items() if t == team)

    @classmethod
    def from_settings(cls, settings: Settings) -> BudgetPlan:
        """The budgets of `settings.file`; `ConfigError` names the first bad value."""
        file = settings.file
        try:
            tz: dt.tzinfo = ZoneInfo(settings.budget_time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"REQ_LLM_GATEWAY_BUDGET_TIME_ZONE: unknown time zone {settings.budget_time_zone!r}") from exc
        teams_raw = file.get("teams", {})
        if not isinstance(teams_raw, Mapping):
            raise ConfigError("[teams] must be a table of [teams.NAME] tables")
        by_team: dict[str, tuple[BudgetSpec, ...]] = {}
        for name, row in teams_raw.items():
            if not isinstance(row, Mapping):
                raise ConfigError(f"[teams.{name}] must be a table")
            _unknown(row, {"budget"}, f"[teams.{name}]")
            by_team[name] = _budgets(row.get("budget"), "team", name)
        by_key: dict[str, tuple[BudgetSpec, ...]] = {}
        team_of: dict[str, str] = {}
        for name, row in file.get("keys", {}).items():
            if not isinstance(row, Mapping):
                continue  # config.py reports it
            team = row.get("team")
            if team is not None:
                if not isinstance(team, str) or team not in by_team:
                    known = ", ".join(sorted(by_team)) or "none"
                    raise ConfigError(f"[keys.{name}] team = {team!r} names no [teams.NAME] table (known: {known})")
                team_of[name] = team
            specs = _budgets(row.get("budget"), "key", name)
            if specs:
                by_key[name] = specs
        by_team = {t: s for t, s in by_team.items() if s}
        return cls(by_key, by_team, team_of, tz)


def _unknown(row: Mapping[str, Any], known: set[str], where: str) -> None:
    extra = set(row) - known
    if extra:
        raise ConfigError(f"{where} has unknown keys {sorted(extra)}; known: {sorted(known)}")


def _budgets(raw: Any, scope: str, name: str) -> tuple[BudgetSpec, ...]:
    where = f"[{scope}s.{name}] budget"
    if raw is None:
        return ()
    rows: Sequence[Any] = [raw] if isinstance(raw, Mapping) else raw
    if isinstance(raw, str) or not isinstance(rows, Sequence):
        raise ConfigError(f'{where} must be a table {{ usd = "5.00", window = "day" }} or a list of them')
    specs: list[BudgetSpec] = []
    for row in rows:
        if not isinstance(row, Mapping):
            raise ConfigError(f'{where} must be a table {{ usd = "5.00", window = "day" }} or a list of them')
        _unknown(row, {"usd", "window", "model"}, where)
        usd = row.get("usd")
        try:
            limit = Decimal(usd) if isinstance(usd, str) else None
        except InvalidOperation:
            limit = None
        if limit is None or not limit.is_finite() or limit < 0:
            raise ConfigError(f'{where} usd must be a non-negative decimal string such as "5.00", got {usd!r}')
        window = row.get("window")
        if window not in WINDOWS:
            raise ConfigError(f"{where} window must be one of {', '.join(WINDOWS)}, got {window!r}")
        model = row.get("model")
        if model is not None and (not isinstance(model, str) or not model):
            raise ConfigError(f'{where} model must be a pattern such as "openai:gpt-4o*", got {model!r}')
        spec = BudgetSpec(scope, name, window, limit, model)
        if any(s.id == spec.id for s in specs):
            raise ConfigError(f"{where} has two budgets for the window {window!r}" + (f" and model {model}" if model else ""))
        specs.append(spec)
    return tuple(specs)
