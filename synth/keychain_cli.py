"""The `keychain` and `multihop` subcommands of `python -m synth` (registered in synth/cli.py).

    python -m synth keychain --source hotpotqa:../shared/data/multihop/hotpotqa_dev_distractor_500.jsonl \
        --filler ../shared/data/prose/gutenberg_paragraphs.jsonl \
        --context-tokens 16384 --num-chains 16 --n 500 --seed 0 --out runs/keychain_16k
    python -m synth multihop --source musique:PATH --context-tokens 8192 --n 200 --out DIR

Sources: hotpotqa:, hotpotqa-hf:, 2wiki:, musique: (a local JSON/JSONL file) or
hub:ID[:CONFIG][@SPLIT]. The common options (--n, --seed, --out, --push-to-hub) come from
synth/cli.py.
"""

from __future__ import annotations

import argparse
import logging

from synth.task import Task

log = logging.getLogger("synth")


def add_multihop_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--source",
        required=True,
        help="hotpotqa:PATH | hotpotqa-hf:PATH | 2wiki:PATH | musique:PATH | hub:ID[:CONFIG][@SPLIT]",
    )
    parser.add_argument(
        "--filler", default=None, help="filler corpus (JSONL with text, .txt, folder); "
        "default: paragraphs of the source's other items"
    )  # fmt: skip
    parser.add_argument("--tokenizer", default="embedded", help="embedded | tiny | path | Hub id")
    parser.add_argument("--context-tokens", type=int, required=True, help="prompt token budget")
    parser.add_argument("--placement", choices=("uniform", "middle"), default="uniform")
    parser.add_argument("--max-items", type=int, default=None, help="read at most this many items")
    parser.add_argument(
        "--verify-token-count", choices=("always", "first", "never"), default="first",
        help="tokenise finished prompts to check the incremental count",
    )  # fmt: skip


def add_keychain_arguments(parser: argparse.ArgumentParser) -> None:
    add_multihop_arguments(parser)
    parser.add_argument("--num-chains", type=int, required=True, help="true chain + distractors")
    parser.add_argument("--keys-per-chain", type=int, default=4)
    parser.add_argument("--key-format", choices=("uuid4", "hex8", "letters32"), default="uuid4")


def _config(args: argparse.Namespace) -> dict:
    config = {
        "source": args.source,
        "filler": args.filler,
        "tokenizer": args.tokenizer,
        "placement": args.placement,
        "max_items": args.max_items,
        "verify_token_count": args.verify_token_count,
    }
    if hasattr(args, "num_chains"):
        config.update(keys_per_chain=args.keys_per_chain, key_format=args.key_format)
    return config


def _tasks(generator, level: dict[str, int], args: argparse.Namespace) -> list[Task]:
    from tqdm import tqdm

    tasks = list(
        tqdm(generator.iter_tasks(level, args.n, args.seed), total=args.n, desc=generator.name)
    )
    log.info("source %s: %s", args.source, generator.source_load.summary())
    if generator.skipped:
        log.info("items passed over while sampling: %s", dict(generator.skipped))
    return tasks


def keychain_tasks(args: argparse.Namespace) -> list[Task]:
    from synth.keychain import KeyChainGenerator

    generator = KeyChainGenerator(**_config(args))
    level = {"context_tokens": args.context_tokens, "num_chains": args.num_chains}
    return _tasks(generator, level, args)


def multihop_tasks(args: argparse.Namespace) -> list[Task]:
    from synth.keychain import MultiHopGenerator

    generator = MultiHopGenerator(**_config(args))
    return _tasks(generator, {"context_tokens": args.context_tokens}, args)
