"""The one-step overlap of a run: step t+1's rollouts are sampled while step t trains.

`Prefetch` is the one owner of that state (which step's tasks are chosen ahead, and the
background sampling of them); the driver only calls take / start / wait / pending_choices.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

from rl.collect import Batch, Collector


class Prefetch:
    """The one owner of the overlap state: which step's tasks are chosen, and their rollouts.

    With overlap (max_staleness=1) `start(t + 1)` chooses step t+1's tasks (before step t's
    rewards reach the curriculum, so the order of choices is fixed and runs repeat) and samples
    them in a background thread while step t trains; `wait()` blocks until that sampling is
    done, since the pool must be idle before its weights move. Without overlap every step's
    batch is collected when `take` asks for it.
    """

    def __init__(self, collector: Collector, overlap: bool, prompts_per_step: int) -> None:
        self.collector = collector
        self.prompts_per_step = prompts_per_step
        self._executor = ThreadPoolExecutor(max_workers=1) if overlap else None
        self._chosen: Batch | None = None  # the next step's tasks, chosen ahead
        self._future: Future | None = None
        self._ready: tuple[Batch, Batch] | None = None

    def restore(
        self, step: int, choices: list | None, batches: tuple[Batch, Batch] | None = None
    ) -> None:
        """Rebuild `step`'s tasks from the choices a checkpoint saved (overlap mode), and take
        its rollouts as sampled before the kill when it saved those too: resampling them under
        the newer policy would make the resumed run differ from an uninterrupted one. Saved
        rollouts carry their tasks: drawing them again would move a stateful source (a
        `records` walk) past the items it already gave."""
        if choices is not None and batches is None:
            levels = [(name, dict(level)) for name, level in choices]
            self._chosen = self.collector.make_tasks(step, levels)
        self._ready = batches

    def take(self, step: int) -> tuple[Batch, Batch]:
        """Step `step`'s (training batch, every group observed): sampled ahead, or now."""
        if self._ready is not None:
            batches, self._ready = self._ready, None
        else:
            batches = self.collector.collect(step, self._chosen)
        self._chosen = None
        return batches

    def start(self, step: int) -> None:
        """Choose `step`'s tasks and sample them in the background (overlap mode only)."""
        if self._executor is None:
            return
        self._chosen = self.collector.choose(step, self.prompts_per_step)
        self._future = self._executor.submit(self.collector.collect, step, self._chosen)

    def wait(self) -> None:
        if self._future is not None:
            self._ready, self._future = self._future.result(), None

    def ready(self) -> tuple[Batch, Batch] | None:
        """The next step's batches, sampled ahead and waited for (overlap mode), or None."""
        return self._ready

    def pending_choices(self) -> list | None:
        """The chosen next step's (task, level) list, for a checkpoint."""
        return self._chosen.choices if self._chosen is not None else None

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown()
