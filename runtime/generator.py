"""The persona's replies from a bundle's chat model, prompted exactly as in training.

Live chats show display names; the model was trained on placeholders. Each window is mapped the way
`sft_data` did it (per window: the persona is `<TARGET>`, others `<U1>`, `<U2>`… by first
appearance, mentions of those names in the text become their placeholders, PII is masked), the
prompt is built by `runtime.prompt`, and the reply is mapped back: `<U1>` becomes that person's
name again, other placeholders are dropped, and anything PII-shaped the model invents is removed.

With the bundle's memory on, the window's last lines query the memory index and the best snippets
go into the prompt's memory block, fitted to the memory token budget (as in training).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from runtime import pii
from runtime.bundle import Bundle, BundleError
from runtime.engines import ENGINES, ChatEngine, LlamaCppEngine, TransformersEngine, decoding
from runtime.memory import MemoryIndex, RetrievalSettings, fit_memory, query_of
from runtime.names import HashedNames, LiveNames
from runtime.person import PersonFinder
from runtime.pii import mask_pii
from runtime.prompt import TARGET, Turn, contract_problems, encode_prompt, format_window

ANY_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
SPEAKER_PREFIX = re.compile(r"^\s*(?:<[A-Z][A-Z0-9_]*>|[^\s:：]{1,20})\s*[:：]\s+")  # "<TARGET>: hi" → "hi"


class ChatLine(Protocol):
    """What the generator needs of a live message (runtime.policy.Message has it)."""

    sender: str
    text: str
    from_persona: bool


@dataclass(frozen=True)
class Window:
    text: str  # the rendered window, as the model sees it
    names: dict[str, str]  # placeholder -> display name, to map the reply back


def to_window(
    context: Sequence[ChatLine], persona: HashedNames | None = None, persona_names: Sequence[str] = (),
    min_name_chars: int = 2, entities: Sequence[str] = pii.ENTITIES, finder: PersonFinder | None = None,
    outsiders: HashedNames | None = None,
) -> Window:  # fmt: skip
    """Live messages (oldest first) as the training format's window: senders by first appearance,
    names in the text (the senders', the persona's: hashed from the bundle or typed at run time;
    other people's: the person finder and the bundle's hashed names) and PII masked the way
    anonymize masked the training data (runtime.names)."""
    placeholders: dict[str, str] = {}  # display name -> placeholder
    for m in context:
        if not m.from_persona and m.sender not in placeholders:
            placeholders[m.sender] = f"<U{len(placeholders) + 1}>"
    labels = {pii.name_key(n): TARGET for n in persona_names}
    labels |= {pii.name_key(name): ph for name, ph in placeholders.items()}
    names = LiveNames(labels, persona, min_name_chars, tuple(entities), finder, outsiders)
    turns = [
        Turn(TARGET if m.from_persona else placeholders[m.sender], "text", names.anonymize(m.text))
        for m in context
    ]
    return Window(format_window(turns), {p: name for name, p in placeholders.items()})


def to_live(reply: str, names: dict[str, str]) -> str:
    """The model's reply for the live chat: speaker prefix removed, `<U1>` → that person's name,
    every other placeholder and anything PII-shaped removed, whitespace tidied."""
    reply = SPEAKER_PREFIX.sub("", reply.strip().split("\n<")[0])  # stop at an invented next turn
    reply = ANY_PLACEHOLDER.sub(lambda m: names.get(m.group(0), ""), reply)
    reply = ANY_PLACEHOLDER.sub("", mask_pii(reply))
    lines = (" ".join(line.split()) for line in reply.splitlines())
    return "\n".join(line for line in lines if line)


@dataclass(frozen=True)
class Reply:
    text: str  # what may be sent ("" when nothing usable was generated)
    raw: str  # what the model wrote (for debug logging only)
    prompt_tokens: int
    window_lines: int
    memory_ids: tuple[str, ...] = ()  # snippets that went into the prompt (logged with the decision)


class Generator:
    """Loads the bundle's chat model once, in an engine (runtime/engines.py); `reply(context, seed)`
    writes the persona's next message."""

    def __init__(self, bundle: Bundle, device: str | None = None, load_in_4bit: bool = False,
                 memory: dict | None = None, persona_names: Sequence[str] = (), engine: str = "auto",
                 n_gpu_layers: int | None = None):  # fmt: skip
        """`memory` overrides the bundle's retrieval settings (e.g. {"enabled": False} or {"k": 1});
        `persona_names` adds names of the persona typed at run time to the bundle's hashed ones;
        `engine`: auto (the bundle's GGUF through llama.cpp when both are there), transformers or
        llama.cpp; `n_gpu_layers` overrides the bundle's for llama.cpp."""
        from transformers import AutoTokenizer  # the tokenizer alone needs no torch

        info = bundle.model_info
        problems = contract_problems(info, bundle.policy)
        if problems:
            raise BundleError(
                f"bundle {bundle.root} cannot be served as it was trained: " + "; ".join(problems)
            )
        self.instruction = info["instruction"]
        self.persona, self.min_name_chars = bundle.persona_names, bundle.name_rule
        self.finder, self.outsiders = bundle.person_finder, bundle.outsider_names
        self.entities = bundle.pii_entities  # what the training windows had masked
        self.persona_names = tuple(persona_names)
        self.tokenizer = AutoTokenizer.from_pretrained(bundle.chat_model)
        generation = decoding(bundle.chat_model)
        self.engine = open_engine(
            bundle, self.tokenizer, generation, engine, device, load_in_4bit, n_gpu_layers
        )
        self.max_prompt_tokens = info["max_prompt_tokens"] - (generation.get("max_new_tokens") or 128)
        self.memory: MemoryIndex | None = None
        self.memory_settings = RetrievalSettings(enabled=False)
        if bundle.memory is not None:
            settings = {**bundle.manifest["components"]["memory"]["retrieval"], **(memory or {})}
            self.memory_settings = RetrievalSettings.from_dict(settings)
            if self.memory_settings.enabled and self.memory_settings.k > 0:
                self.memory = MemoryIndex.load(bundle.memory, dense=self.memory_settings.mode != "lexical")

    def recall(self, window: str) -> tuple[list[str], tuple[str, ...]]:
        """Memory snippets for a window (fitted to the token budget) and their ids."""
        if self.memory is None:
            return [], ()
        settings = self.memory_settings
        hits = self.memory.recall(query_of(window, settings.query_messages), settings)
        texts = fit_memory(
            [h.snippet.prompt_text for h in hits],
            settings.max_tokens,
            lambda t: len(self.tokenizer(t, add_special_tokens=False)["input_ids"]),
        )
        by_text = {h.snippet.prompt_text: h.snippet.id for h in hits}
        return texts, tuple(by_text[t] for t in texts)

    def reply(self, context: Sequence[ChatLine], seed: int) -> Reply:
        window = to_window(context, self.persona, self.persona_names, self.min_name_chars, self.entities,
                           self.finder, self.outsiders)  # fmt: skip
        memory, memory_ids = self.recall(window.text)
        prompt = encode_prompt(
            self.tokenizer, self.instruction, window.text, memory, max_tokens=self.max_prompt_tokens
        )
        raw = self.engine.reply(prompt.ids, seed)  # the same ids, whatever the engine
        used = memory_ids[: prompt.memory]  # the snippets that fitted beside the window
        return Reply(to_live(raw, window.names), raw, len(prompt.ids), prompt.window_lines, used)


def open_engine(bundle: Bundle, tokenizer, generation: dict, engine: str = "auto", device: str | None = None,
                load_in_4bit: bool = False, n_gpu_layers: int | None = None) -> ChatEngine:  # fmt: skip
    """The engine for `engine` (runtime.engines.ENGINES). auto: llama.cpp on the bundle's GGUF when
    the bundle has one and llama-cpp-python is installed, else transformers."""
    if engine not in ENGINES:
        raise ValueError(f"engine {engine!r}: one of {ENGINES}")
    gguf = bundle.chat_gguf
    if engine == "auto":
        import importlib.util

        engine = "llama.cpp" if gguf and importlib.util.find_spec("llama_cpp") else "transformers"
    if engine == "transformers":
        return TransformersEngine(bundle.chat_model, tokenizer, device, load_in_4bit)
    if gguf is None:
        raise BundleError(f"bundle {bundle.root} has no GGUF chat model (chat_export, package.chat_gguf): "
                          "use --engine transformers or rebuild the bundle")  # fmt: skip
    settings = bundle.components["chat_gguf"]
    layers = settings.get("n_gpu_layers", 0) if n_gpu_layers is None else n_gpu_layers
    return LlamaCppEngine(gguf, tokenizer, generation, settings.get("n_ctx", 4096), layers,
                          settings.get("kv_cache_type", "f16"))  # fmt: skip
