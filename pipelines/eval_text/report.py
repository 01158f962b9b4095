"""report.md for eval_text: one table base vs tuned, a verdict, side-by-side samples."""

from __future__ import annotations

# Which way is better, per metric (names not listed are shown without a verdict).
HIGHER_IS_BETTER = {"style_score", "style_char_ngram_similarity", "distinct_1", "distinct_2"}
LOWER_IS_BETTER = {
    "val_loss",
    "perplexity",
    "style_length_distance",
    "style_emoji_rate_gap",
    "style_punct_gap",
    "style_catchphrase_rate_gap",
    "assistant_tone_rate",
    "leakage_rate",
    "degenerate_rate",
}


def better(metric: str, base: float, tuned: float) -> str:
    if base == tuned or metric not in HIGHER_IS_BETTER | LOWER_IS_BETTER:
        return ""
    return "tuned" if (tuned > base) == (metric in HIGHER_IS_BETTER) else "base"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split()) or "∅"


def quantized_section(tuned: dict, quantized: dict) -> list[str]:
    """What each quantized file (chat_export, llama.cpp) costs against the tuned model, same prompts."""
    if not quantized:
        return []
    keys = (
        "perplexity",
        "style_score",
        "assistant_tone_rate",
        "leakage_rate",
        "degenerate_rate",
        "mean_chars",
    )
    keys = tuple(k for k in keys if k in tuned)
    return [
        "## Quantized files (llama.cpp)",
        "The tuned model's GGUF files on the same windows and decoding (llama.cpp samples with its own "
        "random numbers). Perplexity: chat_export's, on validation replies.",
        "",
        "| model | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
        "| tuned (transformers) | " + " | ".join(str(tuned[k]) for k in keys) + " |",
        *[
            "| " + level + " | " + " | ".join(str(q.get(k)) for k in keys) + " |"
            for level, q in quantized.items()
        ],
        "",
    ]


def render(metrics: dict, samples: list[dict], n_samples: int, title: str = "",
           memory_samples: list[dict] = ()) -> str:  # fmt: skip
    base, tuned = metrics["base"], metrics["tuned"]
    lines = [
        f"# Persona text evaluation{': ' + title if title else ''}",
        "",
        f"{metrics['examples']} held-out validation windows; both models decode with "
        + ", ".join(f"{k}={v}" for k, v in metrics["decoding"].items())
        + " and the same seeds.",
        "",
        "## Verdict",
        f"- Style closer to the persona (style_score, higher is closer): "
        f"**{'tuned' if tuned['style_score'] > base['style_score'] else 'base'}** "
        f"({base['style_score']} → {tuned['style_score']})",
        f"- Assistant tone: {base['assistant_tone_rate']:.0%} of base replies → "
        f"{tuned['assistant_tone_rate']:.0%} of tuned replies",
        f"- Persona's real replies: validation loss {base['val_loss']} → {tuned['val_loss']}",
        f"- Leaked placeholders or PII-shaped text: {base['leakage_rate']:.0%} → {tuned['leakage_rate']:.0%}",
        "",
        "## Metrics",
        "| metric | base | tuned | better |",
        "|---|---|---|---|",
        *[f"| {k} | {base[k]} | {tuned[k]} | {better(k, base[k], tuned[k])} |" for k in base],
        "",
        *quantized_section(tuned, metrics.get("quantized", {})),
        "## Samples",
        "Context (last lines of the window), the persona's real reply, and what each model wrote.",
        "",
    ]
    for i, s in enumerate(samples[:n_samples], 1):
        context = s["window"].split("\n")[-4:]
        lines += [f"### {i}", "```", *context, "```", "| | reply |", "|---|---|"]
        lines += [f"| real | {_cell(s['real'])} |", f"| base | {_cell(s['base'])} |"]
        lines += [f"| tuned | {_cell(s['tuned'])} |"]
        if "tuned_with_memory" in s:
            lines += [f"| tuned + memory | {_cell(s['tuned_with_memory'])} |"]
        lines += [""]
    if "memory" in metrics:
        lines += memory_section(metrics["memory"], memory_samples)
    return "\n".join(lines)


def memory_section(m: dict, samples: list[dict]) -> list[str]:
    fc = m["fact_consistency"]
    lines = [
        "## Memory",
        f"{m['questions']} held-out questions about the persona's facts; memory k={m['settings']['k']} "
        f"({m['settings']['mode']}), at most {m['settings']['max_tokens']} prompt tokens.",
        "",
        f"- Fact consistency of the tuned model: {fc['without_memory']:.0%} without memory → "
        f"**{fc['with_memory']:.0%} with memory** (reference decoding, same seeds); greedy: "
        f"{fc['greedy_without_memory']:.0%} → **{fc['greedy_with_memory']:.0%}**",
        f"- Style score on the validation windows with memory: {m['style_with_memory']['style_score']} "
        f"({m['style_score_change']:+.3f} against without)",
        "",
        "| retriever | questions | recall@1 | recall@3 | recall@5 | MRR |",
        "|---|---|---|---|---|---|",
        *[f"| {mode}{f' ({lang})' if lang else ''} | {r['questions']} | {r['recall_at_1']} "
          f"| {r['recall_at_3']} | {r['recall_at_5']} | {r['mrr']} |"
          for mode, all_ in m["retrieval"].items()
          for lang, r in [("", all_), *all_.get("by_language", {}).items()]],
        "",
        "### Questions",
        "| question | memory | without | with memory |",
        "|---|---|---|---|",
    ]  # fmt: skip
    for s in samples:
        memory = "<br>".join(_cell(t) for t in s["memory"]) or "∅"
        without, with_memory = _cell(s["without_memory"]), _cell(s["with_memory"])
        lines.append(f"| {_cell(s['question'])} | {memory} | {without} | {with_memory} |")
    return [*lines, ""]
