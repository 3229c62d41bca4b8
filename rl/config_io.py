"""Loading a pydantic config from its defaults, a YAML file and dotted command-line overrides.

    python rl/run.py --config configs/x.yaml trainer.lr=1e-6 tasks.h1.options.source=builtin

Layers, each changing only the keys it names: the run's own defaults (for a section, the values
its default instance sets on purpose, e.g. RunConfig's sampling T=0.7 and 128 tokens), then
the file (its sections merge into those), then each override. So `sampling.n=8` changes the
group size and nothing else, while a key left unset anywhere is derived anew by its model
(`trainer.loss=dapo` brings DAPO's epsilon_high). A dict of sections (`tasks`) is replaced
whole by the file that gives it. Values are parsed as YAML scalars (`1e-6` is a float, `true`
a bool, `[1,2]` a list). Any error becomes one `ConfigError` line naming the key and what is
allowed, raised before anything heavy starts.
"""

from __future__ import annotations

import copy
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

_FLOAT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+$")


class ConfigError(ValueError):
    """A bad config file or override; its message is one line meant for the user."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a mapping naming a key twice (YAML lets the last one win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen and key != "<<":
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def yaml_problem(error: yaml.YAMLError) -> str:
    """A YAML error as one phrase with its line and column (PyYAML's own text spans lines)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{problem}{where}"


def non_finite_key(data: Any, prefix: str = "") -> str | None:
    """The dotted key of the first inf or nan number in `data`, if any."""
    if isinstance(data, float) and not math.isfinite(data):
        return prefix or "(value)"
    items = (
        data.items()
        if isinstance(data, dict)
        else enumerate(data)
        if isinstance(data, list)
        else ()
    )
    for key, value in items:
        found = non_finite_key(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def parse_override(text: str) -> tuple[list[str], Any]:
    """`a.b.c=value` -> (["a", "b", "c"], parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"override {text!r} is not of the form dotted.key=value")
    try:
        value = yaml.load(raw, Loader=_UniqueKeyLoader) if raw.strip() else ""
    except yaml.YAMLError as error:
        raise ConfigError(
            f"override {text!r}: value is not valid YAML ({yaml_problem(error)})"
        ) from None
    if isinstance(value, str) and _FLOAT.match(value):
        value = float(value)  # YAML 1.1 reads `1e-6` (no dot) as a string
    if non_finite_key(value) is not None:
        raise ConfigError(f"override {text!r}: {raw.strip()} is not a finite number")
    return key.split("."), value


def apply_overrides(
    data: dict[str, Any], overrides: list[str], model: type[BaseModel] | None = None
) -> dict[str, Any]:
    """Set each override in `data`.

    A missing model section starts empty (pydantic fills its defaults, so values derived from
    other fields are derived anew); a missing entry of a dict of models (`tasks.h1`) starts
    as a copy of its default entry, so `tasks.h1.options.x=1` keeps `tasks.h1.generator`.
    """
    # model_construct: the defaults as they are, unvalidated (a default path relative to the
    # working directory must fail as the final config's one line, not here as a traceback)
    defaults = model.model_construct().model_dump(mode="json") if model is not None else {}
    for override in overrides:
        path, value = parse_override(override)
        node, owner, default = data, model, defaults
        for part in path[:-1]:
            default = default.get(part) if isinstance(default, dict) else None
            field = owner.model_fields.get(part) if owner is not None else None
            child = node.get(part)
            if child is None:
                entry = field is None and isinstance(default, dict)
                child = node[part] = copy.deepcopy(default) if entry else {}
            elif not isinstance(child, dict):
                raise ConfigError(f"override {override!r}: {part} is a value, not a section")
            if field is not None:
                owner = _inner_model(field.annotation)
            node = child
        if path[-1] == "kind" and node.get("kind", value) != value:
            node.clear()  # another member of a tagged union: the old member's fields do not apply
        node[path[-1]] = value
    return data


def explicit_defaults(model: type[BaseModel]) -> dict[str, Any]:
    """For each section of `model` whose default is an instance, the fields that instance sets
    to something other than its class's own default (JSON values); other fields' defaults."""
    data: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, BaseModel):
            chosen = _chosen_fields(default)
            if chosen:
                data[name] = chosen
        elif isinstance(default, dict) and any(isinstance(v, BaseModel) for v in default.values()):
            data[name] = {key: value.model_dump(mode="json") for key, value in default.items()}
    return data


def _chosen_fields(instance: BaseModel) -> dict[str, Any]:
    try:
        baseline = type(instance)()
    except ValidationError:  # no class default to compare with: everything set counts
        return instance.model_dump(mode="json", exclude_unset=True)
    # A tagged union's tag always counts: it says which fields the rest of the dict belongs to.
    chosen = {"kind": instance.kind} if "kind" in type(instance).model_fields else {}
    for name in instance.model_fields_set:
        value, base = getattr(instance, name), getattr(baseline, name)
        if isinstance(value, BaseModel) and type(value) is type(base):
            inner = _chosen_fields(value)
            if inner:
                chosen[name] = inner
        elif value != base:
            chosen[name] = instance.model_dump(mode="json", include={name})[name]
    return chosen


def merge_sections(
    model: type[BaseModel] | None, base: dict[str, Any], update: dict[str, Any]
) -> dict[str, Any]:
    """`update` laid over `base`: a key whose field is a section merges key by key, anything
    else (values, lists, dicts of sections) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        field = model.model_fields.get(key) if model is not None else None
        inner = _inner_model(field.annotation) if field is not None else None
        is_section = inner is not None and typing.get_origin(field.annotation) is not dict
        if (
            is_section
            and isinstance(value, dict)
            and isinstance(merged.get(key), dict)
            and value.get("kind", merged[key].get("kind")) == merged[key].get("kind")
        ):  # same section; another `kind` of a tagged union replaces it whole
            merged[key] = merge_sections(inner, merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
            f"offset {error.start}): give a YAML file"
        ) from None
    except OSError as error:
        raise ConfigError(f"config file {path} cannot be read: {error.strerror}") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {yaml_problem(error)}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping at the top, got {type(data).__name__}"
        )
    return data


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model class that owns the last element of `loc`, if one can be found."""
    current: type[BaseModel] | None = model
    for part in loc[:-1]:
        if current is None:
            return None
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is not None:
            current = _inner_model(field.annotation)
        # else: a dict key or list index inside a container of models; stay on that model
    return current


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside `X`, `X | None`, `dict[str, X]` or `list[X]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _inner_model(arg)
            if found is not None:
                return found
    return None


def format_error(model: type[BaseModel], error: ValidationError) -> str:
    """The first validation error as one line: `key.path: what is wrong (allowed: ...)`."""
    item = error.errors()[0]
    loc = tuple(part for part in item["loc"] if not (isinstance(part, str) and "[" in part))
    key = ".".join(str(part) for part in loc) or "(top level)"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    if not loc and item["type"] == "value_error":  # a cross-section check names its own keys
        return f"config error: {item['msg'].removeprefix('Value error, ')}{more}"
    if item["type"] == "extra_forbidden":
        owner = _model_at(model, loc)
        allowed = f"; allowed keys: {', '.join(owner.model_fields)}" if owner else ""
        return f"config error: {key}: unknown key{allowed}{more}"
    message = item["msg"].removeprefix("Value error, ")
    got = item.get("input")
    shown = (
        "" if isinstance(got, dict | list) or item["type"] == "value_error" else f" (got {got!r})"
    )
    return f"config error: {key}: {message}{shown}{more}"


def load_config(
    model: type[BaseModel], path: str | Path | None = None, overrides: list[str] | None = None
) -> BaseModel:
    """Defaults <- YAML file <- overrides, validated by `model`; raises ConfigError."""
    data = merge_sections(model, explicit_defaults(model), read_yaml(path) if path else {})
    data = apply_overrides(data, overrides or [], model)
    infinite = non_finite_key(data)
    if infinite is not None:
        raise ConfigError(f"config error: {infinite}: must be a finite number")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise ConfigError(format_error(model, error)) from None


def dump_config(config: BaseModel) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
