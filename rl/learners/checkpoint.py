"""A learner's state (weights, optimizer, schedule, RNG) and its checkpoint directories on disk.

Layout of a checkpoint directory, a plain Hugging Face model directory that transformers and
vLLM load as it is, plus the trainer's state:
    config.json, generation_config.json, tokenizer files, model.safetensors (HF names)
    trainer_state.pt   optimizer, LR schedule, steps_done, RNG states, the TrainerConfig (JSON)
The directory is first written as a hidden sibling (`.NAME.tmp`) and renamed into place, so a
crash never leaves a half-written checkpoint under the final name. Replacing an existing
checkpoint renames the old one aside first; for that instant the name is absent, never partial.
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import torch

from rl.learners import sharding

log = logging.getLogger(__name__)

TRAINER_STATE = "trainer_state.pt"


def _replace_atomically(path: Path, write) -> None:
    """Write into a hidden sibling with `write(directory)`, then rename it to `path`: a crash
    never leaves a half-written directory under the final name."""
    staging = path.with_name(f".{path.name}.tmp")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    write(staging)
    if path.exists():
        previous = path.with_name(f".{path.name}.old")
        if previous.exists():
            shutil.rmtree(previous)
        path.rename(previous)
        staging.rename(path)
        shutil.rmtree(previous)
    else:
        staging.rename(path)


def _write_policy(learner: Any, weights: dict[str, torch.Tensor], directory: Path) -> None:
    """An HF model directory: safetensors (HF names), config, generation config, tokenizer."""
    from safetensors.torch import save_file

    save_file(weights, str(directory / "model.safetensors"), metadata={"format": "pt"})
    learner.model.config.save_pretrained(directory)
    if learner.model.generation_config is not None:
        learner.model.generation_config.save_pretrained(directory)
    learner.tokenizer.save_pretrained(directory)


def save(learner: Any, path: Path) -> None:
    """Write `learner`'s whole state to `path` (a rl.learners.LearnerBase; only rank 0 writes):
    an HF model directory plus trainer_state.pt."""
    state = learner.state_dict()  # a collective under FSDP: every rank gets here
    if learner.rank != 0:
        return
    state["config"] = learner.config.model_dump(mode="json")

    def write(directory: Path) -> None:
        _write_policy(learner, state.pop("model"), directory)
        torch.save(state, directory / TRAINER_STATE)

    _replace_atomically(path, write)
    log.info("saved learner step %d to %s", learner.steps_done, path)


def save_policy(learner: Any, path: Path) -> None:
    """Only the policy, as an HF model directory (a run's `best`); a collective under FSDP."""
    weights = learner.weights(copy=False)
    if learner.rank == 0:
        _replace_atomically(path, lambda directory: _write_policy(learner, weights, directory))


def load(learner: Any, path: Path) -> None:
    """Restore `learner` from a directory written by `save`."""
    from safetensors.torch import load_file

    policy_files = sorted(path.glob("*.safetensors"))
    if not policy_files or not (path / TRAINER_STATE).exists():
        raise ValueError(
            f"{path} is not a learner checkpoint (no *.safetensors or {TRAINER_STATE}): pass a "
            "directory written by a learner's save"
        )
    state = torch.load(path / TRAINER_STATE, map_location="cpu", weights_only=True)
    if state.get("config") != learner.config.model_dump(mode="json"):
        log.warning("checkpoint %s was written with a different TrainerConfig", path)
    state["model"] = {}
    for file in policy_files:
        state["model"].update(load_file(str(file)))
    learner.load_state_dict(state)


def _to_cpu(value: Any) -> Any:
    """CPU tensors, without a copy of those already there: a checkpoint of the 135M model's
    optimizer would otherwise hold another 1 GB while it is written."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu")
    if isinstance(value, dict):
        return {key: _to_cpu(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(item) for item in value)
    return value


def learner_state(learner: Any) -> dict[str, Any]:
    """Policy, optimizer, schedule, step count and RNG states, all on CPU (live tensors on a
    CPU learner, not copies). A collective under FSDP."""
    if learner.parallel == "fsdp":
        optimizer_state = sharding.full_optimizer_state(learner.model, learner.optimizer)
    else:
        optimizer_state = _to_cpu(learner.optimizer.state_dict())
    rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "model": learner.weights(copy=False),
        "optimizer": optimizer_state,
        "scheduler": learner.scheduler.state_dict(),
        "steps_done": learner.steps_done,
        "rng": rng,
    }


def load_learner_state(learner: Any, state: dict[str, Any]) -> None:
    """Restore what `learner_state` returned; the tied lm_head follows embed_tokens."""
    if learner.parallel == "fsdp":
        sharding.load_full_state(
            learner.model, learner.optimizer, state["model"], state["optimizer"]
        )
    else:
        result = learner.model.load_state_dict(state["model"], strict=False)
        missing = set(result.missing_keys) - {"lm_head.weight"}
        if missing or result.unexpected_keys:
            raise ValueError(
                f"checkpoint does not match the policy: missing {sorted(missing)}, "
                f"unexpected {sorted(result.unexpected_keys)}; load a checkpoint of this model"
            )
        learner.optimizer.load_state_dict(state["optimizer"])
    learner.scheduler.load_state_dict(state["scheduler"])
    learner.steps_done = int(state["steps_done"])
    random.setstate(state["rng"]["python"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
