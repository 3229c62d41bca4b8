"""`python -m synth <generator> ...`: see synth/cli.py.

This entry point is the composition root for generators that write with a model (LongPO,
Self-Lengthen): it hands them completions from the Ray rollout pool (rl.completions), which the
synth package itself never imports; and `python -m synth filter` (the pass-rate filter) runs
rl/filter.py. Nothing imports this module.
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
    from synth.hub import HubError

    if sys.argv[1:2] == ["filter"]:  # the pass-rate filter drives Ray: it lives in rl/
        from rl.filter import main as filter_main

        sys.exit(run_cli(lambda argv: filter_main(argv[1:]), "synth filter"))
    from synth.cli import main

    sys.exit(
        run_cli(
            lambda argv: main(argv, completer=pool_completer),
            "synth",
            user_errors=(ValueError, HubError),
        )
    )
