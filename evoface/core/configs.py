"""Config dataclasses: declared ranges checked in one place, and the one way every command starts or resumes a run.

A field declares its range (or choices) with ``bounded``; ``check_fields`` rejects, for every field of a config
(also fields added later, with or without a declared range): a number that is NaN or infinite, an integer beyond 64
bits, a value outside its range. A config class derives from ``RunConfig`` and declares its run ``kind`` (the kind of
its checkpoints), ``resume_changeable`` (the fields a resumed run may change) and ``given_together`` (fields typed as
one group: typing one of them drops the defaults of the others, e.g. evolve's stopping rules).

``new_config`` and ``resume_config`` build a config from the options a user typed (never from defaults filled in by
a parser: those live only in the dataclass). A resumed run takes its folder from the caller, never from the stored
config, its kind from its checkpoint, and what config.json lacks from the config saved in that checkpoint (a
config.json that disagrees with it is refused).
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import sys
from dataclasses import MISSING, Field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from evoface.core.errors import InputError

ConfigT = TypeVar("ConfigT", bound="RunConfig")
INT_LIMIT = 2**63  # integers must fit a signed 64-bit value (numpy, torch and numba all need that)
SEED_MAX = INT_LIMIT - 1


@dataclasses.dataclass(frozen=True)
class Range:
    """A closed or half-open interval; either end may be absent (only finiteness is then required)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        low = "" if self.low is None else f"{self.low:g} {'<' if self.low_open else '<='} "
        high = "" if self.high is None else f" {'<' if self.high_open else '<='} {self.high:g}"
        return f"{low}x{high}"


def bounded(default: Any = MISSING, low: float | None = None, high: float | None = None, *, low_open: bool = False,
            high_open: bool = False, choices: tuple | None = None, flag: str | None = None,
            default_factory: Any = MISSING) -> Any:
    """A dataclass field with a declared range (or choices) and, when its option is not ``--field-name``, its flag."""
    metadata: dict[str, Any] = {}
    if low is not None or high is not None:
        metadata["range"] = Range(low, high, low_open, high_open)
    if choices is not None:
        metadata["choices"] = tuple(choices)
    if flag is not None:
        metadata["flag"] = flag
    return dataclasses.field(default=default, default_factory=default_factory, metadata=metadata)


def seed_field() -> Any:
    return bounded(0, 0, SEED_MAX)


def flag_of(field: Field) -> str:
    """The command-line option of a field: ``--field-name`` unless the field declares another."""
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def check_value(field: Field, value: Any) -> None:
    """InputError unless ``value`` is acceptable for ``field``: finite, 64-bit, in range, one of its choices."""
    if value is None or isinstance(value, bool):
        return
    flag = flag_of(field)
    choices = field.metadata.get("choices")
    if choices is not None and value not in choices:
        raise InputError(f"{flag} must be one of {', '.join(map(str, choices))}, got {value!r}")
    if isinstance(value, numbers.Integral):
        if not -INT_LIMIT <= value < INT_LIMIT:
            raise InputError(f"{flag} is too large: {value}")
    elif isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise InputError(f"{flag} must be a finite number, got {value}")
    else:
        return
    limits = field.metadata.get("range")
    if limits is not None and value not in limits:
        raise InputError(f"{flag} must be in the range {limits.describe()}, got {value:g}")


def check_fields(config: Any) -> None:
    """Check every field of a config instance against ``check_value``."""
    for field in dataclasses.fields(config):
        check_value(field, getattr(config, field.name))


class RunConfig:
    """Base of every command's config dataclass: what the run-start and resume mechanism needs to know."""

    kind: ClassVar[str] = ""                          # the ``kind`` of this command's checkpoints
    command: ClassVar[str] = ""                       # the command that runs it, for messages
    resume_changeable: ClassVar[tuple[str, ...]] = ("device",)  # fields a resumed run may change
    given_together: ClassVar[tuple[str, ...]] = ()    # typing one of these resets the others to None
    # fields added after runs were made: what a resumed run whose config.json lacks one ran with
    absent_in_older_runs: ClassVar[dict[str, Any]] = {}

    def validate(self) -> None:
        """Check every field's range; subclasses add checks across fields (calling this first)."""
        check_fields(self)


def fields_by_name(config_type: type) -> dict[str, Field]:
    return {f.name: f for f in dataclasses.fields(config_type)}


def _with_group(config_type: type, typed: dict[str, Any]) -> dict[str, Any]:
    group = getattr(config_type, "given_together", ())
    if any(name in typed for name in group):
        return {**dict.fromkeys(group), **typed}
    return dict(typed)


def new_config(config_type: type[ConfigT], typed: dict[str, Any]) -> ConfigT:
    """A config from the options the user typed, the dataclass defaults for the rest; validated."""
    fields = fields_by_name(config_type)
    missing = [f for f in fields.values() if f.name not in typed and f.default is MISSING
               and f.default_factory is MISSING]
    if missing:
        raise InputError(f"{' and '.join(flag_of(f) for f in missing)} {'is' if len(missing) == 1 else 'are'} "
                         f"required{' (or --resume RUN)' if config_type.kind else ''}")
    config = config_type(**_with_group(config_type, typed))
    config.validate()
    return config


def describe_kind(kind: str) -> str:
    """'an evolve run', 'a train-gan run': a run's kind as its command's name where this process knows it."""
    command = next((c.command for c in _run_config_types() if c.kind == kind and c.command), None)
    if command is None:
        return f"a run of kind {kind!r}"
    return f"{'an' if command[0] in 'aeiou' else 'a'} {command} run"


def _run_config_types() -> list[type]:
    found, todo = [], list(RunConfig.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _plain(value: Any) -> Any:
    """A value as config.json holds it (tuples as lists, ...)."""
    return json.loads(json.dumps(value, default=str))


def _listed(names: list[str], shown: int = 4) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def stored_values(config_type: type, run_dir: str | Path, stored: dict[str, Any], saved: dict[str, Any] | None,
                  checkpoint: str) -> dict[str, Any]:
    """The field values a resumed run continues with: config.json (``stored``) over the config saved in its
    checkpoint (``saved``) over ``absent_in_older_runs``.

    InputError when config.json disagrees with the checkpoint on a field a resume may not change, or, for a run
    without a saved config, when config.json lacks a field. A field only the checkpoint holds is taken from it, with
    a warning.
    """
    fields = fields_by_name(config_type)
    older = config_type.absent_in_older_runs
    own = {k: v for k, v in stored.items() if k in fields and k != "out"}
    if saved is None:
        lacking = [name for name in fields if name not in own and name not in older and name != "out"]
        if lacking:
            raise InputError(f"{run_dir}/config.json lacks {_listed(lacking)}, and the run holds no checkpoint with "
                             f"its config: start a new run")
        return {**older, **own}
    kept = {k: v for k, v in saved.items() if k in fields and k != "out"}
    differ = [k for k in own if k in kept and k not in config_type.resume_changeable and own[k] != _plain(kept[k])]
    if differ:
        raise InputError(f"{run_dir}/config.json disagrees with {checkpoint}: "
                         f"{'; '.join(f'{k} is {own[k]!r} in config.json, {kept[k]!r} in the checkpoint' for k in differ[:3])}"
                         f"; restore config.json, or delete those keys from it to use the checkpoint's values")
    taken = [k for k in kept if k not in own and k not in older]
    if taken:
        print(f"warning: {run_dir}/config.json lacks {_listed(taken)}: using the values saved in {checkpoint}",
              file=sys.stderr)
    return {**older, **kept, **own}


def resume_config(config_type: type[ConfigT], run_dir: str | Path, typed: dict[str, Any],
                  stored: dict[str, Any], kind: str | None, saved: dict[str, Any] | None = None,
                  checkpoint: str = "its checkpoint") -> ConfigT:
    """The stored config of the run in ``run_dir`` with the typed options applied; validated.

    ``stored`` is the run's config.json, ``kind`` the kind of its checkpoint (None when it has none yet), ``saved``
    the config saved in that checkpoint (see ``stored_values``). Typing an option the config does not let change on
    resume is an InputError naming it (unless it repeats the stored value).
    """
    if kind is not None and kind != config_type.kind:
        raise InputError(f"{run_dir} is {describe_kind(kind)}, not {describe_kind(config_type.kind)}")
    fields = fields_by_name(config_type)
    if typed.get("out") not in (None, str(run_dir)):
        raise InputError("--out cannot be combined with --resume (the run stays in its folder)")
    values = stored_values(config_type, run_dir, stored, saved, checkpoint)
    missing = [f.name for f in fields.values() if f.name not in values and f.default is MISSING
               and f.default_factory is MISSING and f.name != "out"]
    if missing:
        raise InputError(f"{run_dir} is not {describe_kind(config_type.kind)} (its config.json lacks "
                         f"{', '.join(missing)})")
    typed = {k: v for k, v in typed.items() if k != "out"}
    fixed = [k for k, v in typed.items() if k not in config_type.resume_changeable and values.get(k) != v]
    if fixed:
        may = ", ".join(flag_of(fields[k]) for k in config_type.resume_changeable if k in fields)
        raise InputError(f"{', '.join(flag_of(fields[k]) for k in fixed)} cannot change on --resume (the run keeps "
                         f"{', '.join(f'{k}={values.get(k)!r}' for k in fixed)}); a resumed run may change {may}")
    try:
        config = config_type(**{**values, "out": str(run_dir), **_with_group(config_type, typed)})
    except TypeError as exc:
        raise InputError(f"{run_dir}/config.json does not match {describe_kind(config_type.kind)}: {exc}") from None
    config.validate()
    return config


def run_config(config_type: type[ConfigT], typed: dict[str, Any],
               resume_dir: str | Path | None = None) -> tuple[ConfigT, bool]:
    """The config of the run a command starts (typed options over the dataclass defaults) or, with ``resume_dir``,
    continues (typed options over the run's stored config; its kind read from its checkpoint); and whether it
    resumes."""
    from evoface.core.checkpoints import read_checkpoint  # torch: imported only to resume
    from evoface.core.rundir import RunDir

    if resume_dir is None:
        return new_config(config_type, typed), False
    run = RunDir(resume_dir, create=False)
    stored = run.read_stored_config()
    ckpt = read_checkpoint(run.last_checkpoint) if run.has_checkpoint else {"kind": stored.get("kind")}
    saved = ckpt.get("config") if isinstance(ckpt.get("config"), dict) else None
    return resume_config(config_type, str(resume_dir), typed, stored, ckpt["kind"], saved,
                         str(run.last_checkpoint)), True
