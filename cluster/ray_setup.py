"""Start or join Ray, and stop only what we started.

With no address (argument or $RAY_ADDRESS) a local Ray starts bound to 127.0.0.1 only:
the node, its object store and the dashboard listen on the loopback interface, nothing on
the network. With an address (`ray job submit` sets $RAY_ADDRESS) we join that cluster.

    started = init_ray(None)      # local, 127.0.0.1
    ...
    shutdown_ray(started)         # stops the local Ray; a joined cluster keeps running

A local Ray is recorded by cluster/ray_owner.py: what `ray.shutdown()` leaves is ended at exit
(SIGTERM included: ray.init makes it a SystemExit), and after a SIGKILL the next `init_ray` on
the machine ends the killed driver's Ray and removes its session directory.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket

from cluster import ray_owner

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def object_store_bytes(model_path: str | None, gib: float | None = None) -> int | None:
    """Object store size for a local Ray: `gib` if given; else 1.5x the weight files of a local
    model directory (at least 0.5 GiB); else None (Ray's default, 30 % of memory).

    Below two copies of the weights on purpose: each new version the learner publishes must then
    reuse the pages of the released old one. With Ray's default store the allocator kept taking
    fresh pages, and two to three copies' worth stayed resident in shared memory (measured:
    1 GB of the embedded default's peak for a 0.5 GB model)."""
    if gib is not None:
        return int(gib * 2**30)
    if model_path is None or not os.path.isdir(model_path):
        return None
    names = os.listdir(model_path)
    weights = sum(
        os.path.getsize(os.path.join(model_path, name))
        for name in names
        if name.endswith((".safetensors", ".bin"))
    )
    return max(int(1.5 * weights), 2**29) if weights else None


def init_ray(
    address: str | None = None,
    num_cpus: int | None = None,
    dashboard: bool = False,
    object_store_memory: int | None = None,
    runtime_env: dict | None = None,
) -> bool:
    """Connect this process to Ray; True when this call connected it (pass that to shutdown_ray).

    Local (no address, no $RAY_ADDRESS): starts Ray on 127.0.0.1; its web dashboard only when
    `dashboard` is set, because it is a dozen processes and ~1 GB of resident memory on a
    laptop run (a cluster started with `ray start --head` has its own dashboard).
    `object_store_memory` (bytes) sizes a local Ray's object store (see object_store_bytes).
    `runtime_env` applies to every worker of this job (cluster.worker_logs.runtime_env sends
    their output to a log file).
    Already connected: nothing happens and False comes back, so a caller never stops a Ray
    that someone else owns. `num_cpus` sets a local Ray's logical CPUs (ignored when joining).
    """
    address = address or os.environ.get("RAY_ADDRESS") or None
    if not address:
        # Read by Ray when it is imported: every node-address lookup then answers 127.0.0.1
        # instead of the address of the interface that routes outwards.
        os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
        # Ray starts worker processes at niceness 15; rollout workers are the main load and
        # should not yield to every other process on the node (the learner included).
        os.environ.setdefault("RAY_worker_niceness", "0")
    import ray

    if ray.is_initialized():
        return False
    if address:
        log.info("joining Ray cluster at %s", address)
        ray.init(address=address, log_to_driver=True, runtime_env=runtime_env)
        return True
    ray_owner.reap_stale()  # a local Ray a SIGKILLed driver left on this machine
    context = ray.init(
        num_cpus=num_cpus,
        _node_ip_address=LOOPBACK,
        include_dashboard=dashboard,
        object_store_memory=object_store_memory,
        dashboard_host=LOOPBACK,
        log_to_driver=True,
        runtime_env=runtime_env,
    )
    log.info("started local Ray on %s (dashboard %s)", LOOPBACK, context.dashboard_url or "off")
    ray_owner.claim(context.address_info["session_dir"])
    return True


def head_address() -> str | None:
    """host:port of the Ray head (its GCS) this process is connected to; None if none."""
    import ray

    if not ray.is_initialized():
        return None
    return ray.get_runtime_context().gcs_address


def head_reachable(address: str | None, timeout: float = 2.0) -> bool:
    """Whether the Ray head at `address` (head_address()) still accepts connections. When it is
    gone every Ray call waits for it (60 s by default) and then Ray ends the process."""
    if not address:
        return False
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def shutdown_ray(started: bool, head_lost: bool = False) -> None:
    """Undo init_ray: a local Ray we started stops; from a joined cluster we only disconnect.
    With the head lost there is nothing to talk to: Ray's own shutdown (now and at exit) would
    wait for it and then abort the process, so it is skipped; a local Ray's processes are still
    ended by pid."""
    import ray

    if head_lost:
        atexit.unregister(ray.shutdown)
    elif started and ray.is_initialized():
        ray.shutdown()
    if started:
        ray_owner.release()  # what shutdown left of a local Ray we started; none when joined
