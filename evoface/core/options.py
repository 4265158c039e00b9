"""Click options made from config dataclass fields: the default, the range (shown in --help) and the choices come
from the field, so a command's parameters are declared once, in its config."""

from __future__ import annotations

import importlib
import math
import re
import types
import typing
from dataclasses import MISSING
from typing import Any

import click
from click.core import ParameterSource

from evoface.core.configs import fields_by_name, flag_of, run_config


def _finite(param_type: click.ParamType, number: float, value: Any, param, ctx) -> float:
    if not math.isfinite(number):
        param_type.fail(f"{value!r} is not a finite number", param, ctx)
    return number


class FiniteFloat(click.types.FloatParamType):
    """A float option that rejects NaN and infinities."""

    def convert(self, value, param, ctx):
        return _finite(self, super().convert(value, param, ctx), value, param, ctx)


class FiniteFloatRange(click.FloatRange):
    """A float option that rejects NaN and infinities besides values outside its range."""

    def convert(self, value, param, ctx):
        _finite(self, click.types.FloatParamType.convert(self, value, param, ctx), value, param, ctx)
        return super().convert(value, param, ctx)


class Duration(click.ParamType):
    """A duration such as 90, 90s, 10m, 1.5h (plain numbers are seconds)."""

    name = "duration"
    UNITS = {"": 1, "s": 1, "m": 60, "h": 3600}

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", str(value))
        if not match or not 0 < float(match.group(1)) < math.inf:
            self.fail(f"{value!r} is not a positive duration like 90s, 10m or 1.5h", param, ctx)
        return float(match.group(1)) * self.UNITS[match.group(2)]


def _value_type(hint: Any) -> Any:
    """int for ``int | None``, list for ``list[str]``, and so on."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            hint = args[0]
    return typing.get_origin(hint) or hint


def field_option(config_type: type, name: str, *flags: str, **kwargs: Any) -> click.Option:
    """A click option for field ``name`` of ``config_type``: its flag, default, type, range and choices come from
    the field (``kwargs`` may add help or override any of them)."""
    field = fields_by_name(config_type)[name]
    value_type = _value_type(typing.get_type_hints(config_type)[name])
    flags = flags or (flag_of(field),)
    default = field.default if field.default is not MISSING else None
    limits, choices = field.metadata.get("range"), field.metadata.get("choices")
    options: dict[str, Any] = {}
    if value_type is bool:
        if default and "/" not in flags[0]:  # a switch that is on by default can be turned off
            flags = (f"{flags[0]}/--no-{flags[0][2:]}", *flags[1:])
        options["is_flag"] = True
    elif value_type is list:
        options["multiple"] = True
    elif choices is not None:
        options["type"] = click.Choice(choices)
    elif value_type is int:
        options["type"] = click.IntRange(*_bounds(limits)) if limits else click.INT
    elif value_type is float:
        options["type"] = FiniteFloatRange(*_bounds(limits)) if limits else FiniteFloat()
    if default is not None and value_type is not list:
        options.update(default=default, show_default=True)
    options.update(kwargs)
    return click.Option([*flags, name], **options)


def config_options(target: str, *specs: str | tuple[str, dict[str, Any]]):
    """Options for fields of the config class ``target`` ("module:Class"), built by ``ConfigCommand`` when the
    command is used (so ``evoface --help`` imports no command's module). Each spec is a field name, or (name,
    keywords for ``field_option``, with "flags" for flags other than the field's own)."""
    def decorate(function):
        function.__config_options__ = [(target, spec) for spec in specs] + getattr(function, "__config_options__", [])
        return function
    return decorate


class ConfigCommand(click.Command):
    """A command whose config-field options (``config_options``) are made on first use, before its other options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending = getattr(self.callback, "__config_options__", [])

    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        if self._pending:
            made = []
            for target, spec in self._pending:
                module, _, name = target.partition(":")
                config_type = getattr(importlib.import_module(module), name)
                field, keywords = (spec, {}) if isinstance(spec, str) else spec
                keywords = dict(keywords)
                made.append(field_option(config_type, field, *keywords.pop("flags", ()), **keywords))
            self._pending = []
            self.params[:0] = made
        return super().get_params(ctx)


def _bounds(limits) -> tuple:
    if limits is None:
        return None, None, False, False
    return limits.low, limits.high, limits.low_open, limits.high_open


def typed_options(ctx: click.Context | None = None) -> dict[str, Any]:
    """The options the user typed on the command line (not the defaults click filled in); repeated ones as lists."""
    ctx = ctx or click.get_current_context()
    return {name: list(value) if isinstance(value, tuple) else value for name, value in ctx.params.items()
            if ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE}


def command_config(config_type: type, resume_dir: str | None = None, **extra: Any) -> tuple[Any, bool]:
    """The config of the run the current command starts or resumes (see ``run_config``) from the options the user
    typed that are fields of ``config_type``, plus ``extra`` (values the command derived itself)."""
    names = set(fields_by_name(config_type))
    typed = {k: v for k, v in typed_options().items() if k in names}
    return run_config(config_type, {**typed, **extra}, resume_dir)
