"""Where a dataset's records come from: its sources and their licences, and the code that made it.

A generator names its sources with `sources()` (synth/base.py), each a `SourceInfo` made here
from the spec its config holds (`gsm8k:PATH`, `hotpotqa:PATH`, `hub:ID`, a filler file...).
Licences are known only for the sources this project ships loaders for and whose terms are
stated by their authors: GSM8K (MIT), HotpotQA (CC BY-SA 4.0), Project Gutenberg texts
(public domain in the USA), LonGen (Apache-2.0) and this project's built-in problems
(Apache-2.0, pyproject.toml). Anything else is "unknown": the card then says `license: other`
with a link to the source, and a person checks it before sharing. `card_license` picks the
most restrictive licence of a dataset's sources.

`code_version()` is the package version and the git commit (with `-dirty` when the work tree
has uncommitted changes), so a card says which code made the data.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

# Least to most restrictive; a licence outside this list is unknown (and ranks above all).
LICENSE_ORDER = ("public-domain", "mit", "apache-2.0", "cc-by-4.0", "cc-by-sa-4.0")
LICENSE_LINKS = {
    "public-domain": "https://www.gutenberg.org/policy/license.html",
    "mit": "https://opensource.org/license/mit",
    "apache-2.0": "https://www.apache.org/licenses/LICENSE-2.0",
    "cc-by-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
}


@dataclass(frozen=True)
class SourceInfo:
    """One source of a dataset's records, as its card names it."""

    name: str
    """What it is, e.g. "GSM8K (train.jsonl)"."""
    spec: str
    """The spec the generator's config gave (a path, `hub:ID`, `builtin`)."""
    license: str | None
    """A Hub licence id (`mit`, `cc-by-sa-4.0`, ...) or "public-domain"; None when unknown."""
    url: str | None = None
    """Where the source and its terms are described."""
    hub_id: str | None = None
    """The Hub dataset it is (or was taken from), for the card's `source_datasets`."""


# format prefix or known Hub id -> (name, licence, url, hub id)
_KNOWN = {
    "gsm8k": ("GSM8K", "mit", "https://github.com/openai/grade-school-math", "openai/gsm8k"),
    "hotpotqa": ("HotpotQA", "cc-by-sa-4.0", "https://hotpotqa.github.io", "hotpotqa/hotpot_qa"),
    "gutenberg": ("Project Gutenberg texts", "public-domain", "https://www.gutenberg.org", None),
    "longen": ("LonGen", "apache-2.0", "https://github.com/QwenLM/Self-Lengthen", None),
}
_HUB_IDS = {
    "openai/gsm8k": "gsm8k",
    "gsm8k": "gsm8k",
    "hotpotqa/hotpot_qa": "hotpotqa",
    "hotpot_qa": "hotpotqa",
}
_UNKNOWN_URLS = {
    "2wiki": ("2WikiMultihopQA", "https://github.com/Alab-NII/2wikimultihop"),
    "musique": ("MuSiQue", "https://github.com/StonyBrookNLP/musique"),
}


def builtin_source(what: str) -> SourceInfo:
    """Records made by this project's own code alone (Apache-2.0, pyproject.toml)."""
    return SourceInfo(f"{what} (this project's code)", "builtin", "apache-2.0")


def describe_source(spec: str, kind: str = "gsm8k") -> SourceInfo:
    """The SourceInfo of a source spec: `FORMAT:PATH`, `hub:ID[:CONFIG][@SPLIT]`, or a plain
    PATH of format `kind`. A plain path is recognised by its format prefix, or, for prose
    fillers, by "gutenberg" in its name; everything else has an unknown licence."""
    if spec.startswith("hub:"):
        hub_id = spec[4:].split("@")[0].split(":")[0]
        known = _HUB_IDS.get(hub_id.lower())
        if known:
            name, license_id, url, _ = _KNOWN[known]
            return SourceInfo(f"{name} ({hub_id} on the Hub)", spec, license_id, url, hub_id)
        return SourceInfo(
            f"{hub_id} (Hub)", spec, None, f"https://huggingface.co/datasets/{hub_id}", hub_id
        )
    prefix, sep, path = spec.partition(":")
    if not sep or "/" in prefix or len(prefix) < 2:  # a plain path (or a Windows drive)
        prefix, path = kind, spec
    file_name = Path(path).name
    prefix = prefix.removesuffix("-hf")
    if prefix in _KNOWN:
        name, license_id, url, hub_id = _KNOWN[prefix]
        return SourceInfo(f"{name} ({file_name})", spec, license_id, url, hub_id)
    if "gutenberg" in path.lower():
        name, license_id, url, hub_id = _KNOWN["gutenberg"]
        return SourceInfo(f"{name} ({file_name})", spec, license_id, url, hub_id)
    name, url = _UNKNOWN_URLS.get(prefix, (prefix, None))
    return SourceInfo(f"{name} ({file_name})", spec, None, url)


@dataclass(frozen=True)
class CardLicense:
    """The licence a card declares: a Hub id, or `other` with a name and a link."""

    license: str
    name: str | None = None
    link: str | None = None
    unknown: tuple[str, ...] = ()
    """Names of the sources whose licence is unknown (the card asks the reader to check)."""


def card_license(sources: list[SourceInfo]) -> CardLicense:
    """The most restrictive of the sources' licences; `other` (named "unknown", linking to the
    first unknown source) when one is unknown; `other` named "public-domain" when all are."""
    unknown = [source for source in sources if source.license not in LICENSE_ORDER]
    if unknown or not sources:
        link = next((source.url for source in unknown if source.url), None)
        return CardLicense("other", "unknown", link, tuple(source.name for source in unknown))
    strictest = max((source.license for source in sources), key=LICENSE_ORDER.index)
    if strictest == "public-domain":
        return CardLicense("other", "public-domain", LICENSE_LINKS["public-domain"])
    return CardLicense(strictest)


def code_version() -> dict[str, str]:
    """{"package": "longhorizon 0.1.0", "commit": "<sha>[-dirty]" or "unknown"}."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = f"longhorizon {version('longhorizon')}"
    except PackageNotFoundError:
        package = "longhorizon (not installed)"
    root = Path(__file__).resolve().parents[1]
    try:
        commit = _git(root, "rev-parse", "HEAD")
        if _git(root, "status", "--porcelain", "--untracked-files=no"):
            commit += "-dirty"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"package": package, "commit": commit}


def _git(root: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10, check=True
    )
    return result.stdout.strip()
