"""Publish a finished run as a Hub model repository that transformers and vLLM load.

    python -m rl.publish runs/NAME --repo ORG/NAME [--private] [--revision BRANCH]
        [--checkpoint auto|best|last]
    python rl/run.py ... logging.push_to_hub=ORG/NAME      # the same, when the run ends

Uploads, in one commit: the best policy (`best/`, when the run evaluated) or else the last
checkpoint's model files (never its `trainer_state.pt`, `driver.json` or `prefetched.pkl`), the run's
`config.yaml` and `metrics.jsonl`, and a model card (rl/model_card.py: base model, recipe,
steps, curriculum path, evaluation table). The token is huggingface_hub's own (HF_TOKEN or
`hf auth login`); a missing token, a refused one, a namespace that is not the token's or no
network is one line and exit code 2, and the run directory is left as it was (synth/hub.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Literal

import yaml

from rl import checkpoints
from rl.model_card import model_card
from rl.rundir import read_metrics
from synth.hub import HubError, Pushed, check_repo_id, push_files, require_token
from synth.provenance import code_version

log = logging.getLogger(__name__)
# Files of a checkpoint that only resume a run; the model repository leaves them out.
TRAINING_STATE = {"trainer_state.pt", "driver.json", "best.json", "prefetched.pkl"}


def choose_checkpoint(
    run_dir: Path, which: Literal["auto", "best", "last"] = "auto"
) -> tuple[Path, str]:
    """(model directory, how the card names it): best/ when asked or present, else the last
    checkpoint. ValueError: one line."""
    best = run_dir / "best"
    if which in ("auto", "best") and (best / "config.json").exists():
        info = json.loads((best / "best.json").read_text()) if (best / "best.json").exists() else {}
        return best, f"the best policy by held-out evaluation (after step {info.get('step')})"
    if which == "best":
        raise ValueError(
            f"run {run_dir} has no best/ policy (it did not evaluate): use --checkpoint last"
        )
    latest = checkpoints.latest_checkpoint(run_dir / "checkpoints")
    if latest is None:
        raise ValueError(f"run {run_dir} has no checkpoint (no best/, no checkpoints/step-N/)")
    return latest, f"the last checkpoint ({latest.name})"


def run_files(run_dir: Path, model_dir: Path) -> dict[str, Path | bytes]:
    """Path in the repo -> local file: the model's files, config.yaml, metrics.jsonl."""
    checkpoints.model_directory(str(model_dir))  # config.json and weights, or a one-line error
    files: dict[str, Path | bytes] = {
        path.name: path
        for path in sorted(model_dir.iterdir())
        if path.is_file() and path.name not in TRAINING_STATE and not path.name.startswith(".")
    }
    for name in ("config.yaml", "metrics.jsonl"):
        if (run_dir / name).is_file():
            files[name] = run_dir / name
    return files


def publish_run(
    run_dir: Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    which: Literal["auto", "best", "last"] = "auto",
) -> Pushed:
    """Upload the run's policy, config and card as model repo `repo_id` (one commit)."""
    check_repo_id(repo_id)
    require_token()
    if not (run_dir / "config.yaml").is_file():
        raise ValueError(f"{run_dir} is not a run directory: it has no config.yaml")
    model_dir, chosen = choose_checkpoint(run_dir, which)
    files = run_files(run_dir, model_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    metrics = run_dir / "metrics.jsonl"
    records = read_metrics(metrics) if metrics.is_file() else []
    best_file = run_dir / "best" / "best.json"
    best = json.loads(best_file.read_text()) if best_file.is_file() else None
    card = model_card(repo_id, config, records, chosen, best, code_version())
    files["README.md"] = card.encode()
    return push_files(
        repo_id,
        "model",
        files,
        message=f"longhorizon run {config.get('name') or run_dir.name}: {chosen}",
        private=private,
        revision=revision,
    )


def publish_after_run(run_dir: Path, repo_id: str, private: bool) -> int:
    """The driver's last step with `logging.push_to_hub`: publish, or one line and exit 2."""
    try:
        pushed = publish_run(run_dir, repo_id, private)
    except (HubError, ValueError) as error:
        print(
            f"could not publish to {repo_id}: {error}. The run is in {run_dir}; publish it with "
            f"`python -m rl.publish {run_dir} --repo {repo_id}`",
            file=sys.stderr,
        )
        return 2
    print(f"published {run_dir} to {pushed.url} (commit {pushed.commit})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rl.publish", description=__doc__.split("\n")[0]
    )
    parser.add_argument("run_dir", type=Path, help="a run directory (runs/NAME)")
    parser.add_argument("--repo", required=True, help="the Hub model repository, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default=None, help="a branch to push to (created if new)")
    parser.add_argument(
        "--checkpoint",
        choices=("auto", "best", "last"),
        default="auto",
        help="auto: best/ when the run evaluated, else the last checkpoint",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        pushed = publish_run(args.run_dir, args.repo, args.private, args.revision, args.checkpoint)
    except (HubError, ValueError) as error:
        print(f"rl.publish: {error}", file=sys.stderr)
        return 2
    print(f"published {args.run_dir} to {pushed.url} (commit {pushed.commit})")
    return 0


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "rl.publish"))
