"""A dataset made by `python -m synth`, on disk and on the Hub: one config per level, one card.

    python -m synth.publish DIR --repo ORG/NAME [--private] [--revision BRANCH]

publishes a directory written by `python -m synth ... --out DIR` (again, after a network error
say) without regenerating it; `python -m synth ... --push-to-hub` runs the same code.

On disk, `DIR` holds what `datasets.load_from_disk` reads (a Dataset for one level, a
DatasetDict keyed by config name for several) and the card as DIR/README.md. On the Hub, each
level is a config whose split (train, or test for purpose=eval) lies in
`<config>/<split>-0000i-of-0000n.parquet` shards, the layout `datasets.push_to_hub` writes;
the card's `configs` name those files, so `load_dataset(REPO, CONFIG)` and the viewer open
every level. A push is one commit, and it deletes the parquet files of an earlier push that
this one does not rewrite (a level left out, fewer shards), so no stale shard matches a glob.
"""

from __future__ import annotations

import argparse
import logging
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from synth.card import REPO_PLACEHOLDER
from synth.hub import HubError, Pushed, check_repo_id, push_files, require_token
from synth.paths import writable_folder

log = logging.getLogger(__name__)
MAX_SHARD_BYTES = 500 * 1024 * 1024  # datasets.push_to_hub's default shard size


def check_out_dir(out: Path, overwrite: bool = False) -> None:
    """Before any work: `out` is new or empty, or holds a dataset written earlier and
    `overwrite` says to replace it; its parent can be written (the new dataset is made beside
    it and renamed into place)."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file: give a directory")
    if out.exists() and any(out.iterdir()):
        if not ((out / "state.json").exists() or (out / "dataset_dict.json").exists()):
            raise ValueError(f"--out {out} exists and is not a dataset directory: choose another")
        if not overwrite:
            raise ValueError(
                f"--out {out} already holds a dataset: pass --overwrite to replace it, or choose "
                "another directory"
            )
    if not writable_folder(out.absolute().parent):
        raise ValueError(f"--out {out} cannot be created or written to")


def write_local(out: Path, configs: dict[str, Any], card: str, overwrite: bool = False) -> None:
    """`configs` (name -> Dataset) to `out` for load_from_disk, and the card as README.md.

    Written to a hidden folder beside `out` and renamed into place at the end, so an
    interrupted write leaves no half dataset and an earlier one is replaced only whole."""
    from datasets import DatasetDict

    check_out_dir(out, overwrite)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    try:
        if len(configs) == 1:
            next(iter(configs.values())).save_to_disk(str(staging))
        else:
            DatasetDict(configs).save_to_disk(str(staging))
        (staging / "README.md").write_text(card, encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it 0700; a dataset folder is as readable as any
        if out.exists():
            retired = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            out.rename(retired / "dataset")
            staging.rename(out)
            shutil.rmtree(retired)
        else:
            staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def read_local(out: Path) -> tuple[dict[str, Any], str, str]:
    """(configs, card, split) of a directory `write_local` wrote; ValueError: one line."""
    from datasets import Dataset, load_from_disk
    from huggingface_hub import DatasetCard

    readme = out / "README.md"
    if not readme.is_file():
        raise ValueError(f"{out} has no README.md: not a dataset written by `python -m synth`")
    card = readme.read_text(encoding="utf-8")
    declared = DatasetCard(card).data.to_dict().get("configs") or []
    names = [entry["config_name"] for entry in declared]
    if not names:
        raise ValueError(f"{readme} names no configs: not a card written by `python -m synth`")
    try:
        loaded = load_from_disk(str(out))
    except FileNotFoundError as error:
        raise ValueError(f"{out}: {str(error).splitlines()[0]}") from None
    configs = {names[0]: loaded} if isinstance(loaded, Dataset) else dict(loaded)
    if sorted(configs) != sorted(names):
        raise ValueError(f"{out} holds configs {sorted(configs)} but its card names {names}")
    split = declared[0]["data_files"][0]["split"]
    return {name: configs[name] for name in names}, card, split


def parquet_shards(configs: dict[str, Any], split: str, folder: Path) -> dict[str, Path]:
    """Each config's rows as parquet shards under `folder`: path in repo -> local file."""
    files = {}
    for name, dataset in configs.items():
        shards = max(1, math.ceil(dataset.data.nbytes / MAX_SHARD_BYTES))
        for index in range(shards):
            # matches the card's data_files glob, synth.card.data_files_pattern
            path_in_repo = f"{name}/{split}-{index:05d}-of-{shards:05d}.parquet"
            local = folder / path_in_repo
            local.parent.mkdir(parents=True, exist_ok=True)
            dataset.shard(shards, index, contiguous=True).to_parquet(str(local))
            files[path_in_repo] = local
    return files


def push_dataset(
    configs: dict[str, Any],
    card: str,
    repo_id: str,
    split: str,
    private: bool = False,
    revision: str | None = None,
) -> Pushed:
    """One commit: the shards of every config and the card (naming `repo_id`)."""
    with tempfile.TemporaryDirectory(prefix="synth-publish-") as tmp:
        files: dict[str, Path | bytes] = dict(parquet_shards(configs, split, Path(tmp)))
        files["README.md"] = card.replace(REPO_PLACEHOLDER, repo_id).encode()
        levels = ", ".join(configs)
        return push_files(
            repo_id,
            "dataset",
            files,
            message=f"longhorizon dataset: {levels}",
            private=private,
            revision=revision,
            stale=lambda path: path.endswith(".parquet"),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m synth.publish", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "directory", type=Path, help="a directory written by `python -m synth --out`"
    )
    parser.add_argument("--repo", required=True, help="the Hub dataset repository, ORG/NAME")
    parser.add_argument("--private", action="store_true", help="create the repository private")
    parser.add_argument("--revision", default=None, help="a branch to push to (created if new)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        check_repo_id(args.repo)
        require_token()
        configs, card, split = read_local(args.directory)
        card = card.replace(REPO_PLACEHOLDER, args.repo)
        pushed = push_dataset(configs, card, args.repo, split, args.private, args.revision)
    except (HubError, ValueError) as error:
        print(f"synth.publish: {error}", file=sys.stderr)
        return 2
    (args.directory / "README.md").write_text(card, encoding="utf-8")  # names the repo now
    print(f"pushed {len(configs)} config(s) to {pushed.url} (commit {pushed.commit})")
    return 0


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "synth.publish", user_errors=(ValueError, HubError)))
