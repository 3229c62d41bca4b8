"""Rollout throughput of one pool worker vs raw vLLM in-process vs the HF backend, plus
seconds per weight load; all measured in one run on the embedded 135M model.

    .venv/bin/python benchmarks/rollout_throughput.py [--prompts 8 --n 4 --max-tokens 64]

Goals (issue 7): pool worker >= 0.9x raw `vllm.LLM.generate`, >= 1.5x the HF backend, and a
weight load of the 135M model in <= 2 s. Each engine gets the same CPU threads, the same
prompts and per-prompt seeds, one warm-up call (vLLM's first batch is slow), then
--repeats timed calls; tokens/s = generated tokens / wall seconds of the generate call.
The engines run one after another, never at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time

from cluster.config import RolloutConfig, SamplingConfig
from cluster.vllm_worker import cpu_env

QUESTIONS = [
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips "
    "in May. How many clips did Natalia sell altogether in April and May?",
    "Weng earns $12 an hour for babysitting. Yesterday, she just did 50 minutes of "
    "babysitting. How much did she earn?",
    "Write a short poem about the sea.",
    "Explain in two sentences why the sky is blue.",
    "List three prime numbers larger than 20 and say why each is prime.",
    "What is 17 times 23? Show your steps.",
    "Give a one-paragraph summary of how a bicycle works.",
    "Translate 'good morning, how are you?' into French and Spanish.",
]


def prompts(count: int) -> list[list[dict[str, str]]]:
    return [[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}] for i in range(count)]


def timed_tokens_per_s(generate, batch, sampling: SamplingConfig, repeats: int) -> float:
    """Median tokens/s over `repeats` calls, after one warm-up call."""
    generate(batch, sampling)
    rates = []
    for _ in range(repeats):
        started = time.perf_counter()
        rollouts = generate(batch, sampling)
        seconds = time.perf_counter() - started
        tokens = sum(len(c.token_ids) for r in rollouts for c in r.completions)
        rates.append(tokens / seconds)
    return statistics.median(rates)


def bench_pool(config: RolloutConfig, model: str, batch, sampling, repeats, weight_loads: int):
    """(tokens/s, median seconds per load_weights or None) of a one-worker pool."""
    import torch
    from transformers import AutoModelForCausalLM

    from cluster.pool import RolloutPool

    with RolloutPool(config, model) as pool:
        rate = timed_tokens_per_s(pool.generate, batch, sampling, repeats)
        if not weight_loads:
            return rate, None
        state_dict = AutoModelForCausalLM.from_pretrained(
            pool.model, dtype=torch.float32
        ).state_dict()
        seconds = []
        for version in range(1, weight_loads + 1):
            started = time.perf_counter()
            versions = pool.load_weights(state_dict, version)
            seconds.append(time.perf_counter() - started)
            if versions != [version]:
                raise RuntimeError(f"load_weights returned versions {versions}, wanted [{version}]")
        return rate, statistics.median(seconds)


def bench_raw_vllm(config: RolloutConfig, model: str, batch, sampling, repeats) -> float:
    """The same engine settings, called directly: `vllm.LLM.generate` on token prompts."""
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    from cluster.rollout import render_prompts

    llm = LLM(
        model=model,
        dtype=config.engine_dtype(),
        max_model_len=config.max_model_len,
        enforce_eager=True,
        compilation_config={"mode": 0},
        kv_cache_memory_bytes=int(config.kv_cache_gib * 2**30),
        seed=config.engine_seed,
    )
    token_prompts = [
        TokensPrompt(prompt_token_ids=ids)
        for ids in render_prompts(AutoTokenizer.from_pretrained(model), batch)
    ]

    def generate(_batch, s: SamplingConfig):
        params = [
            SamplingParams(
                n=s.n,
                temperature=s.temperature,
                top_p=s.top_p,
                max_tokens=s.max_tokens,
                seed=s.seed + i,
                logprobs=0,
            )
            for i in range(len(token_prompts))
        ]
        outputs = llm.generate(token_prompts, params, use_tqdm=False)

        class _Rollout:  # just enough of Rollout for the token count
            def __init__(self, output):
                self.completions = output.outputs

        return [_Rollout(output) for output in outputs]

    return timed_tokens_per_s(generate, batch, sampling, repeats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--n", type=int, default=4, help="completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--weight-loads", type=int, default=3)
    parser.add_argument("--cpus", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    config = RolloutConfig(cpus_per_worker=args.cpus, max_model_len=1024)
    # The in-process engine gets the same threads as a pool worker; OpenMP reads them when
    # torch loads, so they go in before any import of torch. With --cpus equal to the
    # machine's cores the worker's pinning covers every core, as the unpinned driver does.
    os.environ.update(cpu_env(config))
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    from cluster.models import resolve_model
    from cluster.ray_setup import init_ray, shutdown_ray

    model = resolve_model(args.model)
    batch = prompts(args.prompts)
    sampling = SamplingConfig(temperature=1.0, max_tokens=args.max_tokens, n=args.n, seed=0)
    print(
        f"model {model} | {args.prompts} prompts x n={args.n} x <= {args.max_tokens} tokens "
        f"| {args.cpus} CPU threads per engine | {args.repeats} timed calls each"
    )

    started = init_ray(None)
    try:
        pool_rate, load_s = bench_pool(
            config, model, batch, sampling, args.repeats, args.weight_loads
        )
        hf_config = config.model_copy(update={"backend": "hf"})
        hf_rate, _ = bench_pool(hf_config, model, batch, sampling, args.repeats, 0)
    finally:
        shutdown_ray(started)
    raw_rate = bench_raw_vllm(config, model, batch, sampling, args.repeats)

    print(f"pool worker (vLLM CPU)     {pool_rate:8.1f} tokens/s")
    print(f"raw vllm.LLM.generate      {raw_rate:8.1f} tokens/s")
    print(f"pool worker (HF backend)   {hf_rate:8.1f} tokens/s")
    print(f"pool / raw vLLM            {pool_rate / raw_rate:8.2f}x   (goal >= 0.9x)")
    print(f"pool vLLM / pool HF        {pool_rate / hf_rate:8.2f}x   (goal >= 1.5x)")
    if load_s is not None:
        print(
            f"load_weights, 135M model   {load_s:8.2f} s    (goal <= 2 s, median of "
            f"{args.weight_loads})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
