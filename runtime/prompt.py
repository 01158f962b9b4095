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
