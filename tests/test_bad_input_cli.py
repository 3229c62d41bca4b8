"""Every CLI over a table of bad inputs, as a new user would type them (issue #23).

Each row runs the real entry point as a subprocess and expects exit 2, exactly one line on
stderr that names the flag or key, no traceback, and no file outside the directories the row
gave. Every row fails before Ray, vLLM or any generation starts, so the table takes seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN = ["rl/run.py"]
SYNTH = ["-m", "synth"]
DASHBOARD = ["-m", "curricula.dashboard"]
EVAL = ["-m", "rl.eval"]

# (argv after python, text the single stderr line must contain); {w} is the work folder.
ROWS = [
    (RUN + ["--dry-run", "name=../../etc"], "name: '../../etc' is a path"),
    (RUN + ["--dry-run", "name=a/b"], "name: 'a/b' is a path"),
    (RUN + ["--dry-run", 'name="a\\tb"'], "control characters"),
    (RUN + ["--dry-run", "model=/nonexistent"], "model: model path /nonexistent does not exist"),
    (RUN + ["model=/nonexistent", "output_dir={w}/runs"], "does not exist"),  # no --dry-run
    (RUN + ["--dry-run", "model=no such model"], "model: model 'no such model'"),
    (RUN + ["--dry-run", "tasks.h1.options.source=nosuch"], "tasks.h1.options"),
    (RUN + ["output_dir={w}/runs", "name=old"], "pass --resume"),  # an earlier run
    (RUN + ["--resume", "output_dir={w}/runs", "name=olf"], "there is no run directory"),
    (RUN + ["--dry-run", "--resume", "output_dir={w}/runs", "name=old"], "no complete checkpoint"),
    (RUN + ["--resume-or-start", "output_dir={w}/runs"], "--resume-or-start needs the run's name"),
    # run from another directory: the recipe's relative data paths do not resolve
    (RUN + ["--dry-run", "--config", f"{REPO}/configs/self_lengthen.yaml"], "eval.source"),
    (RUN + ["--dry-run", "--resume", "--config", f"{REPO}/configs/self_lengthen.yaml",
            "output_dir={w}/runs", "name=olf", "eval.queries=0",
            f"data.options.seed_source={REPO.parent}/shared/data/longform/LonGen.jsonl"],
     "there is no run directory"),
    (RUN + ["--dry-run", "output_dir={w}/afile"], "output_dir: "),
    (RUN + ["--dry-run", "output_dir=/proc/x"], "output_dir: /proc/x cannot be created"),
    (RUN + ["--dry-run", "--config", "{w}/binary.yaml"], "is not UTF-8 text"),
    (RUN + ["--dry-run", "rollout.kv_cache_gib=auto", "rollout.max_model_len=100000000"],
     "one sequence of rollout.max_model_len=100,000,000 tokens"),
    (RUN + ["--dry-run", "--config", f"{REPO}/configs/longpo.yaml", "rollout.kv_cache_gib=auto"],
     "kv_cache_gib=auto sizes the cache from a GRPO batch"),
    (RUN + ["--dry-run", "trainer.lr=[1"], "at line 1, column 3"),
    (RUN + ["--dry-run", "trainer.lr=1e400"], "not a finite number"),
    (RUN + ["--dry-run", "rollout.kv_cache_gib=0.01"], "fewer than one sequence"),
    (RUN + ["--dry-run", "--config", "{w}/twice.yaml"], "key 'steps' is given twice at line 2"),
    (RUN + ["--dry-run", "--config", "{w}/nested_inf.yaml"], "trainer.lr: must be a finite"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--out", "{w}/dataset"], "--overwrite"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--out", "/proc/x"], "--out /proc/x"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--limit", "0", "--out", "{w}/d"], "--limit"),
    (SYNTH + ["h1", "--horizon", "0", "--n", "2", "--out", "{w}/d"], "h1: --horizon"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--magnitude-ratio", "-1", "--out", "{w}/d"],
     "--magnitude-ratio"),
    (SYNTH + ["keychain", "--context-tokens", "1024", "--num-chains", "1", "--keys-per-chain",
              "0", "--n", "2", "--out", "{w}/d"], "--keys-per-chain"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--out", "{w}/d", "--push-to-hub", "me/x"],
     "no Hugging Face token"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--out", "{w}/d", "--push-to-hub", "a/../b"],
     "must be ORG/NAME"),
    (SYNTH + ["h1", "--horizon", "1", "--n", "2", "--source", "gsm8k:{w}/binary.jsonl",
              "--out", "{w}/d"], "not_utf8 1 (line 1)"),
    (DASHBOARD + ["{w}/binary.jsonl"], "no curriculum/ metrics (1 unreadable lines)"),
    (DASHBOARD + ["{w}/step_x.jsonl"], "no curriculum/ metrics (1 unreadable lines)"),
    (DASHBOARD + ["{w}/metrics.jsonl", "--html", "/proc/x.html"], "/proc/x.html"),
    (DASHBOARD + ["{w}/missing.jsonl"], "is not a file"),
    (EVAL + ["--model", "/nonexistent", "--data", "h1:horizon=1,n=2"], "does not exist"),
    (EVAL + ["--model", "tiny", "--data", "h1:horizon=1,n=2", "--samples", "0"], "--samples"),
    (EVAL + ["--model", "tiny", "--data", "{w}/binary.jsonl"], "binary.jsonl"),
    (EVAL + ["--model", "tiny", "--data", "h1:horizon=1,n=2", "--json", "/proc/x/s.json"],
     "--json /proc/x/s.json"),
]  # fmt: skip


def _work_folder(root: Path) -> Path:
    """The inputs the rows name: bad files, an earlier run, an earlier dataset."""
    root.mkdir(exist_ok=True)
    (root / "binary.yaml").write_bytes(b"\x00\xff\xfe binary")
    (root / "twice.yaml").write_text("steps: 3\nsteps: 4\n")
    (root / "nested_inf.yaml").write_text("trainer:\n  lr: .inf\n")
    (root / "afile").write_text("not a folder")
    (root / "binary.jsonl").write_bytes(b"\xe9\xff\x00 not text\n")
    (root / "step_x.jsonl").write_text('{"step": "x", "curriculum/h1/horizon": 1}\n')
    (root / "metrics.jsonl").write_text('{"step": 1, "curriculum/h1/horizon": 1}\n')
    (root / "runs" / "old" / "checkpoints").mkdir(parents=True)
    (root / "runs" / "old" / "config.yaml").write_text("name: old\n")
    (root / "dataset").mkdir()
    (root / "dataset" / "state.json").write_text("{}")
    return root


def _tree(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def _run(argv: list[str], work: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "LONGHORIZON_DEBUG")}
    env.update(HF_HOME=str(cwd / "hf-home"), HF_HUB_OFFLINE="0", PYTHONPATH=str(REPO))
    env["LONGHORIZON_CACHE"] = str(cwd / "cache")  # where an internal error's log would go
    env["LONGHORIZON_MODELS_DIR"] = os.environ.get(
        "LONGHORIZON_MODELS_DIR", str(Path("~/.cache/longhorizon/models").expanduser())
    )
    args = [arg.replace("{w}", str(work)) for arg in argv]
    if args[0].endswith(".py"):
        args[0] = str(REPO / args[0])
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_cli_refuses_bad_input_in_one_line(tmp_path):
    work = _work_folder(tmp_path / "work")
    before = _tree(work)
    cwds = []
    for index in range(len(ROWS)):
        cwds.append(tmp_path / f"cwd{index}")
        cwds[-1].mkdir()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda row, cwd: _run(row[0], work, cwd), ROWS, cwds))
    failures = []
    for (argv, expected), cwd, result in zip(ROWS, cwds, results, strict=True):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        problems = []
        if result.returncode != 2:
            problems.append(f"exit {result.returncode}")
        if len(lines) != 1 or expected not in lines[0]:
            problems.append(f"stderr {lines!r}, expected one line with {expected!r}")
        if "Traceback" in result.stderr + result.stdout:
            problems.append("a traceback")
        if _tree(cwd) - {"hf-home"}:
            problems.append(f"files in the working directory: {sorted(_tree(cwd))}")
        if problems:
            failures.append(f"{' '.join(argv)}: {'; '.join(problems)}")
    assert _tree(work) == before, "a row wrote into the inputs' folder"
    assert not failures, "\n".join(failures)
