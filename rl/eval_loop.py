"""Evaluation during a run: held-out scores at the start, every N steps and at the end; `best`.

The `Evaluator` owns the run's eval sets (loaded once, refused when they share a source item
with a training task), samples them on the run's own rollout pool right after the learner's
weights reach it, and keeps:
  - `base`: the starting model's scores, computed at step 0 or reused from the cache
    (~/.cache/longhorizon/eval/, keyed by model files, set and sampling settings);
  - `last` and `best` by the selected metric (a set's pass@1, or the mean over sets); a new best
    makes the driver write the policy to `runs/<name>/best/` (h1's protocol);
  - its state in every checkpoint, so a resumed run keeps its base and best.
Metrics go into the step's record as `eval/<set>/pass@1`, `eval/<set>/pass@k/<k>`,
`eval/<set>/response_length`, `eval/<set>/truncated`, `eval/<set>/<task/level>/pass@1` and
`eval/select` (the selected value), with `eval/updates` = optimizer updates behind them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from statistics import fmean
from typing import Any

from cluster.config import SamplingConfig
from rl.config import RunConfig
from rl.eval import evaluate
from rl.eval_data import EvalSet, check_held_out, load_eval_set

log = logging.getLogger(__name__)


def eval_cache_dir() -> Path:
    """$LONGHORIZON_EVAL_CACHE, else $LONGHORIZON_CACHE/eval, else ~/.cache/longhorizon/eval."""
    if os.environ.get("LONGHORIZON_EVAL_CACHE"):
        return Path(os.environ["LONGHORIZON_EVAL_CACHE"]).expanduser()
    return Path(os.environ.get("LONGHORIZON_CACHE", "~/.cache/longhorizon")).expanduser() / "eval"


def flat_metrics(results: dict[str, dict[str, Any]], prefix: str = "eval") -> dict[str, float]:
    """`evaluate`'s nested results as flat metric names."""
    flat: dict[str, float] = {}
    for name, summary in results.items():
        flat[f"{prefix}/{name}/pass@1"] = summary["pass@1"]
        for k, value in summary["pass@k"].items():
            flat[f"{prefix}/{name}/pass@k/{k}"] = value
        flat[f"{prefix}/{name}/response_length"] = summary["response_length"]
        flat[f"{prefix}/{name}/truncated"] = summary["truncated"]
        for level, scores in summary.get("by_level", {}).items():
            flat[f"{prefix}/{name}/{level}/pass@1"] = scores["pass@1"]
    return flat


class Evaluator:
    """The run's held-out evaluation (see the module docstring)."""

    def __init__(self, config: RunConfig, model_path: str, generators: dict[str, Any]) -> None:
        settings = config.eval
        self.settings = settings
        self.model_path = model_path
        # Samples depend on the engine too (a bfloat16 engine draws other tokens than a float32 one).
        self.engine = f"{config.rollout.backend}/{config.rollout.engine_dtype()}"
        self.sampling = SamplingConfig(
            n=settings.samples,
            temperature=settings.temperature or config.sampling.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens or config.sampling.max_tokens,
            seed=settings.seed,
        )
        self.sets: list[EvalSet] = []
        for name, spec in settings.sets.items():
            loaded = load_eval_set(spec, config.tasks)
            loaded.name = name
            check_held_out(loaded, generators)
            self.sets.append(loaded)
            log.info("eval set %s: %d items (%s)", name, len(loaded.tasks), spec)
        self.base: dict[str, Any] | None = None
        self.last: dict[str, Any] | None = None
        self.best: dict[str, Any] | None = None  # {"step", "updates", "value", "results"}

    @property
    def enabled(self) -> bool:
        return bool(self.sets)

    def due(self, step: int, total_steps: int) -> bool:
        every = self.settings.every_steps
        return self.enabled and (step + 1 == total_steps or bool(every and (step + 1) % every == 0))

    def selected(self, results: dict[str, dict[str, Any]]) -> float:
        if self.settings.select is not None:
            return results[self.settings.select]["pass@1"]
        return fmean(summary["pass@1"] for summary in results.values())

    # ------------------------------------------------------------ base
    def cache_key(self) -> str:
        """Model files (names, sizes, times), the engine, the sets' task ids and the sampling
        settings."""
        path = Path(self.model_path)
        files = sorted(
            (f.name, f.stat().st_size, int(f.stat().st_mtime))
            for f in (path.iterdir() if path.is_dir() else [])
            if f.suffix in (".safetensors", ".bin", ".json")
        )
        payload = {
            "model": str(path.resolve()) if path.is_dir() else self.model_path,
            "files": files,
            "engine": self.engine,
            "sets": {s.name: [t.id for t in s.tasks] for s in self.sets},
            "sampling": self.sampling.model_dump(mode="json"),
            "solved_at": self.settings.solved_at,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]

    def evaluate_base(self, pool: Any) -> dict[str, Any] | None:
        """The starting model's scores (cached by `cache_key`), or None when skipped."""
        if not self.enabled or self.settings.base == "skip":
            return None
        cached = eval_cache_dir() / f"{self.cache_key()}.json"
        if self.settings.base == "cache" and cached.is_file():
            self.base = json.loads(cached.read_text())
            log.info("base scores reused from %s", cached)
            return self.base
        self.base = evaluate(pool, self.sets, self.sampling, self.settings.solved_at)
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(self.base))
        return self.base

    # ------------------------------------------------------------ during the run
    def evaluate(self, pool: Any, step: int) -> tuple[dict[str, float], bool]:
        """Score the pool's current policy (after update `step`); returns the metrics for the
        step's record and whether it is the best so far (the driver then saves it)."""
        results = evaluate(pool, self.sets, self.sampling, self.settings.solved_at)
        value = self.selected(results)
        self.last = {"step": step, "updates": step + 1, "value": value, "results": results}
        improved = self.best is None or value > self.best["value"]
        if improved:
            self.best = dict(self.last)
        metrics = flat_metrics(results)
        metrics.update({"eval/select": value, "eval/updates": step + 1})
        return metrics, improved

    def state_dict(self) -> dict[str, Any]:
        return {"base": self.base, "last": self.last, "best": self.best}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        state = state or {}
        self.base, self.last, self.best = state.get("base"), state.get("last"), state.get("best")

    # ------------------------------------------------------------ the end
    def summary(self) -> str:
        """Base, last and best side by side: pass@1 per set and the selected value."""
        if not self.enabled or self.last is None:
            return ""
        columns = [("base", self.base), ("last", self.last and self.last["results"])]
        columns.append(("best", self.best and self.best["results"]))
        header = ["set", *[f"{label}" for label, _ in columns]]
        rows = [header]
        for eval_set in self.sets:
            row = [eval_set.name]
            for _, results in columns:
                row.append(f"{results[eval_set.name]['pass@1']:.3f}" if results else "-")
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
        best = self.best
        lines.append(
            f"held-out pass@1 (avg@{self.settings.samples}); best after {best['updates']} "
            f"updates (step {best['step']}), kept as best/"
        )
        return "\n".join(lines)
