"""A GRPO run's lifetime: Ray up, the components built, the Driver (rl/driver.py) run, everything
stopped again; a Ray process lost on the way becomes one line that says where `--resume` goes on.

`run` is what `python rl/run.py` calls; `running` is the same lifetime for the tests and
benchmarks that drive a Driver themselves; `start_ray` is shared by the LongPO and Self-Lengthen
runs, which build their own components.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ray

from cluster import ray_owner, ray_setup
from cluster.node_report import node_report
from cluster.worker_logs import runtime_env
from models import resolve_model
from rl import checkpoints, watch
from rl.config import RunConfig
from rl.config_io import dump_config
from rl.driver import Driver, build
from rl.learner_group import LearnerRankError
from rl.resume import prepare as prepare_resume
from rl.resume import resume_step
from rl.rundir import MetricsLogger, default_run_name, make_run_dir, read_metrics
from rl.summary import render_summary

log = logging.getLogger(__name__)
# A Ray process of the run died (an actor, a worker, a raylet, a node): the run stops.
LOST_PROCESS = (
    ray.exceptions.RayActorError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.NodeDiedError,
    ray.exceptions.LocalRayletDiedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OutOfMemoryError,
)


class ProcessLost(RuntimeError):
    """A Ray process the run needs died (the learner, a node, the head): the run stops with one
    line that names it and the checkpoint `--resume` continues from; Ray's node report is in
    run.log. `head_lost`: the cluster's head is gone, so nothing of Ray can be cleaned up."""

    def __init__(self, message: str, head_lost: bool = False):
        super().__init__(message)
        self.head_lost = head_lost


def start_ray(config: RunConfig, run_dir: Path | None = None) -> bool:
    """Join `config.ray.address` (or $RAY_ADDRESS), or start a local Ray sized for the run:
    dashboard as configured, object store from the policy's weights (object_store_bytes),
    the workers' own output to run_dir/run.log (cluster/worker_logs.py).
    Returns what cluster.ray_setup.init_ray returns: pass it to shutdown_ray."""
    ray_config = config.ray
    store = ray_setup.object_store_bytes(resolve_model(config.model), ray_config.object_store_gib)
    env = runtime_env(run_dir / watch.RUN_LOG) if run_dir is not None else None
    return ray_setup.init_ray(
        ray_config.address, ray_config.num_cpus, ray_config.dashboard, store, env
    )


def resumable(message: str, run_dir: Path) -> str:
    """`message`, then the checkpoint `--resume` would continue from."""
    latest = checkpoints.latest_checkpoint(run_dir / "checkpoints")
    where = f"its last checkpoint, {latest.name}" if latest else "step 0 (no checkpoint yet)"
    return f"{message}; `--resume name={run_dir.name}` continues from {where}"


@contextmanager
def running(
    config: RunConfig, run_dir: Path, metrics: MetricsLogger, resume: bool = False
) -> Iterator[Driver]:
    """Ray, the components and a Driver for `run_dir`; the pool and a local Ray stop on exit.
    Resuming, the run's records are first cut back to its last checkpoint (rl/resume.py)."""
    if resume:
        prepare_resume(run_dir)
    started = start_ray(config, run_dir)
    parts, head_lost = None, False
    try:
        parts = build(config)
        ray_owner.refresh()  # record the actors' processes too: reaped if this driver is killed
        driver = Driver(config, run_dir, parts, metrics)
        if resume:
            driver.resume()
        yield driver
    except LearnerRankError as error:  # Ray's wrapper spans lines; the group's message is one
        cause = getattr(error, "cause", error)
        raise ProcessLost(resumable(str(cause.args[0] if cause.args else cause), run_dir)) from None
    except LOST_PROCESS as error:  # the cause is in the node's logs, not in the exception
        report = node_report(ray_owner.session_dir())
        log.error("%s; what Ray's node logged:\n%s", type(error).__name__, report)
        cause = (str(error).strip().splitlines() or [""])[0][:160]
        message = f"a Ray process of the run died ({type(error).__name__}: {cause})"
        address = ray_setup.head_address()
        head_lost = not ray_setup.head_reachable(address)
        if head_lost:
            message = f"the Ray head at {address} died or is unreachable ({type(error).__name__})"
        raise ProcessLost(resumable(message, run_dir), head_lost) from error
    finally:
        if parts is not None and not head_lost:  # without a head, killing actors would hang
            parts.pool.shutdown()
        ray_setup.shutdown_ray(started, head_lost)


def run(config: RunConfig, resume: bool = False) -> int:
    """Run the whole training (`resume`: continue runs/<name> from its last checkpoint, or
    start it fresh without one); returns a process exit code."""
    name = config.name or default_run_name()
    run_dir = make_run_dir(config.output_dir, name, resume)
    (run_dir / "config.yaml").write_text(dump_config(config.model_copy(update={"name": name})))
    log.info("run directory: %s", run_dir)
    metrics = MetricsLogger(
        run_dir,
        config.model_dump(mode="json"),
        config.logging.wandb,
        config.logging.project,
        name,
        resume_step=resume_step(run_dir) if resume else None,
    )
    stop_watching = watch.start(config.logging, run_dir)
    try:
        with watch.failure_logged(run_dir), running(config, run_dir, metrics, resume) as driver:
            driver.run()
            evaluation = driver.evaluator.summary()
    except ProcessLost as error:  # not a bug of ours: one line, exit 1, resumable
        print(f"rl/run.py: {error}", file=sys.stderr)
        return 1
    finally:
        metrics.close()
        stop_watching()
    print(render_summary(read_metrics(run_dir / "metrics.jsonl"), str(run_dir)))
    if evaluation:
        print(evaluation)
    if config.logging.push_to_hub:
        from rl.publish import publish_after_run

        return publish_after_run(run_dir, config.logging.push_to_hub, config.logging.hub_private)
    return 0
