"""`python -m synth NAME ...`: sample a registered generator's tasks into a dataset on disk, one
config per level, with its dataset card; `--push-to-hub` publishes the same to the Hub.

    python -m synth h1 --horizon 5 --n 1000 --seed 0 --source builtin --out data/h1-h5
    python -m synth h1 --horizon 1 2 3 4 --n 1000 --out data/h1-levels \
        --push-to-hub ORG/h1-chains [--private] [--revision BRANCH]
    python -m synth h1 --horizon 1 --n 500 --source gsm8k:../shared/data/gsm8k/test.jsonl \
        --purpose eval --out data/h1-eval
    python -m synth keychain --levels context_tokens=4096,num_chains=2 \
        context_tokens=16384,num_chains=16 --n 500 --out data/kc \
        --source hotpotqa:../shared/data/multihop/hotpotqa_dev_distractor_500.jsonl
    python -m synth NAME --help                       # its flags, defaults and their meaning
    python -m synth filter --data DIR --model M --samples 8 --drop-solved --drop-unsolved \
        --out DIR2                                    # keep records by a model's pass rate

Every subcommand is built from what the generator declares, with no per-generator code here:
level flags from its `level_class` (e.g. --horizon), option flags from its `config_class`
(e.g. --source), each with the field's type, default and docstring; plus the common flags
--n, --seed, --levels, --out, --push-to-hub, --private and --revision.

Levels: a level flag takes one or more values and the levels are all their combinations
(`--context-tokens 4096 8192 --num-chains 2 4` makes four); `--levels` lists the points instead,
`axis=value,...` each (a level flag with one value fills an axis a point leaves out). Each level
gets --n records and is one config, named like `horizon_3` or `context_tokens_4096-num_chains_2`.
`--out DIR` (refused when it holds a dataset already, unless --overwrite; written beside it
and renamed into place, so an interrupted run leaves no half dataset) holds what `datasets.load_from_disk(DIR)` reads (Task rows, synth/task.py): a
Dataset for one level, a DatasetDict keyed by config for several; DIR/README.md is the card
(synth/card.py), the text the Hub gets too (synth/publish.py). A push that fails leaves DIR
as it is and says how to publish it again (`python -m synth.publish DIR --repo ORG/NAME`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from models import EMBEDDED_CONTEXT_TOKENS
from synth import GENERATORS
from synth.card import CardInputs, CardLevel, config_name, dataset_card
from synth.data_warnings import level_warnings
from synth.hub import HubError, check_repo_id, require_token
from synth.publish import check_out_dir, push_dataset, write_local
from synth.task import Task

log = logging.getLogger("synth")
COMMON = ("n", "seed", "levels", "out", "overwrite", "push_to_hub", "private", "revision")


def flag(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def _unwrap_optional(annotation: Any) -> Any:
    """`X | None` -> X (the CLI cannot spell None; leaving the flag out keeps the default)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _scalar(annotation: Any) -> dict[str, Any]:
    """argparse type/choices for one value of `annotation`."""
    if typing.get_origin(annotation) is Literal:
        choices = typing.get_args(annotation)
        return {"type": type(choices[0]), "choices": choices}
    if annotation in (int, float, str):
        return {"type": annotation}
    import yaml

    return {"type": yaml.safe_load}  # a dict or another structure, written as YAML


def add_field(
    parser: argparse.ArgumentParser, name: str, field: FieldInfo, several: bool = False
) -> None:
    """One flag for a pydantic field: its type, whether it is required, its docstring as help.
    `several`: the flag takes one or more values (a level axis) and is never required, since
    --levels may give the axis instead."""
    annotation = _unwrap_optional(field.annotation)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": name}
    origin = typing.get_origin(annotation)
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin in (tuple, list):
        kwargs.update(_scalar(typing.get_args(annotation)[0]), nargs="+", metavar="VALUE")
    else:
        kwargs.update(_scalar(annotation))
    if several:
        kwargs.update(nargs="+", metavar="VALUE")
    required = field.is_required() and not several
    text = " ".join((field.description or "").split())
    shown = field.get_default(call_default_factory=True)
    default = "" if field.is_required() else f" (default: {shown})"
    kwargs["help"] = (text + default).replace("%", "%%")
    kwargs["required"] = required
    parser.add_argument(flag(name), **kwargs)


MODEL_FLAGS = ("model", "backend", "workers", "max_model_len", "kv_cache_gib", "dtype")


def add_model_flags(group: Any) -> None:
    """The model a model-driven generator writes with (rl.completions.ModelSettings checks
    them)."""
    group.add_argument(
        "--model", default="embedded", help="embedded | model dir | run dir | Hub id"
    )
    group.add_argument("--backend", default="vllm", help="vllm | hf")
    group.add_argument("--workers", type=int, default=1, help="rollout workers")
    group.add_argument("--max-model-len", type=int, default=4096, help="prompt + completion tokens")
    group.add_argument("--kv-cache-gib", type=float, default=0.5, help="KV cache per worker")
    group.add_argument("--dtype", default="auto", help="auto | float32 | bfloat16")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m synth",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="python -m synth filter --help: keep records by a model's pass rate (rl/filter.py)",
    )
    subparsers = parser.add_subparsers(dest="generator", required=True, metavar="GENERATOR")
    for name, generator in GENERATORS.items():
        summary = (generator.__doc__ or name).strip().splitlines()[0]
        sub = subparsers.add_parser(name, help=summary, description=summary)
        common = sub.add_argument_group("dataset")
        common.add_argument("--n", type=int, required=True, help="how many tasks per level")
        common.add_argument("--seed", type=int, default=0, help="same seed, same tasks")
        common.add_argument("--out", required=True, help="directory for datasets.save_to_disk")
        common.add_argument(
            "--overwrite", action="store_true", help="replace a dataset already in --out"
        )
        common.add_argument(
            "--push-to-hub", default=None, metavar="ORG/NAME", help="also publish, with the card"
        )
        common.add_argument("--private", action="store_true", help="create the Hub repo private")
        common.add_argument("--revision", default=None, help="Hub branch to push to (made if new)")
        level = sub.add_argument_group("levels (points on the difficulty axes)")
        level.add_argument(
            "--levels",
            nargs="+",
            default=None,
            metavar="AXIS=V,...",
            help="the levels, one point each (instead of several values per level flag)",
        )
        for field_name, field in generator.level_class.model_fields.items():
            add_field(level, field_name, field, several=True)
        if getattr(generator, "needs_model", False):
            add_model_flags(sub.add_argument_group("model (served by the Ray rollout pool)"))
        options = sub.add_argument_group(f"{name} options ({generator.config_class.__name__})")
        for field_name, field in generator.config_class.model_fields.items():
            if field_name in COMMON or field_name in generator.level_class.model_fields:
                continue  # a level axis of the same name wins; the common flags are fixed
            add_field(options, field_name, field)
    return parser


def _validated(model: type[BaseModel], values: dict[str, Any], what: str) -> BaseModel:
    """`model(**values)`, or one ValueError line naming the flag as the user typed it."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        item = error.errors()[0]
        field = item["loc"][0] if item["loc"] else ""
        message = item["msg"].removeprefix("Value error, ")
        got = f" (got {item['input']!r})" if field in values else ""
        raise ValueError(f"{flag(str(field)) if field else what}: {message}{got}") from None


def _point(spec: str, axes: dict[str, Any]) -> dict[str, Any]:
    """`horizon=3,problem_steps=1` -> {"horizon": 3, "problem_steps": 1}."""
    point = {}
    for part in filter(None, spec.split(",")):
        key, sep, value = part.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in axes:
            raise ValueError(f"--levels {spec!r}: write AXIS=VALUE,... with axes {sorted(axes)}")
        try:
            point[key] = int(value)
        except ValueError:
            raise ValueError(f"--levels {spec!r}: {key}={value!r} is not an integer") from None
    return point


def level_points(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[dict]:
    """The levels the flags describe, validated, in order, each once."""
    level_class = GENERATORS[args.generator].level_class
    fields = level_class.model_fields
    given = {name: getattr(args, name) for name in fields if hasattr(args, name)}
    if args.levels:
        several = [flag(name) for name, values in given.items() if len(values) > 1]
        if several:
            raise ValueError(
                f"give levels with --levels or with several {several[0]} values, not both"
            )
        fixed = {name: values[0] for name, values in given.items()}
        points = [{**fixed, **_point(spec, fields)} for spec in args.levels]
    else:
        missing = [
            flag(name)
            for name, field in fields.items()
            if field.is_required() and name not in given
        ]
        if missing:
            parser.error(
                f"the following arguments are required: {', '.join(missing)} (or --levels)"
            )
        points = [
            dict(zip(given, combo, strict=True)) for combo in itertools.product(*given.values())
        ]
    levels = [
        _validated(level_class, point, "level").model_dump(exclude_none=True) for point in points
    ]
    for index, level in enumerate(levels):
        if level in levels[:index]:
            raise ValueError(f"level {level} is given twice")
    return levels


def _sample(generator: Any, level: dict, n: int, seed: int) -> list[Task]:
    from tqdm import tqdm

    desc = f"{generator.name} {level}"
    if hasattr(generator, "iter_tasks"):
        return list(tqdm(generator.iter_tasks(level, n, seed), total=n, desc=desc, unit="task"))
    with tqdm(total=n, desc=desc, unit="task") as bar:
        tasks = generator.sample(level, n, seed)
        bar.update(len(tasks))
    return tasks


def make_levels(
    args: argparse.Namespace, levels: list[dict], complete: Any = None
) -> tuple[Any, list[CardLevel]]:
    """The generator the flags describe, and every level's records with the skips made there."""
    cls = GENERATORS[args.generator]
    values = vars(args)
    level_fields, option_fields = cls.level_class.model_fields, cls.config_class.model_fields
    options = {k: values[k] for k in option_fields if k in values and k not in level_fields}
    extra = {"complete": complete} if complete is not None else {}
    generator = cls(_validated(cls.config_class, options, "options"), **extra)
    counts = getattr(generator, "skip_counts", dict)  # no skip_counts: nothing is counted
    made, before = [], counts()
    for level in levels:
        records = _sample(generator, level, args.n, args.seed)
        after = counts()
        skips = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        made.append(CardLevel(config_name(level), level, [r.model_dump() for r in records], skips))
        before = after
    if hasattr(generator, "summary"):
        log.info("%s", generator.summary())
    context, reader = _reader(args)
    for level in made:
        for warning in level_warnings(args.generator, level.config, level.rows, context, reader):
            log.warning("%s", warning)
    return generator, made


def _reader(args: argparse.Namespace) -> tuple[int, str]:
    """The context the prompts are checked against: the serving model's --max-model-len for a
    model-driven generator, else the embedded model's."""
    if hasattr(args, "max_model_len"):
        return args.max_model_len, f"--max-model-len {args.max_model_len}"
    return EMBEDDED_CONTEXT_TOKENS, "the embedded model (SmolLM2-135M)"


def command_line(args: argparse.Namespace) -> list[str]:
    """The command that makes the same dataset again (levels, n, seed, options as given)."""
    cls = GENERATORS[args.generator]
    values = vars(args)
    argv = ["python", "-m", "synth", args.generator]
    for name in cls.level_class.model_fields:
        if name in values:
            argv += [flag(name), *map(str, values[name])]
    if args.levels:
        argv += ["--levels", *args.levels]
    argv += ["--n", str(args.n), "--seed", str(args.seed)]
    for name in cls.config_class.model_fields:
        if name not in values or name in COMMON or name in cls.level_class.model_fields:
            continue
        value = values[name]
        if isinstance(value, bool):
            argv.append(flag(name) if value else "--no-" + flag(name)[2:])
        elif isinstance(value, list | tuple):
            argv += [flag(name), *map(str, value)]
        else:
            argv += [flag(name), json.dumps(value) if isinstance(value, dict) else str(value)]
    return [*argv, "--out", args.out]


def _fail(name: str, error: Exception) -> int:
    print(f"{name}: {str(error).removeprefix(f'{name}: ')}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None, completer: Any = None) -> int:
    """`completer(model_flags)`: a context manager yielding a synth.base.Complete, for
    generators that need a model (synth/__main__.py passes rl.completions.pool_completer)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    name, out, repo = args.generator, Path(args.out), args.push_to_hub
    if args.n < 1:
        return _fail(name, ValueError(f"--n must be at least 1, got {args.n}"))
    try:
        levels = level_points(parser, args)
        check_out_dir(out, args.overwrite)
        if repo:  # before sampling, which may take long
            check_repo_id(repo)
            require_token()
        if getattr(GENERATORS[name], "needs_model", False):
            if completer is None:
                raise ValueError("needs a model; run it as `python -m synth` (which serves one)")
            with completer({k: getattr(args, k) for k in MODEL_FLAGS}) as complete:
                generator, made = make_levels(args, levels, complete)
        else:
            generator, made = make_levels(args, levels)
    except (ValueError, HubError) as error:  # bad flags, source or token: one line
        return _fail(name, error)
    from datasets import Dataset

    configs = {level.config: Dataset.from_list(level.rows) for level in made}
    split = "test" if getattr(generator.config, "purpose", "train") == "eval" else "train"
    inputs = CardInputs(
        generator,
        made,
        split,
        args.n,
        args.seed,
        command_line(args),
        datasets=configs,
        repo_id=repo,
    )
    card = dataset_card(inputs)
    write_local(out, configs, card, args.overwrite)
    total = sum(len(level.rows) for level in made)
    print(f"wrote {total} {name} tasks ({', '.join(configs)}) to {out}")
    if repo:
        try:
            pushed = push_dataset(configs, card, repo, split, args.private, args.revision)
        except HubError as error:
            print(
                f"{name}: could not publish to {repo}: {error}. The dataset is saved in {out}; "
                f"publish it with `python -m synth.publish {out} --repo {repo}`",
                file=sys.stderr,
            )
            return 2
        print(f"pushed to {pushed.url} (commit {pushed.commit})")
    return 0
