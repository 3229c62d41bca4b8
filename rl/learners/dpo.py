"""The preference learner: sigmoid DPO, and LongPO's short-to-long form with an NLL term.

A sample is one preference pair (rl/preference_batches.py builds them from records):
    {"prompt_token_ids": [...],                        the long prompt, up to the first answer
     "chosen_token_ids": [...], "chosen_mask": [...],  the chosen conversation after it, and 1
     "rejected_token_ids": [...], "rejected_mask": [...],   on its assistant tokens
     "ref_chosen_logp": float, "ref_rejected_logp": float,  (once precomputed)
     "ref_chosen": [...], "ref_rejected": [...]}       (LongPO) per turn, the short-prompt row
                                                       {prompt_token_ids, completion_token_ids}
With log-probs summed over the assistant tokens of every turn (LongPO Eq. 13: the turns' terms
add inside each log-ratio), margin m = (log pi(y_c | x_L) - ref_c) - (log pi(y_r | x_L) - ref_r):
    dpo:    loss = dpo_weight * mean_pairs(-log sigmoid(beta m)), ref_* on the same long prompt;
    longpo: loss = dpo_weight * mean_pairs(-log sigmoid(beta m)) + nll_weight * NLL(chosen),
            ref_* = the reference (the starting short-context model) on each turn's SHORT
            prompt x_S, summed over turns (LongPO Eq. 12-14); NLL is the token mean over the
            batch's chosen assistant tokens (nll_tokens=all: every chosen token, document too,
            as the released code; pads never count).
Chosen and rejected share their long prompt: the shared-prompt layout runs it once per pair.
The reference log-probs never change: with `reference=precompute` the driver calls
`precompute_reference(pairs)` once, before the first update, and the starting policy itself
scores them (no second model in memory); `frozen_copy` scores every batch with a frozen copy.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rl.learners.base import LearnerBase

PAIR_KEYS = ("prompt_token_ids", "chosen_token_ids", "chosen_mask", "rejected_token_ids",
             "rejected_mask")  # fmt: skip


def rows_of(pair: dict[str, Any]) -> list[dict[str, Any]]:
    """The pair as two learner rows, chosen then rejected, sharing the prompt."""
    return [
        {
            "prompt_token_ids": pair["prompt_token_ids"],
            "completion_token_ids": pair[f"{side}_token_ids"],
            "loss_mask": pair[f"{side}_mask"],
        }
        for side in ("chosen", "rejected")
    ]


def check_pair(index: int, pair: dict[str, Any]) -> None:
    missing = [key for key in PAIR_KEYS if key not in pair]
    if missing:
        raise ValueError(f"preference pair {index} lacks {missing}; a pair carries {PAIR_KEYS}")
    for side in ("chosen", "rejected"):
        ids, mask = pair[f"{side}_token_ids"], pair[f"{side}_mask"]
        if len(ids) != len(mask) or not any(mask):
            raise ValueError(
                f"preference pair {index}: {side}_mask must mark {side}_token_ids' assistant "
                f"tokens ({len(mask)} flags for {len(ids)} tokens, {sum(mask)} set)"
            )
    if not pair["prompt_token_ids"]:
        raise ValueError(f"preference pair {index} has an empty prompt")


class DPOLearner(LearnerBase):
    """Policy, a reference (precomputed or a frozen copy), one DPO / LongPO update per step."""

    def needs_reference(self) -> bool:
        # With policy_overrides the starting policy is not the reference: a copy with the
        # original config scores the pairs (once, under precompute).
        return self.config.reference == "frozen_copy" or bool(self.config.policy_overrides)

    # ------------------------------------------------------------ reference log-probs
    @torch.no_grad()
    def _sequence_logps(self, model: torch.nn.Module, rows: list[dict[str, Any]]) -> list[float]:
        """Summed log-prob of each row's loss-masked completion tokens under `model`."""
        sums = []
        size = max(1, self.config.micro_batch_size)
        for start in range(0, len(rows), size):
            tensors = self._collate_rows(rows[start : start + size])
            logprobs, _ = self._forward(model, tensors, entropy=False)
            sums += (logprobs * tensors["loss_mask"]).sum(dim=1).tolist()
        return sums

    def reference_rows(self, pair: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        """The rows the reference scores: LongPO's short-prompt turns, else the long rows."""
        if self.config.loss == "longpo":
            return list(pair["ref_chosen"]), list(pair["ref_rejected"])
        chosen, rejected = rows_of(pair)
        return [chosen], [rejected]

    def precompute_reference(self, pairs: list[dict[str, Any]]) -> list[tuple[float, float]]:
        """(ref_chosen_logp, ref_rejected_logp) per pair, from the reference: the frozen copy,
        or the policy itself before its first update (it is the starting model then)."""
        model = self.ref_model
        if model is None:
            if self.steps_done:
                raise ValueError(
                    "precompute_reference after an update: the policy is no longer the "
                    "reference; precompute before training or use reference=frozen_copy"
                )
            model = self.model
        was_training = model.training
        model.eval()
        results = []
        for pair in pairs:
            chosen, rejected = self.reference_rows(pair)
            logps = self._sequence_logps(model, chosen + rejected)
            results.append((sum(logps[: len(chosen)]), sum(logps[len(chosen) :])))
        model.train(was_training)
        return results

    @torch.no_grad()
    def evaluate_pairs(self, pairs: list[dict[str, Any]]) -> dict[str, float]:
        """Preference accuracy, mean margin (beta-scaled) and the chosen answers' NLL per token
        under the current policy, without an update (held-out pairs carry their reference
        log-probs)."""
        was_training = self.model.training
        self.model.eval()
        totals = self.check_batch(pairs)
        sums: dict[str, float] = {}
        for indices in self.micro_batches(pairs):
            _, stats = self.micro_loss(self._collate([pairs[i] for i in indices]), totals)
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + value
        self.model.train(was_training)
        return self.report(sums)

    # ------------------------------------------------------------ the objective hooks
    def check_batch(self, batch: list[dict[str, Any]]) -> dict[str, float]:
        for index, pair in enumerate(batch):
            check_pair(index, pair)
            if self.ref_model is None and "ref_chosen_logp" not in pair:
                raise ValueError(
                    f"preference pair {index} has no reference log-probs: call "
                    "precompute_reference before training, or set reference=frozen_copy"
                )
        nll_side = "chosen_mask" if self.config.nll_tokens == "response" else None
        nll_tokens = sum(
            sum(pair[nll_side]) if nll_side else len(pair["chosen_token_ids"]) for pair in batch
        )
        return {"pairs": float(len(batch)), "nll_tokens": float(max(nll_tokens, 1))}

    def micro_batches(self, pairs: list[dict[str, Any]]) -> list[list[int]]:
        """Whole pairs (both rows) per micro-batch, micro_batch_size rows at most, similar
        lengths together."""
        per = max(1, self.config.micro_batch_size // 2)
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i]["prompt_token_ids"]))
        return [order[start : start + per] for start in range(0, len(order), per)]

    def _collate(self, pairs: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [row for pair in pairs for row in rows_of(pair)]
        tensors = self._collate_rows(rows)
        if all("ref_chosen_logp" in pair for pair in pairs):
            for side in ("chosen", "rejected"):
                values = [float(pair[f"ref_{side}_logp"]) for pair in pairs]
                tensors[f"ref_{side}"] = torch.tensor(values, device=self.device)
        else:  # a frozen copy scores this micro-batch now
            scored = self.precompute_reference(pairs)
            for index, side in enumerate(("chosen", "rejected")):
                values = [pair_logps[index] for pair_logps in scored]
                tensors[f"ref_{side}"] = torch.tensor(values, device=self.device)
        if self.config.nll_tokens == "all":  # every real token of the chosen rows
            tensors["nll_mask"] = tensors["completion_mask"][0::2].float()
        else:
            tensors["nll_mask"] = tensors["loss_mask"][0::2].float()
        return tensors

    def micro_loss(
        self, tensors: dict[str, torch.Tensor], totals: dict[str, float]
    ) -> tuple[torch.Tensor, dict[str, float]]:
        config = self.config
        logprobs, _ = self._forward(self.model, tensors, entropy=False)  # (2P, C)
        sums = (logprobs * tensors["loss_mask"]).sum(dim=1)
        chosen, rejected = sums[0::2], sums[1::2]  # (P,)
        chosen_reward = config.dpo_beta * (chosen - tensors["ref_chosen"])
        rejected_reward = config.dpo_beta * (rejected - tensors["ref_rejected"])
        margin = chosen_reward - rejected_reward
        dpo = -F.logsigmoid(margin)  # (P,)
        loss = config.dpo_weight * dpo.sum() / totals["pairs"]
        nll = torch.zeros((), device=logprobs.device)
        if config.nll_weight:
            nll = -(logprobs[0::2] * tensors["nll_mask"]).sum() / totals["nll_tokens"]
            loss = loss + config.nll_weight * nll
        with torch.no_grad():
            stats = {
                "tokens": float(tensors["loss_mask"].sum().item()),
                "pairs": float(len(chosen)),
                "dpo_loss": dpo.sum().item(),
                "nll": nll.item() * totals["nll_tokens"],
                "nll_tokens": float(tensors["nll_mask"].sum().item()),
                "chosen_reward": chosen_reward.sum().item(),
                "rejected_reward": rejected_reward.sum().item(),
                "margin": margin.sum().item(),
                "accuracy": (margin > 0).float().sum().item(),
            }
        return loss, stats

    def report(self, sums: dict[str, float]) -> dict[str, float]:
        """Per-pair means of the DPO terms, the NLL per counted token."""
        pairs = max(sums.get("pairs", 0.0), 1.0)
        report = {
            f"{key}_mean": sums[key] / pairs
            for key in ("dpo_loss", "chosen_reward", "rejected_reward", "margin", "accuracy")
            if key in sums
        }
        if sums.get("nll_tokens"):
            report["nll_mean"] = sums["nll"] / sums["nll_tokens"]
        return report
