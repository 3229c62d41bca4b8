"""Ray worker processes write their own lines to a log file; only errors reach the console.

Without this, every rollout engine's vLLM INFO and WARNING lines ("RotaryEmbedding: Failed to
load weights", "CPU backend doesn't allow to use torch.set_num_threads", ...), model-loading
progress bars and C++ warnings reach the driver's console through Ray (`log_to_driver`) on
every weight reload, and drown the run's progress bar.

`runtime_env(path)` is what `init_ray` passes to `ray.init`: it names the file and installs
`setup` as Ray's `worker_process_setup_hook`, which every worker process of the job runs
before any actor starts. The hook travels by value (this module uses the standard library
only): a worker that imports another copy of this package, or none, still runs it, and a hook
that fails to import would kill every worker. `setup` points the process's stdout and stderr (file descriptors 1
and 2, so C and C++ output too) at the file, and logs Python records at ERROR and above to a
copy of the original stderr as well: Ray forwards that one to the driver. vLLM logs through
Python's root logger here (VLLM_CONFIGURE_LOGGING=0), so its errors take the same path.

A worker that cannot open the file (a node that does not see the run directory) keeps Ray's
default: everything goes to the driver, as before.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

LOG_ENV = "LONGHORIZON_WORKER_LOG"
FORMAT = "%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"
DATE_FORMAT = "%H:%M:%S"


def runtime_env(log_file: str | Path) -> dict[str, Any]:
    """Ray runtime_env fields that send every worker process's output to `log_file`."""
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return {
        "env_vars": {LOG_ENV: str(Path(log_file).resolve())},
        "worker_process_setup_hook": setup,
    }


def setup() -> None:
    """Ray's worker_process_setup_hook: stdout and stderr to the file, errors also to Ray's
    stream (the driver's console). Does nothing without LONGHORIZON_WORKER_LOG."""
    path = os.environ.get(LOG_ENV)
    if not path:
        return
    try:
        log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        return
    # Read by vLLM when it is imported (after this hook): its records then reach the root
    # logger below instead of a handler of its own that writes every level to stdout.
    os.environ["VLLM_CONFIGURE_LOGGING"] = "0"
    to_driver = os.fdopen(os.dup(2), "w", buffering=1)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.close(log_fd)
    formatter = logging.Formatter(FORMAT, DATE_FORMAT)
    to_file = logging.StreamHandler(sys.stderr)  # fd 2: the file now
    to_file.setFormatter(formatter)
    errors = logging.StreamHandler(to_driver)
    errors.setLevel(logging.ERROR)
    errors.setFormatter(formatter)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(to_file)
    root.addHandler(errors)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # FutureWarnings and the like: to the file, as WARNING
