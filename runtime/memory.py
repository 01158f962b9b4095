"""Retrieval memory: short pieces of past conversations, found for the current window.

The `memory` stage writes an index folder; the runtime (and evaluation, and memory-augmented training
data) load it with `MemoryIndex.load` and call `search`. Retrieval is hybrid:

- lexical: BM25 over tokens that work for Chinese and English alike (CJK character unigrams and
  bigrams, lowercased words), stored as precomputed per-posting weights so a query is one bincount;
- dense: cosine similarity of normalised sentence embeddings from a local encoder folder
  (mean pooling, as sentence-transformers models are trained), one per line of a snippet; a
  snippet scores its best line (a fact is one line; averaging it with the chatter around it hides
  it: measured on the demo's questions, recall@3 0.44 -> 0.63); optional;
- fused by reciprocal rank (RRF), which needs no score calibration between the two.

Index folder (`write_index` / `MemoryIndex.load`):

    index.json      format version, counts, BM25 parameters, embedder info, retrieval settings
    snippets.jsonl  one snippet per line: id, chat, session, date, speakers, text (anonymized)
    lexical.npz     vocabulary order, CSR postings (term -> doc ids, BM25 weights)
    dense.npy       float16 embeddings, one row per snippet line (absent when lexical-only)
    dense_lines.npy int64 offsets: the lines of snippet i are rows [i, i+1) of it
    embedder/       the sentence encoder (absent when lexical-only)

numpy + the standard library; the dense encoder is `runtime.encoder.Embedder` (torch when installed,
else numpy).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.encoder import Embedder

INDEX_FORMAT_VERSION = 1
INDEX_META = "index.json"
SNIPPETS = "snippets.jsonl"
LEXICAL = "lexical.npz"
DENSE = "dense.npy"
DENSE_LINES = "dense_lines.npy"
EMBEDDER = "embedder"
MODES = ("lexical", "dense", "hybrid")

# ---------------------------------------------------------------------------- tokens

_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")  # <TARGET>, <U3>, <PHONE>: not content
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_LABEL = re.compile(r"(?:^|(?<= / ))<[A-Z][A-Z0-9_]*>: ")
_TOKEN = re.compile(rf"[{_CJK}]+|[a-z0-9]+(?:'[a-z]+)?")
# Function words that match everything. Short on purpose: BM25's idf handles the rest.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "do",
        "did",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "he",
        "her",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "is",
        "it",
        "it's",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "she",
        "so",
        "that",
        "the",
        "their",
        "them",
        "they",
        "this",
        "to",
        "too",
        "us",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "you're",
    ]
)


def tokens(text: str) -> list[str]:
    """Lowercased English words and numbers, plus every CJK character and character bigram
    (no word segmenter needed: bigrams carry most of Chinese word identity)."""
    out: list[str] = []
    for run in _TOKEN.findall(_PLACEHOLDER.sub(" ", text).lower()):
        if run[0] >= "\u3400":
            out += list(run)
            out += [run[i : i + 2] for i in range(len(run) - 1)]
        elif run not in STOPWORDS:
            out.append(_singular(run))
    return out


def _singular(word: str) -> str:
    """ "sunflowers" and "sunflower" are one term (plural -s only: no stemmer dependency)."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")) and word.isalpha():
        return word[:-1]
    return word


CHINESE_SHARE = 0.3  # a text with this share of Chinese characters among its letters is Chinese
_CJK_CHAR = re.compile(f"[{_CJK}]")
_LATIN_CHAR = re.compile("[A-Za-z]")


def cjk_share(texts: Iterable[str]) -> float:
    """The share of Chinese characters among the letters of these texts (placeholders aside): how
    Chinese a corpus or a question is. 0.0 for no letters at all."""
    cjk = latin = 0
    for text in texts:
        text = _PLACEHOLDER.sub(" ", text)
        cjk += len(_CJK_CHAR.findall(text))
        latin += len(_LATIN_CHAR.findall(text))
    return cjk / (cjk + latin) if cjk + latin else 0.0


def lines_of(snippet_text: str) -> list[str]:
    """A snippet's lines as the dense side embeds them (speaker labels off)."""
    return content_text(snippet_text).split("\n")


def content_text(snippet_text: str) -> str:
    """What a snippet says, without speaker labels and separators (what the encoder embeds)."""
    return _LABEL.sub("", snippet_text).replace(" / ", "\n").strip()


# ---------------------------------------------------------------------------- lexical (BM25)


@dataclass(frozen=True)
class Lexical:
    """BM25 with the per-posting weight idf * tf*(k1+1) / (tf + k1*(1-b+b*len/avglen)) precomputed."""

    vocab: dict[str, int]
    term_ptr: np.ndarray  # int64 [V+1]: postings of term t are [term_ptr[t], term_ptr[t+1])
    doc_ids: np.ndarray  # int32 [nnz]
    weights: np.ndarray  # float32 [nnz]
    n_docs: int

    @classmethod
    def build(cls, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> Lexical:
        n = len(docs)
        lengths = np.array([len(d) for d in docs], dtype=np.float64)
        avg = float(lengths.mean()) if n and lengths.sum() else 1.0
        postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                postings.setdefault(term, []).append((i, tf))
        terms = sorted(postings)
        ptr = np.zeros(len(terms) + 1, dtype=np.int64)
        ptr[1:] = np.cumsum([len(postings[t]) for t in terms])
        doc_ids = np.empty(int(ptr[-1]), dtype=np.int32)
        weights = np.empty(int(ptr[-1]), dtype=np.float32)
        for t, term in enumerate(terms):
            ids, tfs = zip(*postings[term], strict=True)
            ids_a, tf_a = np.array(ids), np.array(tfs, dtype=np.float64)
            idf = math.log(1 + (n - len(ids) + 0.5) / (len(ids) + 0.5))
            norm = k1 * (1 - b + b * lengths[ids_a] / avg)
            doc_ids[ptr[t] : ptr[t + 1]] = ids_a
            weights[ptr[t] : ptr[t + 1]] = idf * tf_a * (k1 + 1) / (tf_a + norm)
        return cls({t: i for i, t in enumerate(terms)}, ptr, doc_ids, weights, n)

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query tokens (0 where nothing matches)."""
        spans = [
            (self.term_ptr[t], self.term_ptr[t + 1])
            for t in (self.vocab.get(q) for q in query)
            if t is not None
        ]
        if not spans:
            return np.zeros(self.n_docs, dtype=np.float32)
        ids = np.concatenate([self.doc_ids[a:b] for a, b in spans])
        w = np.concatenate([self.weights[a:b] for a, b in spans])
        return np.bincount(ids, weights=w, minlength=self.n_docs).astype(np.float32)

    def save(self, path: Path) -> None:
        terms = sorted(self.vocab, key=self.vocab.__getitem__)
        np.savez(
            path,
            terms=np.array(terms, dtype=str),
            term_ptr=self.term_ptr,
            doc_ids=self.doc_ids,
            weights=self.weights,
            n_docs=np.array(self.n_docs),
        )

    @classmethod
    def load(cls, path: Path) -> Lexical:
        with np.load(path, allow_pickle=False) as z:
            terms = z["terms"].tolist()
            return cls(
                {t: i for i, t in enumerate(terms)},
                z["term_ptr"],
                z["doc_ids"],
                z["weights"],
                int(z["n_docs"]),
            )


# ---------------------------------------------------------------------------- dense


def top_k(scores: np.ndarray, k: int, valid: np.ndarray | None = None) -> list[int]:
    """Indices of the k highest scores (ties: lower index first), among `valid` when given."""
    idx = np.flatnonzero(valid) if valid is not None else np.arange(len(scores))
    if len(idx) > k:
        part = np.argpartition(-scores[idx], k - 1)[:k]
        idx = idx[part]
    return sorted(idx.tolist(), key=lambda i: (-float(scores[i]), i))


def rrf(rankings: Sequence[Sequence[int]], k: int = 60) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank), rank from 1."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))


# ---------------------------------------------------------------------------- the index


@dataclass(frozen=True)
class Snippet:
    id: str
    chat: str
    session: str  # "<chat>:<n>": snippets of one conversation share it
    date: str  # YYYY-MM-DD (local), shown to the model
    ts: float  # start of the snippet, unix seconds
    speakers: list[str]
    text: str  # anonymized, one line: "<TARGET>: … / <PERSON>: …"

    @property
    def prompt_text(self) -> str:
        """How the snippet appears in the prompt's memory block."""
        return f"{self.date} {self.text}"


@dataclass(frozen=True)
class Hit:
    snippet: Snippet
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # rank in each retriever that found it


@dataclass(frozen=True)
class RetrievalSettings:
    """How many snippets a reply gets and how they are found (the bundle's memory config)."""

    enabled: bool = True
    k: int = 3
    max_tokens: int = 96  # budget for the whole memory block in the prompt
    mode: str = "hybrid"
    query_messages: int = 3  # the window's last N lines form the query
    candidates: int = 50  # per retriever, before fusion
    rrf_k: int = 60
    min_similarity: float = 0.35  # dense hits below this cosine are not memories, just noise
    # The default encoder reads English only: a mostly Chinese query is answered lexically, in hybrid
    # and dense mode alike (eval_text measured hybrid at a third of lexical's recall on Chinese
    # questions). True with a multilingual encoder.
    dense_for_chinese: bool = True

    @classmethod
    def from_dict(cls, d: dict) -> RetrievalSettings:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"unknown memory settings {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}"
            )
        s = cls(**d)
        if s.mode not in MODES:
            raise ValueError(f"memory mode {s.mode!r}: choose one of {MODES}")
        if s.k < 0 or s.max_tokens < 0 or s.candidates < 1:
            raise ValueError("memory k and max_tokens must be >= 0 and candidates >= 1")
        return s


class MemoryIndex:
    """A loaded index: snippets, BM25 postings and (optionally) embeddings with their encoder."""

    def __init__(
        self,
        snippets: list[Snippet],
        lexical: Lexical,
        dense: np.ndarray | None = None,
        embedder: Embedder | None = None,
        meta: dict | None = None,
        dense_lines: np.ndarray | None = None,
    ):
        self.snippets, self.lexical, self.dense, self.embedder = snippets, lexical, dense, embedder
        self.dense_lines = dense_lines  # None: one row per snippet
        self.meta = meta or {}
        self._sessions = np.array([s.session for s in snippets], dtype=object)
        self._ts = np.array([s.ts for s in snippets], dtype=np.float64)

    @classmethod
    def load(cls, folder: str | Path, dense: bool = True) -> MemoryIndex:
        folder = Path(folder)
        meta_path = folder / INDEX_META
        if not meta_path.is_file():
            raise FileNotFoundError(
                f"{meta_path} not found: not a memory index (build one with `dvc repro memory`)"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != INDEX_FORMAT_VERSION:
            raise ValueError(
                f"{meta_path}: index format {meta.get('format_version')}, this code reads "
                f"{INDEX_FORMAT_VERSION}; rebuild it with `dvc repro memory`"
            )
        with (folder / SNIPPETS).open(encoding="utf-8") as f:
            snippets = [Snippet(**json.loads(line)) for line in f if line.strip()]
        lexical = Lexical.load(folder / LEXICAL)
        vectors = embedder = lines = None
        if dense and (folder / DENSE).is_file():
            vectors = np.load(folder / DENSE).astype(np.float32)
            lines = np.load(folder / DENSE_LINES) if (folder / DENSE_LINES).is_file() else None
            embedder = Embedder(folder / EMBEDDER)
        return cls(snippets, lexical, vectors, embedder, meta, lines)

    def __len__(self) -> int:
        return len(self.snippets)

    @property
    def has_dense(self) -> bool:
        return self.dense is not None and self.embedder is not None

    def search(
        self,
        query: str,
        k: int,
        mode: str = "hybrid",
        *,
        candidates: int = 50,
        rrf_k: int = 60,
        min_similarity: float = 0.35,
        exclude_session: str | None = None,
        before_ts: float | None = None,
        query_vector: np.ndarray | None = None,
        dense_for_chinese: bool = True,
    ) -> list[Hit]:
        """The k best snippets for `query`. `exclude_session` / `before_ts` keep training examples
        from seeing their own conversation or the future. Dense falls back to lexical when the index
        has no embeddings, and for a mostly Chinese query unless `dense_for_chinese`."""
        if k <= 0 or not self.snippets:
            return []
        if not dense_for_chinese and cjk_share([query]) >= CHINESE_SHARE:
            mode = "lexical"
        valid = np.ones(len(self.snippets), dtype=bool)
        if exclude_session is not None:
            valid &= self._sessions != exclude_session
        if before_ts is not None:
            valid &= self._ts < before_ts
        rankings: dict[str, list[int]] = {}
        scores: dict[str, np.ndarray] = {}
        if mode in ("lexical", "hybrid") or not self.has_dense:
            lex = self.lexical.scores(tokens(query))
            rankings["lexical"] = top_k(lex, candidates, valid & (lex > 0))
            scores["lexical"] = lex
        if mode in ("dense", "hybrid") and self.has_dense:
            q = query_vector if query_vector is not None else self.embedder.encode([query])[0]
            sim = self.similarity(q)
            rankings["dense"] = top_k(sim, candidates, valid & (sim >= min_similarity))
            scores["dense"] = sim
        if len(rankings) == 1:
            ((name, ranking),) = rankings.items()
            fused = [(doc, float(scores[name][doc])) for doc in ranking]
        else:
            fused = rrf(list(rankings.values()), rrf_k)
        ranks = {
            name: {doc: r for r, doc in enumerate(ranking, start=1)} for name, ranking in rankings.items()
        }
        hits: list[Hit] = []
        sessions: set[str] = set()
        for doc, score in fused:  # one snippet per conversation: overlapping neighbours say the same
            if len(hits) == k:
                break
            if self.snippets[doc].session not in sessions:
                sessions.add(self.snippets[doc].session)
                hits.append(
                    Hit(self.snippets[doc], score, {n: rk[doc] for n, rk in ranks.items() if doc in rk})
                )
        return hits

    def similarity(self, q: np.ndarray) -> np.ndarray:
        """Cosine similarity of every snippet to a query vector: that of its best line."""
        sims = self.dense @ q
        if self.dense_lines is None:
            return sims
        return np.maximum.reduceat(sims, self.dense_lines[:-1])

    def recall(self, query: str, settings: RetrievalSettings) -> list[Hit]:
        """Retrieval for a reply with the bundle's settings."""
        if not settings.enabled:
            return []
        return self.search(
            query,
            settings.k,
            settings.mode,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
            min_similarity=settings.min_similarity,
            dense_for_chinese=settings.dense_for_chinese,
        )


def write_index(
    folder: Path,
    snippets: Sequence[Snippet],
    embeddings: np.ndarray | None,
    meta: dict,
    k1: float = 1.2,
    b: float = 0.75,
    dense_lines: np.ndarray | None = None,
) -> dict:
    """Write an index into `folder` (which the caller makes atomic); returns the full index.json.
    `embeddings` has one row per snippet, or per line with `dense_lines` offsets (see `lines_of`)."""
    folder.mkdir(parents=True, exist_ok=True)
    lexical = Lexical.build([tokens(content_text(s.text)) for s in snippets], k1, b)
    lexical.save(folder / LEXICAL)
    with (folder / SNIPPETS).open("w", encoding="utf-8") as f:
        for s in snippets:
            f.write(json.dumps(s.__dict__, ensure_ascii=False) + "\n")
    if embeddings is not None:
        np.save(folder / DENSE, embeddings.astype(np.float16))
        if dense_lines is not None:
            if dense_lines[-1] != len(embeddings) or len(dense_lines) != len(snippets) + 1:
                raise ValueError("dense_lines must hold len(snippets) + 1 offsets ending at len(embeddings)")
            np.save(folder / DENSE_LINES, np.asarray(dense_lines, dtype=np.int64))
    full = {
        "format_version": INDEX_FORMAT_VERSION,
        "snippets": len(snippets),
        "vocabulary": len(lexical.vocab),
        "postings": int(lexical.doc_ids.size),
        "bm25": {"k1": k1, "b": b},
        "dense": embeddings is not None,
        **meta,
    }
    (folder / INDEX_META).write_text(json.dumps(full, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return full


# ---------------------------------------------------------------------------- into the prompt


def query_of(window: str, messages: int) -> str:
    """The retrieval query for a window: its last `messages` lines, speaker labels removed."""
    lines = [line.split(": ", 1)[-1] for line in window.split("\n") if line.strip()]
    return " ".join(lines[-messages:])


def fit_memory(snippets: Sequence[str], max_tokens: int, count_tokens: Callable[[str], int]) -> list[str]:
    """The best-ranked snippets whose memory block (runtime.prompt.format_memory) fits `max_tokens`;
    a snippet that does not fit is skipped, a shorter one further down may still fit."""
    from runtime.prompt import format_memory

    chosen: list[str] = []
    for s in snippets:
        if count_tokens(format_memory([*chosen, s])) <= max_tokens:
            chosen.append(s)
    return chosen
