"""The one prompt format: how a window of chat messages becomes model input.

`pipelines.sft_data` builds training examples with these functions and the runtime builds live
prompts with the same ones, so training and serving cannot drift. Bump PROMPT_FORMAT_VERSION
whenever the rendered text changes; bundles record it and the runtime refuses a mismatch.
Standard library only (this module ships in the Windows runtime).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PROMPT_FORMAT_VERSION = 1
TARGET = "<TARGET>"
PLACEHOLDER_RE = re.compile(r"<U(\d+)>")

# How non-text messages appear in a window: short English tokens the base model already knows.
KIND_TOKENS = {
    "image": "[image]",
    "voice": "[voice message]",
    "video": "[video]",
    "sticker": "[sticker]",
    "link": "[link]",
    "file": "[file]",
    "location": "[location]",
    "transfer": "[money transfer]",
    "red_packet": "[red packet]",
    "call": "[call]",
    "recall": "[message recalled]",
    "other": "[message]",
}
QUOTE_CHARS = 40  # quoted text is trimmed: enough to know what is answered, not a second message


@dataclass(frozen=True, slots=True)
class Turn:
    """One message of a window: who (a placeholder) and what (already anonymized)."""

    speaker: str
    kind: str
    text: str
    quote_of: str = ""
    quote_speaker: str = ""


def render_text(turn: Turn) -> str:
    """The message body as it appears after `speaker: ` — one line."""
    body = " / ".join(line.strip() for line in turn.text.splitlines() if line.strip())
    token = KIND_TOKENS.get(turn.kind)
    if token and turn.kind not in ("link", "file"):
        body = token
    elif token:  # links and files keep their title: it says what was shared
        body = f"{token} {body}".strip()
    if turn.kind == "quote" and turn.quote_of:
        quoted = " ".join(turn.quote_of.split())
        quoted = quoted if len(quoted) <= QUOTE_CHARS else quoted[: QUOTE_CHARS - 1] + "…"
        who = f"{turn.quote_speaker}: " if turn.quote_speaker else ""
        body = f'(replying to {who}"{quoted}") {body}'
    return body


def format_window(turns: Iterable[Turn]) -> str:
    """`<U1>: text` lines, oldest first — the `input` of an Alpaca example."""
    return "\n".join(f"{t.speaker}: {render_text(t)}" for t in turns)


def renumber_placeholders(turns: Sequence[Turn]) -> list[Turn]:
    """Per-window numbering: `<U1>` is the first other speaker to appear in this window, and so on.
    Quoted speakers count too. The runtime needs no mapping table to reproduce this."""
    order: dict[str, str] = {}

    def new(name: str) -> str:
        if not PLACEHOLDER_RE.fullmatch(name):
            return name
        return order.setdefault(name, f"<U{len(order) + 1}>")

    def sub_text(text: str) -> str:
        return PLACEHOLDER_RE.sub(lambda m: new(m.group(0)), text)

    out = []
    for t in turns:
        speaker = new(t.speaker)
        quote_speaker = new(t.quote_speaker) if t.quote_speaker else ""
        out.append(Turn(speaker, t.kind, sub_text(t.text), sub_text(t.quote_of), quote_speaker))
    return out


@dataclass(frozen=True, slots=True)
class Prerendered:
    """A turn with its body rendered once (None when its text mentions placeholders, which
    renumbering would change), for building many overlapping windows quickly."""

    turn: Turn
    body: str | None


def prerender(turn: Turn) -> Prerendered:
    plain = PLACEHOLDER_RE.search(turn.text) is None and PLACEHOLDER_RE.search(turn.quote_of) is None
    return Prerendered(turn, render_text(turn) if plain else None)


def renumbered_window(items: Sequence[Prerendered]) -> str:
    """`format_window(renumber_placeholders(turns))`, byte for byte, without re-rendering bodies:
    only the speaker labels (and a quoted speaker) change from one window to the next."""
    if any(r.body is None for r in items):
        return format_window(renumber_placeholders([r.turn for r in items]))
    order: dict[str, str] = {}

    def new(name: str) -> str:
        if not PLACEHOLDER_RE.fullmatch(name):
            return name
        return order.setdefault(name, f"<U{len(order) + 1}>")

    lines = []
    for r in items:
        t, body = r.turn, r.body
        speaker = new(t.speaker)
        if t.quote_speaker:  # numbered in the same order as renumber_placeholders does
            quoted_by = new(t.quote_speaker)
            prefix = f"(replying to {t.quote_speaker}: "
            if t.kind == "quote" and t.quote_of and quoted_by != t.quote_speaker and body.startswith(prefix):
                body = f"(replying to {quoted_by}: " + body[len(prefix) :]
        lines.append(f"{speaker}: {body}")
    return "\n".join(lines)


def format_memory(snippets: Sequence[str]) -> str:
    """Retrieved memory snippets in one short fixed block (empty when there are none)."""
    if not snippets:
        return ""
    return "Things said before:\n" + "\n".join(f"- {' '.join(s.split())}" for s in snippets) + "\n\n"


def user_content(window: str, memory: Sequence[str] = ()) -> str:
    """The user turn the model sees: optional memory block, then the window."""
    return format_memory(memory) + window


def chat_messages(instruction: str, window: str, memory: Sequence[str] = (), reply: str | None = None):
    """Chat-template messages for one example: system = persona instruction, user = window,
    assistant = the persona's reply (training) or absent (serving, add_generation_prompt)."""
    messages = [
        {"role": "system", "content": instruction},
        {"role": "user", "content": user_content(window, memory)},
    ]
    if reply is not None:
        messages.append({"role": "assistant", "content": reply})
    return messages


# ---- token level: the same chat-template encoding for training, evaluation and serving ----


@dataclass(frozen=True, slots=True)
class Encoded:
    """One example as token ids; `completion_mask` is 1 on the reply tokens (the only loss)."""

    input_ids: list[int]
    completion_mask: list[int]
    window_lines: int  # lines of the window kept after trimming to the length budget


def _template_ids(tokenizer, messages: list[dict], generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt)
    return list(ids["input_ids"] if isinstance(ids, dict) else ids)


def stop_token_ids(tokenizer, generation_eos: int | list[int] | None = None) -> set[int]:
    """Token ids that end a reply: the tokenizer's eos plus the model's generation eos ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    if generation_eos is not None:
        ids |= {generation_eos} if isinstance(generation_eos, int) else set(generation_eos)
    return ids


def _trimmed_windows(window: str):
    """The window, then with its oldest lines dropped one by one (never the last line)."""
    lines = window.split("\n")
    for start in range(len(lines)):
        yield "\n".join(lines[start:]), len(lines) - start


def _fits(window: str, memory: Sequence[str]):
    """What to try, in order: all memory with ever shorter windows; when even the last line does not
    fit beside it, the same with one memory snippet fewer (the lowest ranked), down to none."""
    for n in range(len(memory), -1, -1):
        for text, kept in _trimmed_windows(window):
            yield text, kept, list(memory[:n])


@dataclass(frozen=True, slots=True)
class PromptIds:
    ids: list[int]
    window_lines: int  # lines of the window kept
    memory: int  # memory snippets kept (the first ones given)


def encode_prompt(tokenizer, instruction: str, window: str, memory: Sequence[str] = (), max_tokens=None):
    """Prompt ids for generating the persona's next reply, fitted to `max_tokens` by dropping the oldest
    window lines, then memory snippets. Raises ValueError if even the last line alone is too long."""
    for text, kept, mem in _fits(window, memory):
        ids = _template_ids(tokenizer, chat_messages(instruction, text, mem), generation_prompt=True)
        if max_tokens is None or len(ids) <= max_tokens:
            return PromptIds(ids, kept, len(mem))
    raise ValueError(f"prompt longer than {max_tokens} tokens even with only the last message")


def encode_example(
    tokenizer,
    instruction: str,
    window: str,
    reply: str,
    max_length: int,
    memory: Sequence[str] = (),
    stop_ids: set[int] | frozenset[int] = frozenset(),
) -> Encoded | None:
    """A training example: the chat template applied to system + window + reply, exactly as
    `encode_prompt` renders the prompt at serving time, and a mask selecting the reply tokens (with
    the end-of-turn token, so the model learns to stop). Oldest window lines are dropped to fit
    `max_length`, then memory snippets (as `encode_prompt` does); None when the reply alone does not fit."""
    for text, kept, mem in _fits(window, memory):
        prompt = _template_ids(tokenizer, chat_messages(instruction, text, mem), True)
        full = _template_ids(tokenizer, chat_messages(instruction, text, mem, reply), False)
        if full[: len(prompt)] != prompt:
            raise ValueError(
                "the chat template renders the prompt differently with and without the reply; "
                "training and serving would see different prompts (template of "
                f"{getattr(tokenizer, 'name_or_path', 'this tokenizer')})"
            )
        if stop_ids and not stop_ids & set(full[len(prompt) :]):
            full.append(min(stop_ids) if tokenizer.eos_token_id is None else tokenizer.eos_token_id)
        if len(full) <= max_length:
            mask = [0] * len(prompt) + [1] * (len(full) - len(prompt))
            return Encoded(full, mask, kept)
    return None


PLACEHOLDER_SCHEME = "per_window"  # <U1>, <U2>... renumbered by first appearance in each window


def contract_problems(model_info: dict, policy: dict) -> list[str]:
    """Why a bundle's chat model cannot be served by this runtime as it was trained (empty: it can):
    the prompt format (window, memory block and instruction layout), the placeholder scheme, and
    the window size the policy feeds it."""
    problems = []
    version = model_info.get("prompt_format_version")
    if version != PROMPT_FORMAT_VERSION:
        problems.append(
            f"the chat model was trained on prompt format v{version}, this runtime writes "
            f"v{PROMPT_FORMAT_VERSION}: use the runtime version that built the bundle, or rebuild it"
        )
    scheme = model_info.get("placeholders")
    if scheme != PLACEHOLDER_SCHEME:
        problems.append(
            f"the chat model was trained with placeholders {scheme!r}, the runtime numbers them "
            f"{PLACEHOLDER_SCHEME!r}: rebuild with sft_data.placeholders={PLACEHOLDER_SCHEME}"
        )
    window, served = model_info.get("context_messages"), policy.get("context_messages")
    if served != window:
        problems.append(
            f"policy.json serves {served} messages of context, the model was trained on {window}: "
            "rebuild the bundle (package fills the window from the model)"
        )
    return problems
