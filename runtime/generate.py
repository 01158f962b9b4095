"""Sampling replies from a chat model: one code path for evaluation and for the live runtime.

Prompts come from `runtime.prompt.encode_prompt`; decoding settings from the model folder's
generation_config.json (the merge stage writes the reference defaults there). Batches are left-padded
so every prompt ends where generation starts; a fixed seed per batch makes runs reproducible.
"""

from __future__ import annotations

from collections.abc import Sequence


def generate_replies(
    model, tokenizer, prompts: Sequence[list[int]], *, seed: int, batch_size: int = 8, **overrides
) -> list[str]:
    """Decode one reply per prompt (token ids). `overrides` replace generation_config fields
    (e.g. max_new_tokens). Special tokens are dropped and whitespace trimmed."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    replies: list[str] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(map(len, batch))
        ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in batch], device=model.device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], device=model.device)
        torch.manual_seed(seed + start)  # the same replies for the same prompts, whatever ran before
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, pad_token_id=pad, **overrides)
        replies += [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in out]
    return replies
