"""rl/learner_placement.py: the learner colocated with or apart from the rollout workers.

A real two-node Ray cluster on this machine (ray.cluster_utils.Cluster: two raylets on
127.0.0.1, one CPU each); the learner is the GRPO learner on the tiny model. The rollout
workers' nodes are given as node ids, as the driver takes them from RolloutPool.node_ids().
"""

from __future__ import annotations

import pytest

from rl import learner_placement
from rl.config import LearnerResources, RunConfig
from rl.learner_actor import loads_with_engines, start_learner
from rl.learner_placement import node_selector
from rl.learners.config import TrainerConfig
from tests.conftest import REPO


def test_the_selector_names_the_rollout_nodes():
    assert node_selector("any", ["b", "a"]) is None
    assert node_selector("colocated", ["b", "a", "b"]) == {"ray.io/node-id": "in(a,b)"}
    assert node_selector("disaggregated", ["a"]) == {"ray.io/node-id": "!in(a)"}
    with pytest.raises(ValueError, match="needs the rollout workers' nodes"):
        node_selector("colocated", [])


def test_only_one_rank_placed_anywhere_starts_before_the_engines():
    def config(**learner) -> RunConfig:
        return RunConfig(model="tiny", learner=LearnerResources(**learner))

    assert loads_with_engines(config())
    assert not loads_with_engines(config(num_workers=2))  # its start blocks until ranks join
    assert not loads_with_engines(config(nodes="colocated"))  # needs the engines' nodes


@pytest.mark.parametrize("recipe", ["longpo", "self_lengthen"])
def test_runs_without_live_rollouts_refuse_a_node_layout(recipe):
    from rl.config_io import ConfigError, load_config
    from rl.run import CONFIGS

    path = REPO / "configs" / f"{recipe}.yaml"
    with pytest.raises(ConfigError, match="leave learner.nodes=any"):
        load_config(CONFIGS[recipe], path, ["learner.nodes=colocated"])
    assert load_config(CONFIGS[recipe], path, []).learner.nodes == "any"


@pytest.fixture(scope="module")
def two_nodes():
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "node_ip_address": "127.0.0.1", "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
    ray.init(
        address=cluster.address,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}},
    )
    try:
        cluster.wait_for_nodes()
        nodes = [node["NodeID"] for node in ray.nodes() if node["Alive"]]
        assert len(nodes) == 2
        yield ray, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def config(nodes: str, workers: int = 1) -> RunConfig:
    return RunConfig(
        model="tiny",
        steps=2,
        trainer=TrainerConfig(micro_batch_size=2),
        learner=LearnerResources(num_workers=workers, nodes=nodes, torch_threads=1),
    )


def learner_nodes(ray, learner) -> set[str]:
    ranks = getattr(learner, "ranks", [learner])

    def node_id(_actor) -> str:
        return ray.get_runtime_context().get_node_id()

    return set(ray.get([rank.__ray_call__.remote(node_id) for rank in ranks]))


@pytest.mark.parametrize("nodes", ["colocated", "disaggregated"])
def test_the_learner_lands_on_or_off_the_rollout_node(two_nodes, tiny_model_path, nodes):
    ray, (first, second) = two_nodes
    for rollout_node in (first, second):  # either node: not where Ray would go by chance
        learner = start_learner(
            config(nodes), tiny_model_path, rollout_nodes=[rollout_node], max_completion_length=8
        )
        want = rollout_node if nodes == "colocated" else ({first, second} - {rollout_node}).pop()
        assert learner_nodes(ray, learner) == {want}
        ray.kill(learner)


def test_a_layout_the_cluster_cannot_give_is_one_line(two_nodes, tiny_model_path, monkeypatch):
    ray, nodes = two_nodes
    monkeypatch.setattr(learner_placement, "PLACEMENT_TIMEOUT_S", 3.0)
    with pytest.raises(ValueError) as refused:  # rollout workers on both nodes: none is free
        start_learner(config("disaggregated"), tiny_model_path, rollout_nodes=nodes)
    message = str(refused.value)
    assert "\n" not in message and "disaggregated" in message and "learner.nodes=any" in message


def test_a_learner_group_is_placed_the_same_way(two_nodes, tiny_model_path):
    ray, (first, second) = two_nodes
    group = start_learner(
        config("colocated", workers=2), tiny_model_path, rollout_nodes=[second],
        max_completion_length=8,
    )  # fmt: skip
    try:
        assert learner_nodes(ray, group) == {second}
    finally:
        group.shutdown()
