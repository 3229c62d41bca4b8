"""`python -m synth NAME ...`: sample a registered generator's tasks into a dataset on disk.

    python -m synth h1 --horizon 5 --n 1000 --seed 0 --source builtin --out data/h1-h5
    python -m synth h1 --horizon 1 --n 500 --source gsm8k:../shared/data/gsm8k/test.jsonl \
        --purpose eval --out data/h1-eval
    python -m synth keychain --context-tokens 16384 --num-chains 16 --n 500 --out data/kc \
        --source hotpotqa:../shared/data/multihop/hotpotqa_dev_distractor_500.jsonl
    python -m synth NAME --help                       # its flags, defaults and their meaning

Every subcommand is built from what the generator declares, with no per-generator code here:
level flags from its `level_class` (e.g. --horizon), option flags from its `config_class`
(e.g. --source), each with the field's type, default and docstring; plus the common flags
--n, --seed, --out and --push-to-hub. `--out DIR` holds a dataset that
`datasets.load_from_disk(DIR)` reads (Task rows, synth/task.py).
"""

from __future__ import annotations

import argparse
import logging
import sys
import types
import typing
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from synth import GENERATORS

log = logging.getLogger("synth")
COMMON = ("n", "seed", "out", "push_to_hub")


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


def add_field(parser: argparse.ArgumentParser, name: str, field: FieldInfo) -> None:
    """One flag for a pydantic field: its type, whether it is required, its docstring as help."""
    annotation = _unwrap_optional(field.annotation)
    kwargs: dict[str, Any] = {"default": argparse.SUPPRESS, "dest": name}
    origin = typing.get_origin(annotation)
    if annotation is bool:
        kwargs["action"] = argparse.BooleanOptionalAction
    elif origin in (tuple, list):
        kwargs.update(_scalar(typing.get_args(annotation)[0]), nargs="+", metavar="VALUE")
    else:
        kwargs.update(_scalar(annotation))
    required = field.is_required()
    text = " ".join((field.description or "").split())
    default = "" if required else f" (default: {field.get_default(call_default_factory=True)})"
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
    )
    subparsers = parser.add_subparsers(dest="generator", required=True, metavar="GENERATOR")
    for name, generator in GENERATORS.items():
        summary = (generator.__doc__ or name).strip().splitlines()[0]
        sub = subparsers.add_parser(name, help=summary, description=summary)
        common = sub.add_argument_group("dataset")
        common.add_argument("--n", type=int, required=True, help="how many tasks")
        common.add_argument("--seed", type=int, default=0, help="same seed, same tasks")
        common.add_argument("--out", required=True, help="directory for datasets.save_to_disk")
        common.add_argument("--push-to-hub", default=None, metavar="REPO", help="also publish")
        level = sub.add_argument_group("level (one point on the difficulty axes)")
        for field_name, field in generator.level_class.model_fields.items():
            add_field(level, field_name, field)
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


def make_tasks(args: argparse.Namespace, complete: Any = None) -> tuple[Any, list[Any]]:
    """The generator the flags describe, and its records (behind a progress bar)."""
    from tqdm import tqdm

    cls = GENERATORS[args.generator]
    values = vars(args)
    level_fields, option_fields = cls.level_class.model_fields, cls.config_class.model_fields
    level = _validated(
        cls.level_class, {k: values[k] for k in level_fields if k in values}, "level"
    ).model_dump(exclude_none=True)
    options = {k: values[k] for k in option_fields if k in values and k not in level_fields}
    config = _validated(cls.config_class, options, "options")
    generator = cls(config, complete=complete) if complete is not None else cls(config)
    if hasattr(generator, "iter_tasks"):
        stream = generator.iter_tasks(level, args.n, args.seed)
        tasks = list(tqdm(stream, total=args.n, desc=f"{cls.name} {level}", unit="task"))
    else:
        with tqdm(total=args.n, desc=f"{cls.name} {level}", unit="task") as bar:
            tasks = generator.sample(level, args.n, args.seed)
            bar.update(len(tasks))
    if hasattr(generator, "summary"):
        log.info("%s", generator.summary())
    return generator, tasks


def main(argv: list[str] | None = None, completer: Any = None) -> int:
    """`completer(model_flags)`: a context manager yielding a synth.base.Complete, for
    generators that need a model (synth/__main__.py passes rl.completions.pool_completer)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.n < 1:
        print(f"{args.generator}: --n must be at least 1, got {args.n}", file=sys.stderr)
        return 2
    try:
        if getattr(GENERATORS[args.generator], "needs_model", False):
            if completer is None:
                raise ValueError("needs a model; run it as `python -m synth` (which serves one)")
            with completer({k: getattr(args, k) for k in MODEL_FLAGS}) as complete:
                _, tasks = make_tasks(args, complete)
        else:
            _, tasks = make_tasks(args)
    except ValueError as error:  # bad flags or source: one line, no traceback
        message = str(error).removeprefix(f"{args.generator}: ")
        print(f"{args.generator}: {message}", file=sys.stderr)
        return 2
    from synth.task import records_to_dataset

    dataset = records_to_dataset(tasks)
    dataset.save_to_disk(args.out)
    print(f"wrote {len(dataset)} {args.generator} tasks to {args.out}")
    if args.push_to_hub:
        dataset.push_to_hub(args.push_to_hub)
        print(f"pushed to https://huggingface.co/datasets/{args.push_to_hub}")
    return 0
