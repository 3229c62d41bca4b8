"""Hub datasets read as sources: the `hub:ID[:CONFIG][@SPLIT]` spec and the call that loads it.

Every source that reads rows from the Hub (task records, documents, multi-hop items, GSM8K
rows) goes through `load_hub`, so a spec means the same everywhere (split `train` unless
named) and a failure is one line: the dataset, what went wrong, and the fix. (Publishing to
the Hub is synth/hub.py.) Users have the Hub; this machine does not, so tests run the real
`datasets.load_dataset` on local files (its "json" builder) or mock it, and say so.
"""

from __future__ import annotations

from typing import Any, NamedTuple

OFFLINE_FIX = "check the id, the network and HF_HUB_OFFLINE"


class HubSpec(NamedTuple):
    dataset_id: str
    config: str | None
    split: str


def parse_hub(spec: str) -> HubSpec:
    """`hub:ID[:CONFIG][@SPLIT]` (the `hub:` prefix optional) as its parts."""
    where, _, split = spec.removeprefix("hub:").partition("@")
    dataset_id, _, config = where.partition(":")
    if not dataset_id:
        raise ValueError(
            f"{spec!r}: write hub:ID[:CONFIG][@SPLIT], e.g. hub:openai/gsm8k:main@test"
        )
    return HubSpec(dataset_id, config or None, split or "train")


def load_hub(spec: HubSpec | str, fix: str = OFFLINE_FIX, **kwargs: Any) -> Any:
    """The split as a `datasets.Dataset`; ValueError in one line when it does not load."""
    from datasets import load_dataset

    if isinstance(spec, str):
        spec = parse_hub(spec)
    try:
        return load_dataset(spec.dataset_id, spec.config, split=spec.split, **kwargs)
    except Exception as error:  # the Hub's errors are many (offline, unknown id, no split)
        first = (str(error).splitlines() or [""])[0][:160]
        raise ValueError(
            f"Hub dataset {spec.dataset_id!r} (config {spec.config}, split {spec.split!r}) did "
            f"not load: {type(error).__name__}: {first}; {fix}"
        ) from None
