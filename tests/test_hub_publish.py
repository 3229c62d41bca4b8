"""Publishing datasets and runs to the Hub, end to end through the real client code.

The server in tests/fake_hub.py stands in for the Hugging Face Hub only: a loopback stdlib HTTP
server that answers what `huggingface_hub` and `datasets` ask for. Everything on the client
side is real: `python -m synth ... --push-to-hub`, `python -m synth.publish`,
`python -m rl.publish`, `rl/run.py ... logging.push_to_hub`, and reading back with
`datasets.load_dataset` and `transformers.AutoConfig`. Each runs in a subprocess whose
HF_ENDPOINT points at the server before huggingface_hub is imported (both libraries read it at
import time), with HF_HUB_DISABLE_XET=1 (plain LFS uploads), its own HF_HOME (no real token
file is ever read) and without HF_HUB_OFFLINE, which conftest.py sets for the rest of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import yaml

from tests.fake_hub import FakeHub

REPO = Path(__file__).resolve().parents[1]
TOKEN = "hf_fake_token_0123456789"
LOAD_CONFIGS = """
import json, sys
import datasets
repo, wanted = sys.argv[1], json.loads(sys.argv[2])  # [[revision, [config, ...]], ...]
print(json.dumps([
    {c: datasets.load_dataset(repo, c, split="train", revision=rev).to_list() for c in configs}
    for rev, configs in wanted
]))
"""

BAD_CARD = """
from synth.hub import HubError, push_files
try:
    push_files("me/bad-card", "dataset", {"README.md": b"---\\nlicense: mine\\n---\\n"}, message="m")
except HubError as error:
    print(error)
"""


@pytest.fixture()
def hub():
    with FakeHub({TOKEN: "me"}, orgs={"me": {"lab"}}) as server:
        yield server


def hub_env(url: str, home: Path, token: str | None = TOKEN) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    env.update(HF_ENDPOINT=url, HF_HUB_DISABLE_XET="1", HF_HOME=str(home))
    if token:
        env["HF_TOKEN"] = token
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def load_back(env, repo: str, wanted: list[tuple[str, list[str]]]) -> list[dict[str, list]]:
    """`datasets.load_dataset` of each (revision, configs), in one subprocess."""
    result = run(["-c", LOAD_CONFIGS, repo, json.dumps(wanted)], env)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def local_rows(out: Path) -> dict[str, list[dict]]:
    loaded = datasets.load_from_disk(str(out))
    if isinstance(loaded, datasets.Dataset):
        config = front_matter((out / "README.md").read_text())["configs"][0]["config_name"]
        return {config: loaded.to_list()}
    return {name: split.to_list() for name, split in loaded.items()}


def test_levels_publish_load_back_and_revise(hub, tmp_path):
    env = hub_env(hub.url, tmp_path / "home")
    first = tmp_path / "h1-first"
    made = run(["-m", "synth", "h1", "--horizon", "1", "2", "--n", "5", "--seed", "3",
                "--out", str(first), "--push-to-hub", "me/h1-chains"], env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    card = (first / "README.md").read_text()
    published = hub.files("dataset", "me/h1-chains")
    assert published["README.md"].decode() == card  # on disk and on the Hub, the same card
    meta = front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["horizon_1", "horizon_2"]
    assert [c.get("default", False) for c in meta["configs"]] == [True, False]
    assert meta["license"] == "apache-2.0" and meta["source_datasets"] == ["original"]
    assert [i["config_name"] for i in meta["dataset_info"]] == ["horizon_1", "horizon_2"]
    assert ("POST", "/api/validate-yaml", 200) in hub.requests
    assert TOKEN not in made.stdout + made.stderr
    first_commit = hub.repos[("dataset", "me/h1-chains")].branches["main"]

    # A second revision on main: other levels; horizon_1's shards go in the same commit.
    second = tmp_path / "h1-second"
    made = run(["-m", "synth", "h1", "--horizon", "2", "3", "--n", "4", "--out", str(second),
                "--push-to-hub", "me/h1-chains"], env)  # fmt: skip
    assert made.returncode == 0, made.stderr[-3000:]
    assert sorted(hub.files("dataset", "me/h1-chains")) == [
        "README.md", "horizon_2/train-00000-of-00001.parquet",
        "horizon_3/train-00000-of-00001.parquet",
    ]  # fmt: skip

    # The first directory again, without regenerating it, to a branch of its own.
    again = run(["-m", "synth.publish", str(first), "--repo", "me/h1-chains", "--revision", "v1"], env)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    assert "horizon_3/train-00000-of-00001.parquet" in hub.files("dataset", "me/h1-chains", "main")

    # Read back through load_dataset: every revision's rows equal the local copy's.
    wanted = [(first_commit, ["horizon_1", "horizon_2"]), ("main", ["horizon_2", "horizon_3"]),
              ("v1", ["horizon_1", "horizon_2"])]  # fmt: skip
    at_first, at_main, at_branch = load_back(env, "me/h1-chains", wanted)
    assert at_first == local_rows(first) == at_branch
    assert at_main == local_rows(second)


def test_publishing_errors_are_one_line_and_keep_the_local_copy(hub, tmp_path):
    out = tmp_path / "h1"
    args = ["-m", "synth", "h1", "--horizon", "1", "--n", "2", "--out", str(out)]

    missing = run([*args, "--push-to-hub", "me/x"], hub_env(hub.url, tmp_path / "a", token=None))
    assert missing.returncode == 2 and "no Hugging Face token" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1 and not out.exists()  # refused first

    refused = run([*args, "--push-to-hub", "me/x"], hub_env(hub.url, tmp_path / "b", "hf_wrong_token"))  # fmt: skip
    assert refused.returncode == 2 and "refused the token (401)" in refused.stderr
    assert "hf_wrong_token" not in refused.stdout + refused.stderr
    assert "python -m synth.publish" in refused.stderr.strip().splitlines()[-1]
    assert len(local_rows(out)["horizon_1"]) == 2  # generated, saved, still there

    env = hub_env(hub.url, tmp_path / "c")
    elsewhere = run(["-m", "synth.publish", str(out), "--repo", "someone/x"], env)
    assert elsewhere.returncode == 2  # the last line is the error; progress bars come before
    assert elsewhere.stderr.strip().splitlines()[-1] == (
        "synth.publish: namespace 'someone' not found or not yours (404): check the ORG in someone/x"
    )
    assert run(["-m", "synth.publish", str(out), "--repo", "lab/x"], env).returncode == 0  # an org

    refused_card = run(["-c", BAD_CARD], env)
    assert refused_card.stdout.strip() == (
        "the Hub refused the card's metadata: \"license\" must be a known licence id, got 'mine'"
    )
    assert "README.md" not in hub.files("dataset", "me/bad-card")  # nothing was committed

    closed = hub_env("http://127.0.0.1:9", tmp_path / "d")  # nothing listens on port 9
    offline = run(["-m", "synth.publish", str(out), "--repo", "me/x"], closed)
    assert offline.returncode == 2 and "could not reach http://127.0.0.1:9" in offline.stderr
    assert len(local_rows(out)["horizon_1"]) == 2
    assert not [r for r in hub.requests if "/me/x" in r[1] and r[0] == "POST"]


def write_run_dir(root: Path, model_dir: str) -> Path:
    """A finished run in the layout rl/driver.py writes (rl/rundir.py, rl/checkpoints.py): the
    tiny model's files stand in for the trained policy."""
    from rl.config import RunConfig
    from rl.config_io import dump_config, load_config

    run_dir = root / "tiny-run"
    config = load_config(RunConfig, None, ["model=tiny", "name=tiny-run", "steps=3",
                                           "eval.sets.one_step=h1:horizon=1,n=8"])  # fmt: skip
    for place in (run_dir / "checkpoints" / "step-2", run_dir / "best"):
        shutil.copytree(model_dir, place, ignore=shutil.ignore_patterns(".*"))
    (run_dir / "config.yaml").write_text(dump_config(config))
    (run_dir / "checkpoints" / "step-2" / "trainer_state.pt").write_bytes(b"optimizer state")
    (run_dir / "checkpoints" / "step-2" / "driver.json").write_text('{"step": 2}')
    (run_dir / "best" / "best.json").write_text('{"step": 1, "updates": 2, "value": 0.5}')
    records = [
        {"step": 0, "reward/mean": 0.1, "frontier/h1": {"horizon": 1},
         "eval_base/one_step/pass@1": 0.25, "eval/one_step/pass@1": 0.3,
         "eval/one_step/pass@k/1": 0.3, "eval/one_step/pass@k/2": 0.45},
        {"step": 1, "reward/mean": 0.4, "frontier/h1": {"horizon": 2},
         "eval/one_step/pass@1": 0.5, "eval/one_step/pass@k/1": 0.5},
        {"step": 2, "reward/mean": 0.3, "frontier/h1": {"horizon": 2},
         "eval/one_step/pass@1": 0.4, "eval/one_step/pass@k/1": 0.4},
    ]  # fmt: skip
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def test_a_run_publishes_as_a_model_that_loads_back(hub, tmp_path, tiny_model_path):
    run_dir = write_run_dir(tmp_path, tiny_model_path)
    before = sorted((p.relative_to(run_dir), p.stat().st_mtime) for p in run_dir.rglob("*"))
    env = hub_env(hub.url, tmp_path / "home")
    refused = run(["-m", "rl.publish", str(run_dir), "--repo", "me/tiny-run"],
                  hub_env(hub.url, tmp_path / "x", "hf_wrong_token"))  # fmt: skip
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "refused the token (401)" in refused.stderr and "hf_wrong_token" not in refused.stderr

    result = run(["-m", "rl.publish", str(run_dir), "--repo", "me/tiny-run", "--private"], env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = hub.files("model", "me/tiny-run")
    assert {"config.json", "model.safetensors", "tokenizer.json", "config.yaml", "README.md"} <= set(files)  # fmt: skip
    assert not {"trainer_state.pt", "driver.json", "best.json"} & set(files)
    assert files["model.safetensors"] == (run_dir / "best" / "model.safetensors").read_bytes()
    assert hub.repos[("model", "me/tiny-run")].private
    card = files["README.md"].decode()
    meta = front_matter(card)
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "text-generation"
    assert "step 0: horizon=1 → step 1: horizon=2" in card
    assert "| `one_step` | `h1:horizon=1,n=8` | 25.0 % | 50.0 % (1) | 40.0 % (2) |" in card
    assert "best policy by held-out evaluation (after step 1)" in card

    load = "import sys, transformers; print(transformers.AutoConfig.from_pretrained(sys.argv[1]).to_json_string())"  # fmt: skip
    loaded = run(["-c", load, "me/tiny-run"], env)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    config = json.loads(loaded.stdout[loaded.stdout.index("{") :])
    assert config["num_hidden_layers"] == json.loads(Path(tiny_model_path, "config.json").read_text())["num_hidden_layers"]  # fmt: skip
    after = sorted((p.relative_to(run_dir), p.stat().st_mtime) for p in run_dir.rglob("*"))
    assert after == before  # publishing reads the run, never writes it


@pytest.mark.slow
def test_a_run_publishes_itself_when_it_ends(hub, tmp_path):
    env = hub_env(hub.url, tmp_path / "home")
    overrides = [
        "model=tiny", f"output_dir={tmp_path}", "name=pushed", "steps=1", "max_staleness=0",
        "prompts_per_step=2", "sampling.n=2", "sampling.max_tokens=8", "rollout.backend=hf",
        "rollout.max_model_len=512", "ray.num_cpus=2", "logging.wandb=disabled",
        "logging.progress=false", "logging.push_to_hub=me/pushed-run",
    ]  # fmt: skip
    no_token = run(["rl/run.py", *overrides], hub_env(hub.url, tmp_path / "none", token=None))
    assert no_token.returncode == 2 and "logging.push_to_hub: no Hugging Face token" in no_token.stderr  # fmt: skip
    assert not (tmp_path / "pushed").exists()  # refused before anything started
    result = run(["rl/run.py", *overrides], env)
    assert result.returncode == 0, result.stderr[-3000:]
    files = hub.files("model", "me/pushed-run")
    assert {"config.json", "model.safetensors", "config.yaml", "README.md"} <= set(files)
    assert "trainer_state.pt" not in files
    assert yaml.safe_load(files["config.yaml"])["logging"]["push_to_hub"] == "me/pushed-run"


def test_the_policy_is_best_else_the_last_checkpoint_without_training_state(tmp_path, tiny_model_path):  # fmt: skip
    from rl.publish import choose_checkpoint, run_files

    run_dir = write_run_dir(tmp_path, tiny_model_path)
    assert choose_checkpoint(run_dir)[0] == run_dir / "best"
    last, chosen = choose_checkpoint(run_dir, "last")
    assert last == run_dir / "checkpoints" / "step-2" and chosen == "the last checkpoint (step-2)"
    files = run_files(run_dir, last)
    assert {"config.json", "model.safetensors", "config.yaml", "metrics.jsonl"} <= set(files)
    assert not {"trainer_state.pt", "driver.json"} & set(files)
    shutil.rmtree(run_dir / "best")
    assert choose_checkpoint(run_dir)[0] == last
    with pytest.raises(ValueError, match="has no best/ policy"):
        choose_checkpoint(run_dir, "best")
    (last / "model.safetensors").unlink()
    with pytest.raises(ValueError, match="has no weights"):
        run_files(run_dir, last)
