"""A workload's target: rules like ``{eval/modes: ">= 8"}`` on a run's metrics (AlgoPerf's
validation target), read by time to target, the study's success rate and the config checks;
no torch or Lightning here, so a mistake answers before they load."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from ganopt.errors import ConfigError

OPERATORS = (">=", "<=")


def check_target(target: Mapping[str, str], key: str = "target") -> None:
    """Each rule is ``">= <number>"`` or ``"<= <number>"``."""
    for metric, rule in target.items():
        parts = str(rule).split()
        try:
            valid = len(parts) == 2 and parts[0] in OPERATORS and math.isfinite(float(parts[1]))
        except ValueError:
            valid = False
        if not valid:
            raise ConfigError(
                f"{key}.{metric}={rule!r} is not allowed: a target is '>= <number>' or "
                f"'<= <number>', e.g. {key}={{eval/modes: '>= 8'}}."
            )


def holds(value: Any, rule: str) -> bool:
    """Whether ``value`` meets ``rule`` (">= 8", "<= 0.05"); a missing value does not."""
    if value is None:
        return False
    operator, bound = str(rule).split()
    return float(value) >= float(bound) if operator == ">=" else float(value) <= float(bound)


def meets(metrics: Mapping[str, Any], target: Mapping[str, str]) -> bool:
    return all(holds(metrics.get(metric), rule) for metric, rule in target.items())
