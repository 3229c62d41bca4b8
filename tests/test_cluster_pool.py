"""The rollout pool for real: local Ray on 127.0.0.1, vLLM's CPU engine, the tiny model.

One module-scoped Ray and one pool of two vLLM workers serve every test, to keep engine
starts few. Nothing is mocked.
"""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from cluster.config import RolloutConfig, SamplingConfig

pytestmark = pytest.mark.slow

PROMPTS = [
    [{"role": "user", "content": f"Add {a} and {b}. Answer with the number only."}]
    for a, b in [(3, 4), (10, 32), (7, 7), (120, 5), (1, 1)]
]
GREEDY = SamplingConfig(temperature=0.0, max_tokens=12, n=1, seed=0)


@pytest.fixture(scope="module")
def ray_session():
    from cluster.ray_setup import init_ray, shutdown_ray

    # Logical CPUs may exceed the 2 cores: the vLLM pool and an HF pool share them here.
    # The dashboard is on so the loopback check covers its ports too.
    started = init_ray(None, num_cpus=4, dashboard=True)
    yield started
    shutdown_ray(started)


@pytest.fixture(scope="module")
def pool(ray_session, tiny_model_path):
    from cluster.pool import RolloutPool

    pool = RolloutPool(RolloutConfig(num_workers=2, max_model_len=512), tiny_model_path)
    yield pool
    pool.shutdown()


def perturbed_state_dict(path: str, seed: int, scale: float = 0.5) -> dict:
    """The tiny model's weights plus seeded noise, as a learner's state dict (tied head included)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(scale * torch.randn(parameter.shape, generator=generator))
    return model.state_dict()


def test_local_ray_listens_on_loopback_only(ray_session):
    import psutil
    import ray

    assert ray_session is True
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    ray_processes = psutil.Process().children(recursive=True)
    assert ray_processes, "init_ray started no processes"
    assert any("dashboard" in " ".join(p.cmdline()) for p in ray_processes), "no dashboard"
    listening = [
        conn.laddr.ip
        for process in ray_processes
        for conn in process.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "Ray processes listen on no port"
    assert all(ip in ("127.0.0.1", "::ffff:127.0.0.1") for ip in listening), listening


def test_workers_are_pinned_to_their_own_cores_at_normal_priority(pool):
    import psutil

    available = sorted(os.sched_getaffinity(0))
    workers = [psutil.Process(pid) for pid in pool.worker_pids()]
    assert [w.cpu_affinity() for w in workers] == [[available[0]], [available[1 % len(available)]]]
    assert [w.nice() for w in workers] == [0, 0]  # Ray's default for workers is 15


def test_generate_returns_n_completions_in_order(pool):
    sampling = SamplingConfig(temperature=1.0, max_tokens=8, n=3, seed=11)
    rollouts = pool.generate(PROMPTS, sampling)
    assert len(rollouts) == len(PROMPTS)
    # Input order: the prompt ids of rollout i hold prompt i's numbers.
    for rollout, (a, b) in zip(rollouts, [(3, 4), (10, 32), (7, 7), (120, 5), (1, 1)], strict=True):
        assert f"Add {a} and {b}." in pool_tokenizer(pool).decode(rollout.prompt_token_ids)
        assert len(rollout.completions) == 3
        assert rollout.policy_version == 0
        for completion in rollout.completions:
            assert 1 <= len(completion.token_ids) <= 8
            assert len(completion.logprobs) == len(completion.token_ids)
            assert all(logprob <= 0.0 for logprob in completion.logprobs)
            assert completion.finish_reason in ("stop", "length")
    # Seeds are per prompt, not per worker: the same call gives the same samples.
    again = pool.generate(PROMPTS, sampling)
    assert [r.completions for r in again] == [r.completions for r in rollouts]


def pool_tokenizer(pool):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(pool.model)


def test_greedy_matches_the_hf_backend(pool, tiny_model_path):
    from cluster.hf_worker import HFEngine

    hf = HFEngine(RolloutConfig(backend="hf", max_model_len=512), tiny_model_path)
    want = hf.generate(PROMPTS, GREEDY)
    got = pool.generate(PROMPTS, GREEDY)
    for ours, reference in zip(got, want, strict=True):
        assert ours.prompt_token_ids == reference.prompt_token_ids
        assert ours.completions[0].token_ids == reference.completions[0].token_ids
        assert ours.completions[0].logprobs == pytest.approx(
            reference.completions[0].logprobs, abs=1e-3
        )


def test_load_weights_moves_logprobs_and_version(pool, tiny_model_path):
    from cluster.hf_worker import HFEngine

    fixed = pool.generate(PROMPTS[:1], GREEDY)[0]
    prompt_ids, completion_ids = fixed.prompt_token_ids, fixed.completions[0].token_ids
    before = [pool.score(prompt_ids, completion_ids, worker=w) for w in range(2)]
    assert before[0] == pytest.approx(fixed.completions[0].logprobs, abs=1e-4)

    state_dict = perturbed_state_dict(tiny_model_path, seed=1)
    assert pool.load_weights(state_dict, version=1) == [1, 1]
    assert pool.policy_versions() == [1, 1]
    after = [pool.score(prompt_ids, completion_ids, worker=w) for w in range(2)]
    # Every worker moved, and to exactly the learner's weights (HF with the same state dict).
    reference = HFEngine(RolloutConfig(backend="hf", max_model_len=512), tiny_model_path)
    reference.load_weights(state_dict, version=1)
    want = reference.score(prompt_ids, completion_ids)
    for worker in range(2):
        assert max(abs(x - y) for x, y in zip(before[worker], after[worker], strict=True)) > 0.1
        assert after[worker] == pytest.approx(want, abs=1e-3)
    assert all(r.policy_version == 1 for r in pool.generate(PROMPTS, GREEDY))


def test_bad_requests_get_clear_errors_and_workers_stay_alive(pool):
    pids = pool.worker_pids()
    with pytest.raises(ValueError, match="empty prompt list"):
        pool.generate([], GREEDY)
    with pytest.raises(ValueError, match="max_model_len"):
        pool.generate([[{"role": "user", "content": "word " * 600}]], GREEDY)
    with pytest.raises(ValueError, match="n=0"):
        pool.generate(
            PROMPTS[:1], SamplingConfig.model_construct(**{**GREEDY.model_dump(), "n": 0})
        )
    with pytest.raises(ValueError, match="chat message"):
        pool.generate([[{"role": "user"}]], GREEDY)
    assert pool.worker_pids() == pids
    assert len(pool.generate(PROMPTS, GREEDY)) == len(PROMPTS)


def test_generate_takes_tasks(pool):
    from synth.task import Task

    task = Task(
        id="t0", task="h1", level={"horizon": 1}, prompt=PROMPTS[0], answer="7", reward="exact"
    )
    [from_task] = pool.generate([task], GREEDY)
    [from_prompt] = pool.generate(PROMPTS[:1], GREEDY)
    assert from_task == from_prompt


def test_killed_worker_is_restarted_and_its_prompts_rerun(pool, tiny_model_path):
    pool.release_weights()  # as the driver does before each load: the new load is kept instead
    pool.load_weights(perturbed_state_dict(tiny_model_path, seed=2), version=7)
    pids = pool.worker_pids()
    prompts = PROMPTS * 8  # enough work that the kill lands mid-request
    heavy = SamplingConfig(temperature=1.0, max_tokens=200, n=4, seed=3)
    with ThreadPoolExecutor(max_workers=1) as executor:
        future = executor.submit(pool.generate, prompts, heavy)
        time.sleep(1.0)
        assert not future.done(), "the request finished before the kill; make it heavier"
        os.kill(pids[0], signal.SIGKILL)
        rollouts = future.result(timeout=300)
    assert len(rollouts) == len(prompts)
    assert all(len(r.completions) == 4 for r in rollouts)
    # The restarted engine came back from the checkpoint and was brought to version 7.
    assert all(r.policy_version == 7 for r in rollouts)
    new_pids = pool.worker_pids()
    assert new_pids[0] != pids[0] and new_pids[1] == pids[1]
    assert pool.policy_versions() == [7, 7]


def test_a_worker_lost_during_a_weight_load_comes_back_with_those_weights(pool, tiny_model_path):
    """The load is sent while the worker is dying: Ray restarts it and retries the load there,
    so every worker ends at the new version with the new weights, and no step is lost."""
    fixed = pool.generate(PROMPTS[:1], GREEDY)[0]
    prompt_ids, completion_ids = fixed.prompt_token_ids, fixed.completions[0].token_ids
    pids = pool.worker_pids()
    pool.release_weights()
    state_dict = perturbed_state_dict(tiny_model_path, seed=6)
    os.kill(pids[1], signal.SIGKILL)
    assert pool.load_weights(state_dict, version=11) == [11, 11]
    assert pool.worker_pids()[1] != pids[1]
    survivor, restarted = (pool.score(prompt_ids, completion_ids, worker=w) for w in range(2))
    assert restarted == pytest.approx(survivor, abs=1e-4)
    assert all(r.policy_version == 11 for r in pool.generate(PROMPTS, GREEDY))


def test_hf_backend_behind_the_same_pool(ray_session, tiny_model_path):
    from cluster.pool import RolloutPool

    config = RolloutConfig(backend="hf", num_workers=1, max_model_len=512)
    with RolloutPool(config, tiny_model_path) as hf_pool:
        rollouts = hf_pool.generate(PROMPTS[:2], SamplingConfig(max_tokens=6, n=2, seed=0))
        assert [len(r.completions) for r in rollouts] == [2, 2]
        fixed = rollouts[0]
        before = hf_pool.score(fixed.prompt_token_ids, fixed.completions[0].token_ids)
        assert hf_pool.load_weights(perturbed_state_dict(tiny_model_path, seed=4), 3) == [3]
        after = hf_pool.score(fixed.prompt_token_ids, fixed.completions[0].token_ids)
        assert max(abs(x - y) for x, y in zip(before, after, strict=True)) > 0.1
        # where the worker runs, for learner.nodes (rl/learner_placement.py): this one node
        import ray

        assert hf_pool.node_ids() == [ray.get_runtime_context().get_node_id()]


def test_bfloat16_engine_takes_weights_packed_in_bfloat16(ray_session, tiny_model_path):
    """What the driver sends a bfloat16 engine: the learner's weights cast to bfloat16 before
    they travel (half the bytes), landing exactly where the engine's own cast would put them."""
    import ray
    import torch

    from cluster.hf_worker import HFEngine
    from cluster.pool import RolloutPool
    from cluster.weights import pack_state_dict

    config = RolloutConfig(num_workers=1, max_model_len=512, dtype="bfloat16")
    with RolloutPool(config, tiny_model_path) as bf16_pool:
        fixed = bf16_pool.generate(PROMPTS[:1], GREEDY)[0]
        prompt_ids, completion_ids = fixed.prompt_token_ids, fixed.completions[0].token_ids
        before = bf16_pool.score(prompt_ids, completion_ids)
        state_dict = perturbed_state_dict(tiny_model_path, seed=5)
        wire = {
            name: t.to(torch.bfloat16) for name, t in state_dict.items() if name != "lm_head.weight"
        }
        assert bf16_pool.load_weights(ray.put(pack_state_dict(wire)), version=2) == [2]
        after = bf16_pool.score(prompt_ids, completion_ids)
    reference = HFEngine(RolloutConfig(backend="hf", max_model_len=512), tiny_model_path)
    reference.load_weights({name: t.float() for name, t in wire.items()}, version=2)
    want = reference.score(prompt_ids, completion_ids)
    # bfloat16 compute against float32 on logprobs near -30: a few percent apart, while the
    # unperturbed engine is far off.
    assert after == pytest.approx(want, rel=0.05)
    assert before != pytest.approx(want, rel=0.2)


def test_released_weights_cannot_resync_a_restarted_worker(pool):
    kept = pool._weights_ref
    pool.release_weights()
    try:
        with pytest.raises(RuntimeError, match="released"):
            pool._resync(0)
    finally:
        pool._weights_ref = kept
