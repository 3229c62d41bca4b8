"""Re-executing an h1 chain from its record alone: `verify_chain(task.meta)`.

Every problem's program runs again on its inputs, each link's adapter is applied to the
previous answer, and every answer must equal the recorded one; no source is needed.
"""

from __future__ import annotations

import json

from synth.arith import Number, evaluate, parse, to_number


class ChainError(ValueError):
    """A chain's trace does not re-execute to its recorded answers."""


def verify_chain(meta: str | dict) -> list[Number]:
    """Re-execute every problem of a trace; return its answers or raise ChainError.

    Needs only `meta`: each problem's program, inputs, and link (adapter and value).
    """
    meta = json.loads(meta) if isinstance(meta, str) else meta
    answers: list[Number] = []
    for position, entry in enumerate(meta["problems"], start=1):
        env = {f"q{i}": to_number(text) for i, text in enumerate(entry["inputs"])}
        if "link" in entry:
            if position == 1:
                raise ChainError("problem 1 cannot depend on an earlier answer")
            record = entry["link"]
            adapter = record["adapter"]
            value = answers[-1] * to_number(adapter["multiplier"]) + to_number(adapter["offset"])
            if value != to_number(record["value"]):
                raise ChainError(
                    f"problem {position}: adapter gives {value}, trace says {record['value']}"
                )
            if env[record["input"]] != to_number(record["original"]):
                raise ChainError(f"problem {position}: slot {record['input']} original differs")
            env[record["input"]] = value
        elif position > 1:
            raise ChainError(f"problem {position} has no link to problem {position - 1}")
        for line in entry["program"]:
            name, _, expression = line.partition(" = ")
            env[name] = evaluate(parse(expression), env)
        answer = env[entry["answer_var"]]
        if answer != to_number(meta["answers"][position - 1]):
            raise ChainError(
                f"problem {position}: recomputed {answer}, trace says {meta['answers'][position - 1]}"
            )
        answers.append(answer)
    return answers
