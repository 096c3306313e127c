"""Every setting of every script, declared once: its type and, where it has one, its range or
its allowed values.

One table per script (train, study, games, generate, eval, leaderboard) maps dotted key patterns
to a ``Setting``; ``*`` stands for one key (``optimizer.*.lr``: either network's rate) and
``**`` for any number of keys (``**._target_``). Where several patterns match, the most specific
one (most literal keys) declares the key. ``check`` walks the composed config Hydra hands a
script and answers the first value its declaration refuses, in one sentence that names the key,
the value and what is allowed, before any work starts. A test composes every option of every
config group and fails on a key no pattern declares, so a setting cannot be added without its
type.

Why a table and not Hydra structured configs: ganopt's groups are ``_target_`` configs whose keys
are the built class's arguments (twenty optimizers with different ones under the same
``optimizer.generator``), so one dataclass per group cannot type them; a pattern table types all
options of a group at once and stays one file.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ganopt.errors import ConfigError

T = TypeVar("T")

KINDS = ("int", "float", "bool", "str", "list", "dict", "any")


@dataclass(frozen=True)
class Setting:
    """What one key takes: ``kind`` (``float`` accepts whole numbers too), an inclusive range
    [low, high] (``above`` makes low exclusive), ``choices``, whether null is allowed (the
    feature is off), for lists the ``length`` and each item's declaration, and what it means."""

    kind: str
    meaning: str = ""
    low: float | None = None
    high: float | None = None
    above: bool = False  # low is exclusive: lr > 0
    below: bool = False  # high is exclusive: a beta < 1
    choices: tuple[Any, ...] | None = None
    optional: bool = False
    length: tuple[int, ...] | None = None  # lists: the lengths allowed
    item: Setting | None = None  # lists: each element

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind

    def problem(self, value: Any) -> str | None:
        """None when ``value`` is allowed, else what is allowed, in words."""
        if value is None:
            return None if self.optional else self.allows()
        if not self._typed(value) or not self._in_range(value):
            return self.allows()
        if self.kind == "list":
            if self.length is not None and len(value) not in self.length:
                return self.allows()
            if self.item is not None and any(self.item.problem(v) for v in value):
                return self.allows()
        return None

    def _typed(self, value: Any) -> bool:
        if self.kind == "int":
            return isinstance(value, int) and not isinstance(value, bool)
        if self.kind == "float":
            number = isinstance(value, int | float) and not isinstance(value, bool)
            return number and not (isinstance(value, float) and math.isnan(value))
        if self.kind == "bool":
            return isinstance(value, bool)
        if self.kind == "str":
            return isinstance(value, str)
        if self.kind == "list":
            return isinstance(value, list | tuple)
        if self.kind == "dict":
            return isinstance(value, Mapping)
        return True

    def _in_range(self, value: Any) -> bool:
        if self.choices is not None and value not in self.choices:
            return False
        if self.low is not None and (value <= self.low if self.above else value < self.low):
            return False
        return self.high is None or (value < self.high if self.below else value <= self.high)

    def allows(self) -> str:
        words = {
            "int": "a whole number",
            "float": "a number",
            "bool": "true or false",
            "str": "a text",
            "list": "a list",
            "dict": "a mapping",
            "any": "any value",
        }[self.kind]
        if self.choices is not None:
            words = "one of " + ", ".join(_text(c) for c in self.choices)
        if self.low is not None and self.high is not None:
            left, right = "(" if self.above else "[", ")" if self.below else "]"
            words += f" in {left}{_text(self.low)}, {_text(self.high)}{right}"
        elif self.low is not None:
            words += f" {'>' if self.above else '>='} {_text(self.low)}"
        elif self.high is not None:
            words += f" <= {_text(self.high)}"
        if self.kind == "list":
            if self.length is not None:
                words = f"a list of {' or '.join(map(str, self.length))}"
            if self.item is not None:
                words += f", each {self.item.allows()}"
        if self.optional:
            words += ", or null"
        return words + (f" ({self.meaning})" if self.meaning else "")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---- constructors, so the tables read as declarations -----------------------------------------
def whole(low: int | None = None, high: int | None = None, meaning: str = "", **kw: Any) -> Setting:
    return Setting("int", meaning, low, high, **kw)


def number(
    low: float | None = None, high: float | None = None, meaning: str = "", **kw: Any
) -> Setting:
    return Setting("float", meaning, low, high, **kw)


def positive(meaning: str = "", **kw: Any) -> Setting:
    return Setting("float", meaning, 0, None, above=True, **kw)


def flag(meaning: str = "", **kw: Any) -> Setting:
    return Setting("bool", meaning, **kw)


def text(meaning: str = "", choices: Sequence[Any] | None = None, **kw: Any) -> Setting:
    return Setting("str", meaning, choices=tuple(choices) if choices else None, **kw)


def listing(
    item: Setting | None = None, length: Sequence[int] | None = None, meaning: str = "", **kw: Any
) -> Setting:
    return Setting("list", meaning, item=item, length=tuple(length) if length else None, **kw)


def mapping(meaning: str = "", **kw: Any) -> Setting:
    return Setting("dict", meaning, **kw)


def anything(meaning: str = "") -> Setting:
    return Setting("any", meaning)


Table = Mapping[str, Setting]


# ---- walking a config ---------------------------------------------------------------------------
def leaves(node: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of every setting: scalars, lists (one setting each) and empty
    mappings; an interpolation is resolved (a value that cannot be yet is skipped)."""
    if isinstance(node, DictConfig):
        if not node.keys():
            yield key, {}
        for name in node:
            path = f"{key}.{name!s}" if key else str(name)
            try:
                child = node[name]
            except OmegaConfBaseException:  # ??? (mandatory, unset) or unresolvable
                continue
            yield from leaves(child, path)
    elif isinstance(node, ListConfig):
        try:
            yield key, OmegaConf.to_container(node, resolve=True)
        except OmegaConfBaseException:
            return
    else:
        yield key, node


def _matches(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_matches(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and (head in ("*", parts[0])) and _matches(rest, parts[1:])


def most_specific(table: Mapping[str, T], key: str) -> T | None:
    """The value of ``table``'s most specific pattern that matches ``key`` (most literal keys,
    then fewest wildcards), or None."""
    parts = key.split(".")
    best: tuple[tuple[int, int], T] | None = None
    for pattern, value in table.items():
        split = pattern.split(".")
        if _matches(split, parts):
            rank = (sum(p not in ("*", "**") for p in split), -sum(p == "**" for p in split))
            if best is None or rank > best[0]:
                best = (rank, value)
    return best[1] if best else None


def declaration(table: Table, key: str) -> Setting | None:
    """What ``key`` takes, by ``table``'s most specific pattern (None: undeclared)."""
    return most_specific(table, key)


def flat(node: Any, key: str = "") -> dict[str, Any]:
    """A plain config (nested dicts, as stored in checkpoints and .hydra/config.yaml) as
    ``{dotted key: value}``; lists are values."""
    if not isinstance(node, Mapping):
        return {key: node} if key else {}
    out: dict[str, Any] = {}
    for name, child in node.items():
        out.update(flat(child, f"{key}.{name}" if key else str(name)))
    return out


def check(cfg: DictConfig, table: Table, skip: Sequence[str] = ("hydra",)) -> None:
    """Raise ConfigError for the first value its declaration refuses. Keys no pattern declares
    (added with ``+key=``) are the user's own and pass."""
    for key, value in leaves(cfg):
        if key.split(".")[0] in skip:
            continue
        setting = declaration(table, key)
        if setting is not None and (allowed := setting.problem(value)) is not None:
            raise ConfigError(f"{key}={_shown(value)} is not allowed: {key} takes {allowed}.")


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_shown(v) for v in value) + "]"
    return repr(value) if isinstance(value, str) else _text(value) if value is not None else "null"
