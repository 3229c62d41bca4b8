"""The model card of a published run: what was trained from what, how, and how well it scores.

Everything comes from the run directory (rl/rundir.py): `config.yaml` gives the base model and
the recipe, `metrics.jsonl` the steps, the curriculum's path (`frontier/<task>` records) and the
evaluation table (`eval_base/<set>/...` for the starting model, `eval/<set>/...` after updates),
`best/best.json` which evaluation picked the best policy. YAML metadata through
huggingface_hub's `ModelCardData`: base_model, library_name, pipeline_tag, tags, and the
licence when the base model's is known.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rl.step_metrics import level_key

# Base models whose Hub id and licence the card can name; other Hub ids are named as given.
KNOWN_BASES = {"embedded": ("HuggingFaceTB/SmolLM2-135M-Instruct", "apache-2.0")}
_EVAL = re.compile(r"^(eval|eval_base)/([^/]+)/pass@1$")


def base_model(model: str) -> tuple[str | None, str | None]:
    """(Hub id, licence) of a config's `model`: known aliases, a Hub id, or None for paths."""
    if model in KNOWN_BASES:
        return KNOWN_BASES[model]
    if model == "tiny" or model.startswith((".", "/", "~")) or Path(model).exists():
        return None, None
    return model, None


def curriculum_path(records: list[dict[str, Any]]) -> dict[str, list[tuple[int, str]]]:
    """Per task, (step, level) each time the frontier level changed (the first included)."""
    paths: dict[str, list[tuple[int, str]]] = {}
    for record in records:
        for key, level in record.items():
            if key.startswith("frontier/") and isinstance(level, dict):
                path = paths.setdefault(key.removeprefix("frontier/"), [])
                if not path or path[-1][1] != level_key(level):
                    path.append((record["step"], level_key(level)))
    return paths


def eval_table(records: list[dict[str, Any]], best_step: int | None) -> list[dict[str, Any]]:
    """Per evaluation set: base, best and last pass@1 with their steps, and the last pass@k."""
    sets: dict[str, dict[str, Any]] = {}
    for record in records:
        for key, value in record.items():
            match = _EVAL.match(key)
            if not match:
                continue
            row = sets.setdefault(match[2], {"set": match[2]})
            if match[1] == "eval_base":
                row["base"] = value
                continue
            row["last"], row["last_step"] = value, record["step"]
            passes = {
                k.rsplit("/", 1)[1]: v
                for k, v in record.items()
                if k.startswith(f"eval/{match[2]}/pass@k/")
            }
            row["pass@k"] = passes
            if record["step"] == best_step:
                row["best"], row["best_step"] = value, record["step"]
    return list(sets.values())


def _pct(value: Any) -> str:
    return f"{100 * value:.1f} %" if isinstance(value, int | float) else "-"


def _recipe(config: dict[str, Any], records: list[dict[str, Any]]) -> list[str]:
    trainer, sampling = config.get("trainer", {}), config.get("sampling", {})
    get_trainer, get_sampling = trainer.get, sampling.get
    rows = {
        "base model": f"`{config.get('model')}`",
        "objective": f"`{get_trainer('loss')}` (rl/learners/)",
        "steps (configured / recorded)": f"{config.get('steps')} / {len(records)}",
        "prompts per step x group size": f"{config.get('prompts_per_step')} x {get_sampling('n')}",
        "sampling": f"T={get_sampling('temperature')}, top_p={get_sampling('top_p')}, "
        f"max_tokens={get_sampling('max_tokens')}",
        "learning rate": f"{get_trainer('lr')} ({get_trainer('lr_schedule')}, "
        f"warmup {get_trainer('warmup_steps')})",
        "KL beta / clip range": f"{get_trainer('beta')} / [{get_trainer('epsilon')}, "
        f"{get_trainer('epsilon_high')}]",
        "max staleness": str(config.get("max_staleness")),
        "seed": str(config.get("seed")),
    }
    lines = ["## Recipe", "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows.items()]]
    lines.append("")
    lines += ["Tasks:", ""]
    for name, task in (config.get("tasks") or {}).items():
        options = task.get("options") or {}
        given = ", ".join(
            f"{key}={options[key]}" for key in ("source", "filler") if options.get(key)
        )
        lines.append(
            f"- `{name}`: generator `{task.get('generator')}`" + (f" ({given})" if given else "")
        )
    lines += ["", "The full resolved configuration is `config.yaml` in this repository.", ""]
    return lines


def _curriculum(records: list[dict[str, Any]]) -> list[str]:
    lines = ["## Curriculum path", ""]
    paths = curriculum_path(records)
    if not paths:
        return [*lines, "No curriculum levels were recorded.", ""]
    for task, path in paths.items():
        lines.append(f"- `{task}`: " + " → ".join(f"step {step}: {level}" for step, level in path))
    rewards = [r["reward/mean"] for r in records if isinstance(r.get("reward/mean"), int | float)]
    if rewards:
        window = max(1, len(rewards) // 10)
        first, last = sum(rewards[:window]) / window, sum(rewards[-window:]) / window
        lines += [
            "",
            f"Training reward, mean of {window} step(s): {first:.3f} first, {last:.3f} last.",
        ]
    return [*lines, ""]


def _evaluation(
    config: dict[str, Any], table: list[dict[str, Any]], best: dict | None
) -> list[str]:
    lines = ["## Evaluation", ""]
    if not table:
        return [*lines, "The run had no held-out evaluation (`eval.sets` was empty).", ""]
    settings = config.get("eval") or {}
    lines += [
        f"Held-out sets (never trained on, rl/eval_data.py), {settings.get('samples')} samples "
        "per item; pass@1 is the mean reward (avg@K), pass@k the unbiased estimator.",
        "",
        "| set | spec | base pass@1 | best pass@1 (step) | last pass@1 (step) | last pass@k |",
        "|---|---|---:|---:|---:|---|",
    ]
    specs = settings.get("sets") or {}
    for row in table:
        best_cell = f"{_pct(row.get('best'))} ({row['best_step']})" if "best" in row else "-"
        last_cell = f"{_pct(row.get('last'))} ({row['last_step']})" if "last" in row else "-"
        passes = ", ".join(
            f"@{k} {_pct(v)}"
            for k, v in sorted(row.get("pass@k", {}).items(), key=lambda kv: int(kv[0]))
        )
        cells = [f"`{row['set']}`", f"`{specs.get(row['set'], '')}`", _pct(row.get("base"))]
        lines.append("| " + " | ".join([*cells, best_cell, last_cell, passes or "-"]) + " |")
    if best:
        lines += [
            "",
            f"Best: after step {best.get('step')} ({best.get('updates')} updates), selected "
            f"by {settings.get('select') or 'the mean pass@1 over the sets'} = "
            f"{best.get('value', float('nan')):.3f}.",
        ]
    return [*lines, ""]


def model_card(
    repo_id: str,
    config: dict[str, Any],
    records: list[dict[str, Any]],
    chosen: str,
    best: dict | None,
    version: dict[str, str],
) -> str:
    """The README.md of a model repository made from a run."""
    from huggingface_hub import ModelCardData

    base, licence = base_model(str(config.get("model")))
    trainer = config.get("trainer", {})
    generators = sorted({t.get("generator") for t in (config.get("tasks") or {}).values()})
    data = ModelCardData(
        base_model=base,
        library_name="transformers",
        pipeline_tag="text-generation",
        license=licence,
        tags=["longhorizon", "reinforcement-learning", str(trainer.get("loss")), *generators],
    )
    table = eval_table(records, best.get("step") if best else None)
    lines = [
        f"# {repo_id}",
        "",
        f"A policy trained with reinforcement learning by longhorizon (`python rl/run.py`, run `{config.get('name')}`): "
        f"`{trainer.get('loss')}` from `{config.get('model')}`, on synthetic tasks whose difficulty an adaptive curriculum raised from the rewards.",
        "",
        f"This repository holds {chosen}: a plain transformers checkpoint that vLLM loads as it is.",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("{repo_id}")',
        f'tokenizer = AutoTokenizer.from_pretrained("{repo_id}")',
        f'# vLLM: vllm.LLM("{repo_id}")',
        "```",
        "",
        *_recipe(config, records),
        *_curriculum(records),
        *_evaluation(config, table, best),
        "## Provenance",
        "",
        "`config.yaml` is the run's resolved configuration and `metrics.jsonl` its per-step "
        "record (rewards by task and level, curriculum events, evaluation). Published with "
        f"{version['package']} at commit `{version['commit']}` (the commit at publishing time).",
    ]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n"
