"""A learner's weights and state: what leaves the learner, for the rollout engines or the disk.

  weights    tensors under Hugging Face names (vLLM's `load_weights`); tied embeddings once, as
             `model.embed_tokens.weight`, exactly the keys of the saved safetensors;
  packed     the same as numpy arrays, returned from the learner's Ray actor into the object
             store once for every rollout worker;
  broadcast  over NCCL from rank 0's GPU to the engines (weight_transport=nccl; never run here);
  state      state_dict / load_state_dict, save / load (rl/learners/checkpoint.py).

`WeightsAndState` is a mixin of rl/learners/base.py's LearnerBase: it reads the learner's
`model`, `rank`, `parallel` and `weight_names`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rl.learners import checkpoint, sharding


class WeightsAndState:
    def weights(
        self, dtype: str | None = None, copy: bool = True, device: str = "cpu"
    ) -> dict[str, torch.Tensor]:
        """Copies of the policy weights under HF names on `device` (CPU: what Ray and the disk
        take); `dtype` (e.g. "bfloat16") casts them. `copy=False` returns the parameters
        themselves where they already are tensors of that dtype there (for a checkpoint written
        before the next update, or an NCCL broadcast; saves one model of memory).

        With several ranks rank 0 gets the weights, the others an empty dict; under FSDP every
        rank must call it (the full state is gathered once, then cast).
        """
        if self.parallel == "fsdp":
            state = sharding.full_model_state(self.model)  # a collective
        else:
            state = dict(self.model.named_parameters())
            state.update(self.model.named_buffers())
        if self.rank != 0:
            return {}
        cast = getattr(torch, dtype) if dtype else None
        return {
            name: state[name].detach().to(device, dtype=cast, copy=copy)
            for name in self.weight_names
        }

    def packed_weights(self, dtype: str | None = None) -> dict[str, Any]:
        """`weights()` as numpy arrays (cluster.weights.pack_state_dict): returned from a Ray
        actor they land in the object store once, and every rollout worker maps them
        zero-copy, without a round trip through the driver. No copy before that: Ray writes
        the return value into the store before this actor runs its next method (called
        directly, outside Ray, the arrays alias the live parameters)."""
        from cluster.weights import pack_state_dict

        return pack_state_dict(self.weights(dtype, copy=False))

    def broadcast_weights(
        self, workers: list, tensor_parallel_sizes: list[int], version: int, dtype: str | None
    ) -> list[int]:
        """rollout.weight_transport=nccl (cluster.pool.publish_from): rank 0, which holds the
        CUDA tensors, sends them to every engine over one NCCL group it opens on first use;
        returns the workers' policy versions. Every rank calls it (an FSDP gather is a
        collective); the others return []. Never run here: no GPU (tests/test_learner_gpu.py)."""
        from cluster.weights import open_broadcast

        device = str(next(self.model.parameters()).device)
        state = self.weights(dtype, copy=False, device=device)
        if self.rank != 0:
            return []
        if getattr(self, "_broadcast", None) is None:
            self._broadcast = open_broadcast(workers, tensor_parallel_sizes)
        return self._broadcast.broadcast(state, version)

    def state_dict(self) -> dict[str, Any]:
        """Policy, optimizer, schedule, step count and RNG states, all on CPU. On a CPU learner
        the tensors are the live ones, not copies: write or copy them before the next step."""
        return checkpoint.learner_state(self)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; the tied lm_head follows embed_tokens."""
        checkpoint.load_learner_state(self, state)

    def save(self, path: str | Path) -> None:
        """Write `path` as an HF model directory (transformers and vLLM load it as it is) plus
        `trainer_state.pt`, atomically (rl/learners/checkpoint.py). Under FSDP every rank must
        call it."""
        checkpoint.save(self, Path(path))

    def save_policy(self, path: str | Path) -> None:
        """Only the policy, as an HF model directory (no optimizer): a run's `best`."""
        checkpoint.save_policy(self, Path(path))

    def load(self, path: str | Path) -> None:
        """Restore a checkpoint written by `save`."""
        checkpoint.load(self, Path(path))
