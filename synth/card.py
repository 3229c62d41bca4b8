"""The dataset card: one README.md that says what the data is, where it came from under which
licence, and how to make it again. The same text goes next to `--out` and to the Hub.

YAML metadata (huggingface_hub's `DatasetCardData`): license (the most restrictive of the
sources', or `other` with a name and link, synth/provenance.py), language, task_categories,
size_categories, tags, source_datasets, pretty_name, one config per level (the first is the
default) with its data files, and `dataset_info` (features and split sizes, as
`datasets.push_to_hub` writes them) so the Hub's viewer opens every config. The body: what the
generator does and which paper it follows, the levels and their axes, the record fields,
per-level statistics (synth/card_stats.py), counted skips with reasons, an example record, the
command and seed that regenerate it, the options in full, and the code's version and commit.
What a generator contributes is declared on its class (synth/base.py).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from typing import Any

from synth.card_stats import PromptCounter, level_stats, stats_table
from synth.provenance import LICENSE_LINKS, card_license, code_version

REPO_PLACEHOLDER = "<user>/<dataset>"
SIZE_CATEGORIES = (
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
)


@dataclass
class CardLevel:
    """One config of the dataset: a level and its records."""

    config: str
    level: dict[str, int]
    rows: list[dict[str, Any]]
    skips: dict[str, int] = field(default_factory=dict)
    """Items passed over while making this level's records, by reason."""


@dataclass
class CardInputs:
    generator: Any
    levels: list[CardLevel]
    split: str
    """`train`, or `test` for a generator configured with purpose=eval."""
    n: int
    seed: int
    command: list[str]
    """The command that regenerates the dataset, as argv."""
    datasets: dict[str, Any] | None = None
    """config -> its `datasets.Dataset`, for `dataset_info` (features, sizes); None: left out."""
    repo_id: str | None = None
    notes: list[str] = field(default_factory=list)
    """Markdown lines of a section of its own, after what was filtered (the pass-rate filter's
    histogram, rl/filter.py)."""


def config_name(level: dict[str, int]) -> str:
    """`horizon_3`, `context_tokens_4096-num_chains_2`: a level as a config and folder name
    (`all` for records without a level)."""
    return "-".join(f"{axis}_{value}" for axis, value in level.items()) or "all"


def data_files_pattern(config: str, split: str) -> str:
    return f"{config}/{split}-*"


def size_category(rows: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if rows < bound:
            return name
    return "n>10M"


def card_metadata(inputs: CardInputs) -> Any:
    """The YAML front matter as huggingface_hub's DatasetCardData."""
    from huggingface_hub import DatasetCardData

    generator = inputs.generator
    sources = _sources(generator)
    licence = card_license(sources)
    configs = []
    for index, level in enumerate(inputs.levels):
        entry = {
            "config_name": level.config,
            "data_files": [
                {"split": inputs.split, "path": data_files_pattern(level.config, inputs.split)}
            ],
        }
        if index == 0:
            entry["default"] = True
        configs.append(entry)
    extra: dict[str, Any] = {}
    if licence.license == "other":
        extra["license_name"] = licence.name
        if licence.link:
            extra["license_link"] = licence.link
    if inputs.datasets:
        extra["dataset_info"] = [
            _info(name, data, inputs.split) for name, data in inputs.datasets.items()
        ]
    hub_ids = sorted({source.hub_id for source in sources if source.hub_id})
    origin = [f"extended|{hub_id}" for hub_id in hub_ids] or ["extended"]
    if all(source.spec == "builtin" for source in sources):
        origin = ["original"]
    return DatasetCardData(
        license=licence.license,
        language=["en"],
        task_categories=list(getattr(generator, "task_categories", ("text-generation",))),
        size_categories=[size_category(sum(len(level.rows) for level in inputs.levels))],
        source_datasets=origin,
        pretty_name=f"longhorizon {generator.name}: {len(inputs.levels)} level(s)",
        tags=["synthetic", "longhorizon", generator.name, *getattr(generator, "tags", ())],
        configs=configs,
        **extra,
    )


def _info(config: str, dataset: Any, split: str) -> dict[str, Any]:
    """One config's `dataset_info` entry, as `datasets.push_to_hub` writes it."""
    size = dataset.data.nbytes
    return {
        "config_name": config,
        "features": dataset.features._to_yaml_list(),
        "splits": [{"name": split, "num_bytes": size, "num_examples": len(dataset)}],
        "dataset_size": size,
    }


def dataset_card(inputs: CardInputs) -> str:
    """The whole README.md: YAML front matter, then the body."""
    metadata = card_metadata(inputs)
    body = [*_intro(inputs), *_levels(inputs), *_fields(), *_statistics(inputs), *_skips(inputs)]
    body += inputs.notes
    body += [*_licence(inputs), *_example(inputs), *_reproduce(inputs)]
    return f"---\n{metadata.to_yaml()}\n---\n\n" + "\n".join(body).rstrip() + "\n"


def _sources(generator) -> list:
    return generator.sources() if hasattr(generator, "sources") else []


def _intro(inputs: CardInputs) -> list[str]:
    generator = inputs.generator
    repo = inputs.repo_id or REPO_PLACEHOLDER
    first = inputs.levels[0].config
    lines = [f"# longhorizon `{generator.name}`: {len(inputs.levels)} level(s)", ""]
    if getattr(generator, "description", None):
        lines += [generator.description, ""]
    lines.append(f"Made by the `{generator.name}` generator of longhorizon (`python -m synth`).")
    if getattr(generator, "paper", None):
        lines.append(f"It follows *{generator.paper}*.")
    lines += [
        "",
        "```python",
        "from datasets import load_dataset",
        f'dataset = load_dataset("{repo}", "{first}", split="{inputs.split}")',
        "# a local copy written with --out: datasets.load_from_disk(DIR)",
        "```",
        "",
    ]
    return lines


def _levels(inputs: CardInputs) -> list[str]:
    generator = inputs.generator
    axes = {axis.name: axis.values for axis in generator.axes()}
    fields = generator.level_class.model_fields
    lines = ["## Levels", "", "One config per level (a point on the difficulty axes):", ""]
    lines += ["| config | level | split | rows |", "|---|---|---|---:|"]
    for level in inputs.levels:
        point = ", ".join(f"{k}={v}" for k, v in level.level.items())
        lines.append(f"| `{level.config}` | {point} | {inputs.split} | {len(level.rows):,} |")
    lines += ["", "| axis | meaning | curriculum values (easiest first) |", "|---|---|---|"]
    for name, info in fields.items():
        meaning = " ".join((info.description or "").split())
        values = ", ".join(map(str, axes[name])) if name in axes else "(not an axis here)"
        lines.append(f"| `{name}` | {meaning} | {values} |")
    return [*lines, ""]


def _fields() -> list[str]:
    from synth.task import Task

    lines = ["## Record fields", "", "| field | meaning |", "|---|---|"]
    for name, info in Task.model_fields.items():
        lines.append(f"| `{name}` | {' '.join((info.description or '').split())} |")
    return [*lines, ""]


def _statistics(inputs: CardInputs) -> list[str]:
    tokenizer = getattr(inputs.generator.config, "tokenizer", "embedded")
    counter = PromptCounter(tokenizer)
    stats = {level.config: level_stats(level.rows, counter) for level in inputs.levels}
    lines = ["## Statistics per level", "", *stats_table(stats, tokenizer), ""]
    lines.append(
        "Prompt tokens are counted with the chat template applied. Rewards: "
        + ", ".join(sorted({r for item in stats.values() for r in item.rewards}))
        + " (`rewards.REWARDS`)."
    )
    if counter.error:
        lines.append(f"Token counts unavailable: {counter.error}.")
    lines += ["", "Fingerprints (sha256 over the records as canonical JSON lines):", ""]
    lines += [f"- `{name}`: `{item.fingerprint}`" for name, item in stats.items()]
    return [*lines, ""]


def _skips(inputs: CardInputs) -> list[str]:
    generator = inputs.generator
    lines = ["## What was filtered", ""]
    if hasattr(generator, "summary"):
        lines += [f"Source: {generator.summary()}", ""]
    totals = generator.skip_counts() if hasattr(generator, "skip_counts") else {}
    if not totals:
        return [*lines, "Nothing was skipped.", ""]
    lines += ["| reason | count |", "|---|---:|"]
    lines += [f"| {reason} | {count:,} |" for reason, count in sorted(totals.items())]
    per_level = [(level.config, level.skips) for level in inputs.levels if level.skips]
    if per_level:
        lines += ["", "Passed over while making each level:", ""]
        for name, skips in per_level:
            text = ", ".join(f"{reason} {count:,}" for reason, count in sorted(skips.items()))
            lines.append(f"- `{name}`: {text}")
    return [*lines, ""]


def _licence(inputs: CardInputs) -> list[str]:
    sources = _sources(inputs.generator)
    licence = card_license(sources)
    lines = ["## Sources and licence", "", "| source | spec | licence |", "|---|---|---|"]
    for source in sources:
        name = f"[{source.name}]({source.url})" if source.url else source.name
        lines.append(f"| {name} | `{source.spec}` | {source.license or 'unknown'} |")
    if licence.license != "other":
        link = LICENSE_LINKS[licence.license]
        note = f"The card declares `{licence.license}` ({link}): the strictest of its sources'."
    elif licence.name == "public-domain":
        note = "Every source is in the public domain (in the USA)."
    else:
        unknown = ", ".join(licence.unknown) or "the sources"
        note = (
            f"The licence of {unknown} is unknown: check its terms before you use or share this "
            "dataset (the card says `license: other`)."
        )
    lines += ["", note]
    return [*lines, ""]


def _example(inputs: CardInputs) -> list[str]:
    level = inputs.levels[0]
    if not level.rows:
        return []
    row = dict(level.rows[0])
    row["prompt"] = [{**m, "content": shorten(m["content"])} for m in row["prompt"]]
    row["meta"] = shorten(row["meta"], 1500)
    text = json.dumps(row, indent=2, ensure_ascii=False)
    return [
        f"## Example record (`{level.config}`, long texts shortened)",
        "",
        "```json",
        text,
        "```",
        "",
    ]


def shorten(text: str, limit: int = 1200) -> str:
    """`text`, or its head and tail around a note of how much was left out."""
    if len(text) <= limit:
        return text
    head, tail = text[: limit * 2 // 3], text[-limit // 3 :]
    return f"{head} [... {len(text) - len(head) - len(tail):,} characters left out ...] {tail}"


def _reproduce(inputs: CardInputs) -> list[str]:
    version = code_version()
    options = inputs.generator.config.model_dump(mode="json")
    lines = [
        "## Reproduce",
        "",
        "```bash",
        shlex.join(inputs.command),
        "```",
        "",
        f"Seed {inputs.seed}, {inputs.n:,} records per level; every record is a pure function of "
        "(options, level, seed, index), so the same command and code give the same records "
        "(compare the fingerprints above).",
        "",
        f"Made with {version['package']} at commit `{version['commit']}`. The generator's "
        "options in full (defaults included):",
        "",
        "```json",
        json.dumps(options, indent=2, ensure_ascii=False),
        "```",
    ]
    if getattr(inputs.generator, "paper", None):
        lines += [
            "",
            "## Citation",
            "",
            f"Cite the work the method follows: {inputs.generator.paper}.",
        ]
    return [*lines, ""]
