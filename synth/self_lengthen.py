"""self_lengthen: long responses written by the model itself, then expanded by it (Self-Lengthen).

One round (QwenLM/Self-Lengthen, arXiv 2410.23933): (1) self-instruct long-writing instructions
from 2 random examples of the pool, kept when the base model judges them suitable for a long
text and 3 < words < 500; (2) the generator G answers each one twice; (3) the extender E expands
each answer: split into paragraphs, expand the first half (keep 2/3 of that), continue the
expansion of the whole text from there, up to 3 micro-rounds, accepted only above 1.2x the
initial words, else retried; (4) length-biased sampling of the initial and the extended pools;
(5) the quality filter on every text; (6) one SFT row per role (synth/sft_example.py).
Level axis: max_tokens (each model call's budget). `n` is the number of instructions; the rows
that survive the filters follow from it (at most 2 x responses x extensions per instruction).

    python -m synth self_lengthen --max-tokens 512 --n 16 --seed 0 --out data/self-lengthen

Model calls go through `complete` (synth.base.Complete; the Ray rollout pool, rl/completions.py):
`complete` is the base model (self-instruct, judge), `complete_generator` G and
`complete_extender` E (both default to `complete`, as in round 1). Calls are batched over every
item of a stage. Filters count what they drop and why (`skip_counts()`); the rules themselves
are synth/self_lengthen_filters.py, the prompts and seeds synth/self_lengthen_prompts.py, the
options (the paper's constants as defaults) synth/self_lengthen_options.py.

Departures from the released code: English prompts (the LLaMA variant's) for every model; a
judge answer counts as yes when its first word is "yes" (the code wants exactly "yes"); the
default retry budgets are smaller (configurable: the code retries 10/20/20 times); an expansion
with no blank-line paragraph continues from a plain prompt instead of an empty assistant turn.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

from synth.base import Axis, check_level
from synth.self_lengthen_filters import (
    accepted,
    count_words,
    drop_lines,
    first_two_thirds,
    former_half,
    length_biased_keep,
    quality_problem,
    trimmed_to_sentence,
)
from synth.self_lengthen_options import SelfLengthenConfig, SelfLengthenLevel
from synth.self_lengthen_prompts import (
    EXTEND_PROMPT,
    INSTRUCT_PROMPT,
    JUDGE_PROMPT,
    load_seed_instructions,
)
from synth.sft_example import SFTExample

__all__ = ["SelfLengthenConfig", "SelfLengthenGenerator", "SelfLengthenLevel"]

# A round's phases take minutes each on CPU: one line per phase says where it is.
log = logging.getLogger(__name__)


class SelfLengthenGenerator:
    """Self-Lengthen's data: instructions, initial and extended responses, SFT rows per role."""

    name = "self_lengthen"
    config_class = SelfLengthenConfig
    level_class = SelfLengthenLevel
    needs_model = True
    description = (
        "Long-writing SFT data a model writes for itself (Self-Lengthen): self-instructed "
        "instructions, the generator's initial responses and the extender's expansions, after "
        "length-biased sampling and a quality filter; one row per role."
    )
    paper = "Language Models can Self-Lengthen to Generate Long Texts (2024), https://arxiv.org/abs/2410.23933"  # fmt: skip
    task_categories = ("text-generation",)
    tags = ("long-form", "self-lengthen", "sft")

    def __init__(
        self,
        config: SelfLengthenConfig | None = None,
        complete: Callable | None = None,
        complete_generator: Callable | None = None,
        complete_extender: Callable | None = None,
        **fields: Any,
    ) -> None:
        self.config = config if config is not None else SelfLengthenConfig(**fields)
        self.complete = complete
        self.complete_generator = complete_generator or complete
        self.complete_extender = complete_extender or complete
        self.skipped: Counter = Counter()
        """Items dropped while sampling, by stage and reason."""
        self.last_round: dict[str, Any] = {}
        """What the last `sample` made: counts and median words per stage."""
        self._calls = 0

    def axes(self) -> list[Axis]:
        return [Axis("max_tokens", self.config.max_tokens_values)]

    def skip_counts(self) -> dict[str, int]:
        return {f"sampling: {why}": n for why, n in self.skipped.items()}

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in self.skipped.items()) or "none"
        return f"self_lengthen seeds {self.config.seed_source}: dropped {dropped}"

    def sample(
        self, level: dict[str, int], n: int, seed: int, round_index: int = 1
    ) -> list[SFTExample]:
        """SFT rows for both roles from `n` self-instructed instructions (round `round_index`)."""
        check_level(self, level)
        if self.complete is None:
            raise ValueError(
                "self_lengthen needs a model: build it with complete=<a completion function>"
            )
        max_tokens = level["max_tokens"]
        self._seed, self._calls = seed * 1000 + round_index, 0
        rng = random.Random(f"self_lengthen/{seed}/{round_index}/{max_tokens}")
        instructions = self.self_instruct(n, rng)
        log.info("round %d: %d instructions; writing initial responses", round_index,
                 len(instructions))  # fmt: skip
        initial = self.initial_responses(instructions, max_tokens)
        initial = self._length_sample(initial, lambda item: item[1], rng, "initial")
        log.info("round %d: %d initial responses kept; extending them", round_index, len(initial))
        extended = self.extend_all(initial, max_tokens)
        extended = self._length_sample(extended, lambda item: item[2], rng, "extended")
        log.info("round %d: %d extended responses kept", round_index, len(extended))
        self.last_round = {
            "instructions": len(instructions),
            "initial": len(initial),
            "extended": len(extended),
            "initial_words_median": _median([count_words(item[1]) for item in initial]),
            "extended_words_median": _median([count_words(item[2]) for item in extended]),
        }
        return self.records(extended, max_tokens, seed, round_index)

    # ------------------------------------------------------------ model calls
    def _messages(self, user: str, assistant: str | None = None) -> list[dict[str, str]]:
        messages = [{"role": "user", "content": user}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        if assistant:
            messages.append({"role": "assistant", "content": assistant})
        return messages

    def _call(self, complete: Callable, prompts: list, max_tokens: int, stop=None) -> list[str]:
        """One batched call, one text per prompt; a fresh sampling seed per call."""
        if not prompts:
            return []
        config = self.config
        self._calls += 1
        sampling = {
            "n": 1, "temperature": config.temperature, "top_p": config.top_p,
            "top_k": config.top_k, "repetition_penalty": config.repetition_penalty,
            "max_tokens": max_tokens, "stop": config.stop if stop is None else stop,
            "seed": (self._seed * 7919 + self._calls * 100_003) % 2**31,
        }  # fmt: skip
        outputs = complete(prompts, sampling)
        return [(texts[0] if texts else "") or "" for texts in outputs]

    def self_instruct(self, n: int, rng: random.Random) -> list[str]:
        """`n` new instructions (fewer when the attempts run out, counted)."""
        config = self.config
        seeds = load_seed_instructions(config.seed_source)
        pool, found = list(seeds), []
        for _ in range(config.instruction_attempts):
            if len(found) >= n:
                break
            prompts = []
            for _ in range(n - len(found)):
                first, second = rng.sample(pool if config.grow_pool else seeds, 2)
                prefill = f"Instruction 1: {first}\nInstruction 2: {second}\nInstruction 3: "
                prompts.append(self._messages(INSTRUCT_PROMPT, prefill))
            stop = ["\nInstruction", "\n\n"]
            outputs = self._call(self.complete, prompts, config.instruction_max_tokens, stop)
            candidates = []
            for text in (output.strip() for output in outputs):
                words = count_words(text)
                if not text:
                    self.skipped["instruction empty"] += 1
                elif not config.min_instruction_words < words < config.max_instruction_words:
                    self.skipped["instruction length out of bounds"] += 1
                elif text in pool or text in candidates:
                    self.skipped["instruction duplicate"] += 1
                else:
                    candidates.append(text)
            for text, suitable in zip(candidates, self._judge(candidates), strict=True):
                if not suitable:
                    self.skipped["instruction judged unsuitable"] += 1
                elif len(found) < n:
                    found.append(text)
                    pool.append(text)
        if len(found) < n:
            self.skipped["instruction not found within the attempts"] += n - len(found)
        return found

    def _judge(self, candidates: list[str]) -> list[bool]:
        if not self.config.judge:
            return [True] * len(candidates)
        prompts = [self._messages(JUDGE_PROMPT.format(prompt=text)) for text in candidates]
        answers = self._call(self.complete, prompts, 8, stop=[])
        return [_first_word(answer) == "yes" for answer in answers]

    def initial_responses(self, instructions: list[str], max_tokens: int) -> list[tuple]:
        """(instruction, response) per passing response, responses_per_instruction each."""
        config = self.config
        pending = [text for text in instructions for _ in range(config.responses_per_instruction)]
        done = []
        for _ in range(config.response_attempts):
            if not pending:
                break
            prompts = [self._messages(text) for text in pending]
            outputs = self._call(self.complete_generator, prompts, max_tokens)
            failed = []
            for instruction, output in zip(pending, outputs, strict=True):
                output = self._trim(output)
                problem = quality_problem(output)
                if problem:
                    self.skipped[f"initial response {problem}"] += 1
                    failed.append(instruction)
                else:
                    done.append((instruction, output.strip()))
            pending = failed
        if pending:
            self.skipped["initial response failed every attempt"] += len(pending)
        return done

    def extend_all(self, initial: list[tuple], max_tokens: int) -> list[tuple]:
        """(instruction, initial, extended, micro-round trace) per accepted extension."""
        config = self.config
        pending = []
        for instruction, response in initial:
            if len(former_half(response).split()) == 0:
                self.skipped["extension input has one paragraph"] += 1
                continue
            pending += [(instruction, response)] * config.extensions_per_response
        done = []
        for _ in range(config.extension_attempts):
            if not pending:
                break
            results = self.extend_once(pending, max_tokens)
            failed = []
            for (instruction, response), (best, trace) in zip(pending, results, strict=True):
                if accepted(count_words(response), count_words(best), config.growth):
                    done.append((instruction, response, best, trace))
                else:
                    self.skipped[f"extension not above {config.growth}x the initial words"] += 1
                    failed.append((instruction, response))
            pending = failed
        if pending:
            self.skipped["extension failed every attempt"] += len(pending)
        return done

    def extend_once(self, items: list[tuple], max_tokens: int) -> list[tuple[str, list[int]]]:
        """One attempt per item: up to micro_rounds expand-then-continue rounds, all items in
        lockstep; (best text, its words after each micro-round) per item."""
        current = [response for _, response in items]
        best = list(current)
        trace: list[list[int]] = [[count_words(text)] for text in current]
        for _ in range(self.config.micro_rounds):
            active = [i for i, text in enumerate(current) if former_half(text).split()]
            prompts = [
                self._messages(EXTEND_PROMPT.format(prompt=items[i][0], response=former_half(current[i])))
                for i in active
            ]  # fmt: skip
            expanded = self._call(self.complete_extender, prompts, max_tokens)
            kept = [first_two_thirds(text.strip()) for text in expanded]
            whole = [EXTEND_PROMPT.format(prompt=items[i][0], response=current[i]) for i in active]
            continuations = self._call(
                self.complete_extender,
                [self._messages(user, prefix) for user, prefix in zip(whole, kept, strict=True)],
                max_tokens,
            )
            for i, prefix, latter in zip(active, kept, continuations, strict=True):
                output = self._trim((prefix + latter).strip())
                problem = quality_problem(output)
                if problem is None and count_words(output) <= count_words(best[i]):
                    problem = "not longer"
                if problem:
                    self.skipped[f"extension micro-round {problem}"] += 1
                else:
                    current[i] = best[i] = output
                trace[i].append(count_words(best[i]))
        return list(zip(best, trace, strict=True))

    def _trim(self, text: str) -> str:
        if not self.config.trim_truncated or quality_problem(text) != "no terminal punctuation":
            return text
        cut = trimmed_to_sentence(text)
        if count_words(cut) * 2 < count_words(text):
            return text
        self.skipped["kept (not dropped): trimmed to the last complete sentence"] += 1
        return cut

    # ------------------------------------------------------------ selection and rows
    def _length_sample(self, items: list, text_of, rng: random.Random, stage: str) -> list:
        if not self.config.length_sampling or not items:
            return items
        keep = length_biased_keep([len(text_of(item)) for item in items], rng)
        self.skipped[f"{stage} dropped by length-biased sampling"] += keep.count(False)
        return [item for item, kept in zip(items, keep, strict=True) if kept]

    def records(
        self, extended: list[tuple], max_tokens: int, seed: int, round_index: int
    ) -> list[SFTExample]:
        rows = []
        for index, (instruction, initial, text, trace) in enumerate(extended):
            drop_rng = random.Random(f"self_lengthen/{seed}/{round_index}/drop/{index}")
            dropped = drop_lines(initial, self.config.line_drop_rate, drop_rng)
            meta = json.dumps({"seed": seed, "micro_round_words": trace,
                               "extender_input_lines": dropped.count("\n") + 1})  # fmt: skip
            prompts = {
                "generator": self._messages(instruction),
                "extender": self._messages(EXTEND_PROMPT.format(prompt=instruction, response=dropped)),
            }  # fmt: skip
            for role, prompt in prompts.items():
                rows.append(
                    SFTExample(
                        id=f"self_lengthen-m{max_tokens}-s{seed}-r{round_index}-{index}-{role}",
                        task=self.name,
                        level={"max_tokens": max_tokens},
                        role=role,
                        round=round_index,
                        prompt=prompt,
                        response=text,
                        instruction=instruction,
                        initial=initial,
                        extended=text,
                        initial_words=count_words(initial),
                        words=count_words(text),
                        meta=meta,
                    )  # fmt: skip
                )
        return rows


def _first_word(text: str) -> str:
    words = text.strip().split()
    return words[0].strip(".,!:;\"'*").lower() if words else ""


def _median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else 0.0
