"""Self-Lengthen's prompts (the LLaMA variant's English ones, QwenLM/Self-Lengthen
`llama/prompt_templates`), its stop strings and the seed instructions self-instruct starts from."""

from __future__ import annotations

import json
from pathlib import Path

INSTRUCT_PROMPT = (
    "Your task is to construct user instructions that can guide the generation of long text."
)
JUDGE_PROMPT = (
    "Given an instruction, please determine if it is suitable for guiding the generation of a "
    "long article (e.g., larger than 2000 words). Return only a yes or no as your response.\n\n"
    "<Instruction>\n{prompt}\n</Instruction>"
)
EXTEND_PROMPT = (
    "You are an expert in writing polishing. Based on the provided instruction and original "
    "outline, enhance the content by carefully expanding the original outline to increase its "
    "informational content, incorporate specific details, and improve its descriptive quality. "
    "Remember that your task is not to continue writing content, but to enrich the current "
    "content. You can achieve this by enriching existing paragraphs with more detailed "
    "descriptions or creating new sections. You should try to be creative and informative as "
    "much as possible and do NOT include any repetitive content or lengthy narratives in your "
    "response. You need to generate text that is as long, rich, and engaging as possible.\n\n"
    "Instruction: {prompt}\n\nOriginal outline:\n\n{response}"
)
SEED_INSTRUCTIONS = (
    "Write a detailed guide to starting a vegetable garden in a small urban backyard.",
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain how the printing press changed European society, with examples.",
    "Write a business plan for a neighbourhood bicycle repair shop.",
    "Describe the water cycle and its importance for agriculture in an essay for students.",
    "Write a travel article about spending a week in the mountains in autumn.",
    "Write a report on the benefits and risks of remote work for small companies.",
    "Compose a letter to your future self describing your goals for the next ten years.",
    "Write an essay comparing public transport systems in large and small cities.",
    "Explain the basics of personal budgeting to a young adult with a first job.",
    "Write a history of the bicycle from its invention to modern electric bikes.",
    "Write a product description and user guide for a new smart kitchen scale.",
    "Write a speech for the opening of a community library.",
    "Describe how a small town could prepare for floods, in a plan for its council.",
    "Write a story about two friends who open a bakery together.",
    "Explain how vaccines train the immune system, for a general audience.",
)  # fmt: skip
STOP = ["\n\n---", "\n\n\n", "\n---", "---"]


def load_seed_instructions(source: str) -> list[str]:
    """The seed pool: the built-in list or a JSONL file's instructions (one clear error)."""
    if source == "builtin":
        return list(SEED_INSTRUCTIONS)
    path = Path(source)
    if not path.is_file():
        raise ValueError(f"self_lengthen seed_source {source!r}: no such file; use builtin")
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line) if line.strip() else {}
        text = next((row[k] for k in ("instruction", "prompt", "query") if row.get(k)), None)
        if isinstance(text, str):
            found.append(text.strip())
    if len(found) < 2:
        raise ValueError(
            f"self_lengthen seed_source {source}: {len(found)} instructions (rows with an "
            "instruction, prompt or query field); self-instruct needs at least 2"
        )
    return found
