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


def render(metrics: dict, samples: list[dict], n_samples: int, title: str = "") -> str:
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
        "## Samples",
        "Context (last lines of the window), the persona's real reply, and what each model wrote.",
        "",
    ]
    for i, s in enumerate(samples[:n_samples], 1):
        context = s["window"].split("\n")[-4:]
        lines += [f"### {i}", "```", *context, "```", "| | reply |", "|---|---|"]
        lines += [f"| real | {_cell(s['real'])} |", f"| base | {_cell(s['base'])} |"]
        lines += [f"| tuned | {_cell(s['tuned'])} |", ""]
    return "\n".join(lines)
