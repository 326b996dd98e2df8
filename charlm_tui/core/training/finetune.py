"""Fine-tuning: a new run that starts from another run's weights and trains on another corpus.

The vocabulary is the union of the parent's characters and the new corpus's (ids are re-derived
from the union, in code-point order, so the parent's rows move to their new ids). How the rows of
characters new to the model start: their embedding is a copy of the parent's ``<unk>`` embedding
(the parent already read any character it did not know as ``<unk>``), and their output rows are
copies of ``<unk>``'s with the bias lowered so that ``<unk>`` and the k new characters share
exactly the probability the parent gave ``<unk>`` alone (each bias minus log(k + 1)). The softmax
denominator is then unchanged, so over the characters it knew the new model predicts what the
parent predicted: its first evaluation on the parent's own validation text equals the parent's.

The model's shape (cell, embedding, hidden size, layers) is the parent's; training options may
differ. The new run's config.json records its parent (run id, the parent corpus's sha256, which
weights, and the step they were saved at).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from charlm_tui.core.config import REGULARISERS, SHAPE, ModelConfig
from charlm_tui.core.data.corpus import Corpus, remap_ids
from charlm_tui.core.data.vocab import UNK_ID, Vocab
from charlm_tui.core.errors import ConfigError, RunError
from charlm_tui.core.model.charlm import CharLM
from charlm_tui.core.store.run_store import open_run

MAX_NEW_CHARS = 512  # characters a fine-tuning corpus may add to the parent's vocabulary
MAX_VOCAB = 4096  # and the size the union may reach


@dataclass(frozen=True)
class Parent:
    run_id: str
    weights: str  # "best" or "last"
    corpus_sha256: str | None
    corpus_name: str | None
    step: int | None  # the step those weights were saved at
    model: CharLM
    vocab: Vocab
    note: str | None = None  # something the user should be told (it is training right now, ...)

    @property
    def model_config(self) -> ModelConfig:
        return self.model.config

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "weights": self.weights,
            "corpus_sha256": self.corpus_sha256,
            "corpus": self.corpus_name,
            "step": self.step,
        }

    def shape_text(self) -> str:
        c = self.model_config
        return f"{c.cell} {c.num_layers}x{c.hidden_size}, embedding {c.embed_dim}"


def load_parent(home: Path, run_id: str, which: str = "best") -> Parent:
    """The run to fine-tune from, with the weights asked for; a run training right now gives its
    last saved weights (and a note saying so). RunError (one line) if it is missing or damaged."""
    run = open_run(home, run_id)
    if not run.has_config():
        raise RunError(f"run {run.id} has no config (it never started): there is nothing to fine-tune")
    note = None
    holder = run.lock_holder()
    if holder is not None and run.has_weights("last"):
        which = "last"
        note = (
            f"{run.id} is training now (pid {holder.get('pid')} on {holder.get('host')}): "
            "fine-tuning from its last saved weights"
        )
    model, vocab = run.load_model(which)
    step = run.weights_step(which)
    record = run.config.get("corpus")
    corpus: dict = record if isinstance(record, dict) else {}
    sha = corpus.get("sha256") if isinstance(corpus.get("sha256"), str) else None
    name = corpus.get("name") if isinstance(corpus.get("name"), str) else None
    if note and step is not None:
        note += f" (step {step:,})"
    return Parent(run.id, which, sha, name, step, model, vocab, note)


def check_shape(parent: Parent, model_kw: dict) -> None:
    """Refuse options that would change the parent's shape (equal values are fine)."""
    cfg = parent.model_config
    changed = [k for k in SHAPE if k in model_kw and model_kw[k] != getattr(cfg, k)]
    if changed:
        opts = ", ".join("--" + k.replace("_", "-") for k in changed)
        raise ConfigError(
            f"a fine-tuned run keeps the shape of {parent.run_id} ({parent.shape_text()}): leave out {opts}"
        )


def union_vocab(parent: Parent, corpus: Corpus) -> Vocab:
    new = sorted(set(corpus.vocab.chars) - set(parent.vocab.chars))
    vocab = Vocab(parent.vocab.chars + new)
    if len(new) > MAX_NEW_CHARS or vocab.size > MAX_VOCAB:
        shown = "".join(new[:20])
        raise ConfigError(
            f"{corpus.name} has {len(new):,} characters {parent.run_id} never saw ({shown!r}...): the "
            f"vocabulary would grow to {vocab.size:,}; fine-tuning adds at most {MAX_NEW_CHARS} characters "
            f"(and {MAX_VOCAB:,} in all). Train a new run on it instead"
        )
    return vocab


def adopt(parent: Parent, vocab: Vocab, regularisers: dict | None = None) -> CharLM:
    """A model of the parent's shape over ``vocab`` (a superset of the parent's), its weights the
    parent's, new characters' rows as this module's docstring says; ``regularisers`` (dropout,
    weight drop: core.config.REGULARISERS) as given, the parent's otherwise."""
    cfg = parent.model_config
    given = {k: v for k, v in (regularisers or {}).items() if k in REGULARISERS}
    mcfg = replace(cfg, vocab_size=vocab.size, **given).validate()
    model = CharLM.from_config(mcfg)
    old = parent.model.state_dict()
    # for each id of the new vocabulary: the parent's id of that character (<unk> for a new one)
    rows = torch.tensor([UNK_ID] + [parent.vocab.stoi.get(ch, UNK_ID) for ch in vocab.chars], dtype=torch.long)
    fresh = rows == UNK_ID  # <unk> itself and the new characters share <unk>'s probability
    fresh[UNK_ID] = True
    k = int(fresh.sum()) - 1
    state = {}
    for name, value in old.items():
        if name in ("embed.weight", "head.weight", "head.bias"):
            value = value[rows].clone()
            if name == "head.bias":
                value[fresh] -= math.log(k + 1)
        state[name] = value
    model.load_state_dict(state)
    return model


def fine_tuning_corpus(corpus: Corpus, vocab: Vocab) -> Corpus:
    """The corpus with its ids in the union vocabulary (its text and sha256 unchanged)."""
    ids = remap_ids(torch.from_numpy(corpus.ids_np), corpus.vocab, vocab).numpy()
    return replace(corpus, vocab=vocab, ids_np=ids.astype(vocab.lookup_table().dtype))
