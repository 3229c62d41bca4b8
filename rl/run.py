"""Train a policy with GRPO on synthetic long-horizon tasks, with a self-escalating curriculum.

    python rl/run.py                                   # the embedded default, on this machine
    python rl/run.py --config configs/h1_gsm8k.yaml trainer.lr=1e-6 steps=200
    python rl/run.py --dry-run                         # print the resolved config and the plan
    python rl/run.py --config configs/x.yaml name=my-run --resume
    python rl/run.py --config configs/x.yaml name=my-run --resume-or-start   # preemptible jobs
    ray job submit --working-dir . -- python rl/run.py --config configs/x.yaml

Overrides are dotted keys (`section.key=value`, values parsed as YAML). A bad config stops
the program before anything starts, with one line naming the key. The loop itself lives in
rl/driver.py, its lifetime (Ray up and down, a lost process as one line) in rl/lifetime.py; this
file only parses, validates and hands over.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

if __package__ in (None, ""):
    # `python rl/run.py` puts rl/ first on sys.path; the repository root must be importable.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rl.config import RunConfig  # noqa: E402
from rl.config_io import ConfigError, dump_config, load_config, read_yaml  # noqa: E402
from rl.longpo_config import LongPORunConfig  # noqa: E402
from rl.self_lengthen_config import SelfLengthenRunConfig  # noqa: E402

# algorithm -> its configuration; the run module is picked in main.
CONFIGS = {"grpo": RunConfig, "longpo": LongPORunConfig, "self_lengthen": SelfLengthenRunConfig}

log = logging.getLogger("rl.run")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python rl/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Sections: name, seed, model, steps, prompts_per_step, ray.*, rollout.*, "
        "sampling.*, trainer.*, tasks.<name>.*, curriculum.*, logging.*, checkpoint.*\n"
        "See docs/configuration.md for every key.",
    )
    parser.add_argument("--config", help="YAML file under configs/ (defaults: the embedded run)")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the resolved config and plan, start nothing"
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume",
        action="store_true",
        help="continue runs/<name> from its last checkpoint; refuses when there is none",
    )
    resume.add_argument(
        "--resume-or-start",
        action="store_true",
        help="continue runs/<name> from its last checkpoint, or start it when there is none "
        "(the same command for every restart of a preemptible job)",
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. trainer.lr=1e-6"
    )
    return parser.parse_args(argv)


def plan(config: RunConfig | LongPORunConfig | SelfLengthenRunConfig) -> str:
    """What a run would start, in a few lines, without starting anything."""
    if config.algorithm == "self_lengthen":
        return self_lengthen_plan(config)
    if config.algorithm == "longpo":
        data = config.data
        return "\n".join(
            [
                f"ray:        {config.ray.address or os.environ.get('RAY_ADDRESS') or 'local Ray on 127.0.0.1'}",
                f"model:      {config.model} (writes the pairs, is the reference, is trained)",
                f"pairs:      {data.pairs_per_level} (+{data.held_out_per_level} held out) per "
                f"chunk_tokens in {data.levels} from {data.options['source']}",
                f"learner:    {config.trainer.loss}, lr {config.trainer.lr}, beta "
                f"{config.trainer.dpo_beta}, {config.steps} steps x {config.pairs_per_step} pairs",
                f"run dir:    {Path(config.output_dir) / (config.name or 'longpo-<date>-<time>')}",
            ]
        )
    address = (
        config.ray.address
        or os.environ.get("RAY_ADDRESS")
        or "local Ray on 127.0.0.1 (started and stopped by this run)"
    )
    rollout = config.rollout
    lines = [
        f"ray:        {address}",
        f"model:      {config.model}",
        f"rollout:    {rollout.num_workers} x {rollout.backend} worker(s), "
        f"{rollout.cpus_per_worker} CPU / {rollout.gpus_per_worker} GPU each",
        f"learner:    {config.trainer.loss}, lr {config.trainer.lr}, {config.steps} steps x "
        f"{config.prompts_per_step} prompts x {config.sampling.n} completions",
        "tasks:      "
        + ", ".join(f"{name} ({task.generator})" for name, task in config.tasks.items()),
        f"curriculum: {config.curriculum.schedule.kind}",
        f"run dir:    {Path(config.output_dir) / (config.name or 'run-<date>-<time>')}",
    ]
    if config.stages:
        spans = [
            f"{stage.name or f'stage-{i}'} {stage.steps}" + (" (hard subset)" * stage.hard_subset)
            for i, stage in enumerate(config.stages)
        ]
        lines.insert(-1, "stages:     " + ", ".join(spans))
    return "\n".join(lines)


def self_lengthen_plan(config: SelfLengthenRunConfig) -> str:
    data, sft = config.data, config.sft
    adapters = f"LoRA r={sft.lora.rank}" if sft.lora else "full fine-tuning"
    return "\n".join(
        [
            f"ray:        {config.ray.address or os.environ.get('RAY_ADDRESS') or 'local Ray on 127.0.0.1'}",
            f"model:      {config.model} (base, generator and extender start from it)",
            f"rollout:    {config.rollout.num_workers} x {config.rollout.backend} worker(s), "
            f"max_model_len {config.rollout.max_model_len}",
            f"rounds:     {config.rounds} x {data.instructions_per_round} instructions, "
            f"max_tokens {data.max_tokens}",
            f"learners:   generator and extender, {adapters}, lr {config.trainer.lr}, "
            f"{sft.epochs} epochs x batch {sft.batch_size}",
            f"eval:       LonGen {config.eval.language} x {config.eval.queries or 'all'} queries",
            f"run dir:    {Path(config.output_dir) / (config.name or 'self_lengthen-<date>-<time>')}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        algorithm = algorithm_of(args.config, args.overrides)
        config = load_config(CONFIGS[algorithm], args.config, args.overrides)
        resume = args.resume or args.resume_or_start
        if resume and not config.name:
            flag = "--resume" if args.resume else "--resume-or-start"
            raise ConfigError(f"{flag} needs the run's name: add name=<run name>")
        check_outside_world(config, resume, strict=args.resume)
        fit = check_memory(config)
        if config.logging.push_to_hub:  # a run of hours must not end unable to publish
            from synth.hub import HubError, require_token

            try:
                require_token()
            except HubError as error:
                raise ConfigError(f"logging.push_to_hub: {error}") from None
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    if algorithm == "grpo":
        from rl.context_check import prompt_length_warnings, resolve_kv_cache, top_prompts

        prompts = top_prompts(config)
        for warning in prompt_length_warnings(config, prompts):
            print(f"warning: {warning}", file=sys.stderr)
        try:
            config, kv_line = resolve_kv_cache(config, prompts)
        except ValueError as error:
            print(f"config error: {error}", file=sys.stderr)
            return 2
        fit += [kv_line] if kv_line else []
        missing = missing_records(config)  # a recipe's data is made first (docs/recipes.md)
        if missing and not args.dry_run:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            print(f"config error: {missing[0]}{more}", file=sys.stderr)
            return 2
        for problem in missing:
            print(f"warning: {problem}", file=sys.stderr)
    if args.dry_run:
        print(dump_config(config), end="")
        print("---")
        print(plan(config))
        print("\n".join(fit))
        return 0
    for line in fit:
        log.info(line)
    if algorithm == "longpo":
        from rl.longpo_run import run
    elif algorithm == "self_lengthen":
        from rl.self_lengthen_run import run
    else:
        from rl.lifetime import run
    return run(config, resume=resume)


def missing_records(config: RunConfig) -> list[str]:
    """One line per `records` task whose local data does not exist yet: a warning under
    --dry-run (a recipe's config is checked before its data is made), else the run refuses."""
    from synth.records import path_problem

    return [
        f"tasks.{name}.options.path: {problem}"
        for name, task in config.tasks.items()
        if task.generator == "records" and (problem := path_problem(task.options["path"]))
    ]


def check_outside_world(
    config: RunConfig | LongPORunConfig, resume: bool, strict: bool = False
) -> None:
    """What the config cannot know and the run would refuse, checked before anything starts
    (by --dry-run too): the model exists or is a well-formed Hub id, and the run directory can
    be made inside output_dir without replacing an earlier run; `strict` (--resume): it exists
    and holds a complete checkpoint. One ConfigError line."""
    from models import check_model
    from rl.resume import check_resumable
    from rl.rundir import check_run_dir

    try:
        check_model(config.model)
    except ValueError as error:
        raise ConfigError(f"config error: model: {error}") from None
    from rl.context_check import kv_cache_error

    if config.rollout.kv_cache_gib == "auto" and config.algorithm != "grpo":
        raise ConfigError(
            "config error: rollout.kv_cache_gib=auto sizes the cache from a GRPO batch; "
            f"give {config.algorithm} runs a size in GiB"
        )
    problem = kv_cache_error(config.model, config.rollout)
    if problem:
        raise ConfigError(f"config error: {problem}")
    try:
        check_run_dir(config.output_dir, config.name, resume)
        if strict:
            needs_checkpoint = type(config).resumes_from == "checkpoint"
            check_resumable(config.output_dir, config.name, needs_checkpoint)
    except ValueError as error:
        raise ConfigError(f"config error: {error}") from None


def check_memory(config: RunConfig | LongPORunConfig | SelfLengthenRunConfig) -> list[str]:
    """rl/memory.py's check on a GPU layout: `gpus:` and `memory:` lines for the plan, or one
    ConfigError line when a learner worker or an engine cannot fit its GPU, or a reachable
    cluster has fewer GPUs than the layout asks for. A CPU layout loads nothing."""
    from rl.memory import check_fit, learner_on_gpu, reachable_cluster

    if not (learner_on_gpu(config) or config.rollout.on_gpu):
        return ["memory:     on CPU, not checked"]
    try:
        return check_fit(config, reachable_cluster(config.ray.address))
    except ValueError as error:
        raise ConfigError(f"config error: {error}") from None


def algorithm_of(path: str | None, overrides: list[str]) -> str:
    """Which run the config describes: `algorithm=` among the overrides, else the file's
    `algorithm` key, else grpo. One ConfigError line for an unknown one."""
    algorithm = "grpo"
    if path:
        algorithm = read_yaml(path).get("algorithm", algorithm)
    for override in overrides:
        key, _, value = override.partition("=")
        if key == "algorithm":
            algorithm = value
    if algorithm not in CONFIGS:
        raise ConfigError(
            f"config error: algorithm: {algorithm!r} is not one of {', '.join(CONFIGS)}"
        )
    return algorithm


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "rl/run.py"))
