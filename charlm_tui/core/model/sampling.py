"""Generation: warm up on the prompt in ONE forward pass, then yield one character at a time
(each step through ``CharLM.stepper``, see ``charlm_tui.core.model.stepper``, not a full RNN call).
A prompt longer than WARMUP_CHUNK characters warms up one chunk per pass, the state carried
between them: what one pass computes, in bounded memory.

Temperature and top-k live in a mutable ``SamplingControl`` that is read before every
character, so a caller (the REPL) can change them while a stream is running.

The draw itself (``pick``) is done in NumPy on the (V,) logits: at batch 1 the vector is tiny and
each torch call costs microseconds of dispatch, so softmax + multinomial + indexing in torch took
~25 us a character against ~12 us here (benchmarks/generation.py measures the whole loop).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from charlm_tui.core.config import SamplingControl  # noqa: F401 (re-exported)
from charlm_tui.core.data.vocab import UNK_ID, EncodedPrompt, Vocab
from charlm_tui.core.errors import GenerationError
from charlm_tui.core.model.charlm import CharLM


@dataclass(frozen=True)
class Sampled:
    char: str
    id: int
    prob: float  # the probability the model gave this character (at temperature 1)


# A prompt warms up in chunks of this many characters (each one pass; memory stays bounded), and
# longer than MAX_PROMPT_CHARS is refused: the state after it depends on the recent text anyway
WARMUP_CHUNK = 4096
MAX_PROMPT_CHARS = 200_000


def check_prompt(prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise GenerationError(
            f"the prompt is {len(prompt):,} characters; at most {MAX_PROMPT_CHARS:,} warm the model "
            "up (what it generates depends on the recent text: keep the end of it)"
        )


def start_ids(vocab: Vocab, prompt: EncodedPrompt) -> list[int]:
    """Ids to warm up on; an empty prompt starts from a newline (or <unk> if none was seen)."""
    return prompt.ids or [vocab.stoi.get("\n", UNK_ID)]


def pick(logits: np.ndarray, temperature: float, top_k: int | None, rng: np.random.Generator) -> tuple[int, float]:
    """Draw one id from float logits (V,) at ``temperature`` (<= 0: argmax) among the ``top_k``
    most likely (0: all); return it with the probability the model gave it at temperature 1.
    ``<unk>`` is never drawn (its logit is set to -inf in place)."""
    logits[UNK_ID] = -np.inf
    top = logits.max()  # NaN if any logit is NaN
    if not np.isfinite(top):
        raise GenerationError(
            "the model's output is not finite (NaN or inf weights): sample from another "
            "checkpoint (best instead of last) or retrain with a lower learning rate"
        )
    shifted = logits - top
    e1 = np.exp(shifted)  # unnormalised probabilities at temperature 1
    if temperature <= 0.0:
        nxt = int(shifted.argmax())
    else:
        e = e1 if temperature == 1.0 else np.exp(shifted / temperature)
        if top_k and 0 < top_k < e.size:
            kth = np.partition(e, e.size - top_k)[e.size - top_k]
            e = np.where(e >= kth, e, 0.0)
        cum = np.cumsum(e)
        nxt = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
        if nxt >= e.size or e[nxt] == 0.0:  # rounding at the very top end of the cumulative sum
            nxt = int(np.flatnonzero(e)[-1])
    return nxt, float(e1[nxt] / e1.sum())


@torch.inference_mode()
def generate(
    model: CharLM,
    vocab: Vocab,
    prompt: str,
    length: int = 500,
    control: SamplingControl | None = None,
    seed: int | None = None,
    stop_event: threading.Event | None = None,
) -> Iterator[Sampled]:
    """Yield up to ``length`` sampled characters continuing ``prompt``."""
    control = control or SamplingControl()
    was_training = model.training
    model.eval()
    device = model.head.weight.device
    rng = np.random.default_rng(seed)  # seed None: fresh entropy
    check_prompt(prompt)
    ids = start_ids(vocab, vocab.encode_prompt(prompt))
    try:
        state = None
        for i in range(0, len(ids), WARMUP_CHUNK):  # warm-up: one pass per chunk, state carried
            x = torch.tensor([ids[i : i + WARMUP_CHUNK]], dtype=torch.long, device=device)
            h, state = model.features(x, state)
        last = model.head(h[0, -1]).float().cpu().numpy()  # only the last position's logits
        stepper = None
        for _ in range(length):
            if stop_event is not None and stop_event.is_set():
                return
            nxt, prob = pick(last, control.temperature, control.top_k, rng)
            yield Sampled(vocab.itos(nxt), nxt, prob)
            if stepper is None:  # made after the first character is out: it is not needed for it
                stepper = model.stepper()
                stepper.load(state)
            last = stepper.step(nxt)
    finally:
        model.train(was_training)


def sample(
    model: CharLM,
    vocab: Vocab,
    prompt: str,
    length: int = 500,
    control: SamplingControl | None = None,
    seed: int | None = None,
    stop_event: threading.Event | None = None,
) -> Iterator[str]:
    """Like ``generate`` but yields plain characters."""
    for s in generate(model, vocab, prompt, length, control, seed, stop_event):
        yield s.char
