"""Plot a Self-Lengthen run's rounds: median words and the LonGen length-following score.

    python -m rl.plot_rounds runs/self_lengthen-cpu --out docs/self_lengthen_rounds.png

Left: per round, the median words of the generator's initial responses and of the extended
responses it learns from (that round's data), and of the generator's LonGen answers after the
round (round 0: the starting model). Right: LonGen's mean length-following score. Reads
rounds/round-*/round.json. Needs matplotlib (the `dev` extras).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERIES = {
    "words/initial_median": "initial responses (G)",
    "words/extended_median": "extended responses (E)",
    "words/longen_median": "LonGen answers (G after the round)",
}


def read_rounds(run_dir: Path) -> list[dict]:
    paths = sorted((run_dir / "rounds").glob("round-*/round.json"),
                   key=lambda p: int(p.parent.name.split("-")[1]))  # fmt: skip
    if not paths:
        raise ValueError(f"{run_dir}: no rounds/round-*/round.json; is it a self_lengthen run?")
    return [json.loads(path.read_text()) for path in paths]


def plot(rounds: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (words, score) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key, label in SERIES.items():
        points = [(r["round"], r[key]) for r in rounds if key in r]
        if points:
            words.plot(*zip(*points, strict=True), marker="o", label=label)
    words.set(xlabel="round", ylabel="median words", title="words per round")
    words.legend(fontsize=8)
    points = [(r["round"], r["eval/longen/score"]) for r in rounds if "eval/longen/score" in r]
    if points:
        score.plot(*zip(*points, strict=True), marker="o", color="black")
    score.set(xlabel="round", ylabel="mean score", title="LonGen length-following", ylim=(0, None))
    for axis in (words, score):
        axis.set_xticks([r["round"] for r in rounds])
    figure.tight_layout()
    figure.savefig(out, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        rounds = read_rounds(args.run_dir)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    plot(rounds, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
