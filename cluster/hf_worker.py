"""A rollout engine on transformers `generate`, behind the same interface as VLLMEngine.

For machines where vLLM cannot run, and as the reference in tests (greedy outputs of both
engines agree on the tiny model). The pool runs it as a Ray actor; it also works in-process.

Simplifications: one left-padded batch per call with one random generator seeded from the
call's first prompt, so sampled (not greedy) results depend on how prompts are batched.
Logprobs are those of the sampling distribution (the scores after temperature and top-p), as the
vLLM engine reports them.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from cluster.config import RolloutConfig, SamplingConfig
from cluster.rollout import (
    Completion,
    EngineBase,
    Rollout,
    check_length,
    prompt_seed,
)
from cluster.vllm_worker import pin_to_worker_cores
from cluster.weights import as_state_dict

log = logging.getLogger(__name__)


class HFEngine(EngineBase):
    """One transformers model; `version` counts the weight loads it has applied."""

    def __init__(
        self, config: RolloutConfig, model: str, worker_index: int = 0, bind_cores: bool = False
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.config = config
        self.worker_index = worker_index
        self.device = "cuda" if config.on_gpu else "cpu"
        if not config.on_gpu:
            torch.set_num_threads(config.cpus_per_worker)
            if bind_cores:
                pin_to_worker_cores(config, worker_index)
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.model = AutoModelForCausalLM.from_pretrained(
            model, dtype=getattr(torch, config.engine_dtype())
        ).to(self.device)
        self.model.eval()
        self.pad_token_id = self.tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = self.tokenizer.eos_token_id
        self.eos_token_ids = _eos_token_ids(self.model, self.tokenizer)
        self.version = 0
        log.info("worker %d: HF engine ready on %s (pid %d)", worker_index, model, os.getpid())

    def generate(
        self,
        prompts: list[list[dict[str, str]]],
        sampling: SamplingConfig,
        first_index: int = 0,
        expected_version: int | None = None,
    ) -> list[Rollout]:
        """n completions for each chat prompt, from one batched `generate` call."""
        import torch
        from transformers import GenerationConfig

        prompt_ids = self.checked_prompt_ids(
            prompts, sampling.n, sampling.max_tokens, expected_version
        )
        longest = max(len(ids) for ids in prompt_ids)
        input_ids = torch.full((len(prompt_ids), longest), self.pad_token_id)  # (B, T)
        attention_mask = torch.zeros_like(input_ids)
        for row, ids in enumerate(prompt_ids):  # left padding: every prompt ends at column T
            input_ids[row, longest - len(ids) :] = torch.tensor(ids)
            attention_mask[row, longest - len(ids) :] = 1
        greedy = sampling.temperature == 0
        # Every field set explicitly: the checkpoint's generation_config.json must not leak
        # its own top_k or repetition penalty into the comparison with vLLM.
        generation_config = GenerationConfig(
            max_new_tokens=min(sampling.max_tokens, self.config.max_model_len - longest),
            do_sample=not greedy,
            temperature=None if greedy else sampling.temperature,
            top_p=None if greedy else sampling.top_p,
            top_k=sampling.top_k,
            repetition_penalty=None
            if sampling.repetition_penalty == 1.0
            else sampling.repetition_penalty,
            stop_strings=list(sampling.stop) or None,
            num_return_sequences=sampling.n,
            pad_token_id=self.pad_token_id,
            eos_token_id=self.eos_token_ids,
            return_dict_in_generate=True,
            output_scores=True,  # after temperature and top-p: the distribution sampled from
        )
        seed = prompt_seed(sampling.seed, first_index)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.no_grad():
            out = self.model.generate(
                input_ids=input_ids.to(self.device),
                attention_mask=attention_mask.to(self.device),
                generation_config=generation_config,
                tokenizer=self.tokenizer,  # what stop_strings are matched with
            )
        new_tokens = out.sequences[:, longest:].cpu()  # (B*n, S)
        scores = torch.stack(out.scores, dim=1).float().cpu()  # (B*n, S, V), -inf off-nucleus
        logprobs = torch.log_softmax(scores, dim=-1)  # (B*n, S, V)
        token_logprobs = logprobs.gather(-1, new_tokens[..., None]).squeeze(-1)  # (B*n, S)
        rollouts = []
        for row, ids in enumerate(prompt_ids):
            rows = range(row * sampling.n, (row + 1) * sampling.n)
            completions = [
                self._completion(new_tokens[r], token_logprobs[r], sampling.stop) for r in rows
            ]
            rollouts.append(Rollout(ids, completions, self.version))
        return rollouts

    def _completion(self, tokens: Any, logprobs: Any, stop: list[str]) -> Completion:
        token_ids = tokens.tolist()
        finish_reason = "length"
        for position, token in enumerate(token_ids):
            if token in self.eos_token_ids:
                token_ids, finish_reason = token_ids[: position + 1], "stop"
                break
        text = self.tokenizer.decode(token_ids, skip_special_tokens=True)
        cuts = [text.find(string) for string in stop if string in text]
        if cuts:  # as vLLM: the text ends before the stop string (its tokens are kept)
            text, finish_reason = text[: min(cuts)], "stop"
        return Completion(
            token_ids=token_ids,
            text=text,
            logprobs=logprobs[: len(token_ids)].tolist(),
            finish_reason=finish_reason,
        )

    def score(self, prompt_token_ids: list[int], completion_token_ids: list[int]) -> list[float]:
        """Logprob of each completion token after the prompt, under the current weights."""
        import torch

        if not prompt_token_ids or not completion_token_ids:
            raise ValueError("score needs a non-empty prompt and a non-empty completion")
        ids = list(prompt_token_ids) + list(completion_token_ids)
        check_length([ids], self.config.max_model_len)
        with torch.no_grad():
            logits = self.model(torch.tensor([ids], device=self.device)).logits[0].float()
        logprobs = torch.log_softmax(logits[:-1], dim=-1)  # row i predicts ids[i + 1]
        targets = torch.tensor(ids[1:], device=self.device)
        picked = logprobs.gather(-1, targets[:, None])[:, 0]
        return picked[len(prompt_token_ids) - 1 :].tolist()

    def load_weights(self, weights: dict[str, Any], version: int) -> int:
        """Copy a learner state dict (HF names, torch or packed) into the model; new version."""
        import torch

        state_dict = as_state_dict(weights)
        with torch.no_grad():
            result = self.model.load_state_dict(state_dict, strict=False)
        tied = {"lm_head.weight"} if self.model.config.tie_word_embeddings else set()
        missing = set(result.missing_keys) - tied
        if result.unexpected_keys or missing:
            raise ValueError(
                f"load_weights: unexpected {sorted(result.unexpected_keys)[:5]}, missing "
                f"{sorted(missing)[:5]}: pass the learner's full state dict with HF names"
            )
        self.version = version
        return self.version


def _eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokens vLLM stops on: the generation config's EOS ids plus the tokenizer's."""
    ids = model.generation_config.eos_token_id
    ids = [] if ids is None else [ids] if isinstance(ids, int) else list(ids)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids
