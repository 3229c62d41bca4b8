"""`python -m synth <generator> ...`: see synth/cli.py.

This entry point is the composition root for generators that write with a model (LongPO,
Self-Lengthen): it hands them completions from the Ray rollout pool (rl.completions), which the
synth package itself never imports. Nothing imports this module.
"""

import sys
from contextlib import contextmanager


@contextmanager
def pool_completer(model_flags):
    from rl.completions import pool_completer as open_pool

    with open_pool(model_flags) as complete:
        yield complete


if __name__ == "__main__":
    from rl.cli_guard import run_cli
    from synth.cli import main
    from synth.hub import HubError

    sys.exit(
        run_cli(
            lambda argv: main(argv, completer=pool_completer),
            "synth",
            user_errors=(ValueError, HubError),
        )
    )
