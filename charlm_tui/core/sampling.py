"""Generation: warm up on the prompt in ONE forward pass, then yield one character at a time
(each step through ``CharLM.stepper``: the single-step cell kernels, not a full RNN call).

Temperature and top-k live in a mutable ``SamplingControl`` that is read before every
character, so a caller (the REPL) can change them while a stream is running.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterator

import torch

from charlm_tui.core.config import SamplingControl  # noqa: F401 (re-exported)
from charlm_tui.core.model import CharLM
from charlm_tui.core.vocab import UNK_ID, EncodedPrompt, Vocab


@dataclass(frozen=True)
class Sampled:
    char: str
    id: int
    prob: float  # the probability the model gave this character (at temperature 1)


def start_ids(vocab: Vocab, prompt: EncodedPrompt) -> list[int]:
    """Ids to warm up on; an empty prompt starts from a newline (or <unk> if none was seen)."""
    return prompt.ids or [vocab.stoi.get("\n", UNK_ID)]


@torch.inference_mode()
def generate(model: CharLM, vocab: Vocab, prompt: str, length: int = 500,
             control: SamplingControl | None = None, seed: int | None = None,
             stop_event: threading.Event | None = None) -> Iterator[Sampled]:
    """Yield up to ``length`` sampled characters continuing ``prompt``."""
    control = control or SamplingControl()
    was_training = model.training
    model.eval()
    device = model.head.weight.device
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(seed)
    ids = start_ids(vocab, vocab.encode_prompt(prompt))
    try:
        x = torch.tensor([ids], dtype=torch.long, device=device)
        logits, state = model(x)  # warm-up: the whole prompt in one pass
        last = logits[0, -1].float()
        stepper = model.stepper()
        layers = stepper.split(state)
        for _ in range(length):
            if stop_event is not None and stop_event.is_set():
                return
            last[UNK_ID] = -float("inf")  # never emit <unk>
            probs1 = torch.softmax(last, dim=-1)
            t, k = control.temperature, control.top_k
            if t <= 0.0:
                nxt = int(torch.argmax(last))
            else:
                scaled = last / t
                if k and 0 < k < scaled.numel():
                    kth = torch.topk(scaled, k).values[-1]
                    scaled = scaled.masked_fill(scaled < kth, -float("inf"))
                nxt = int(torch.multinomial(torch.softmax(scaled, dim=-1), 1, generator=gen))
            yield Sampled(vocab.itos(nxt), nxt, float(probs1[nxt]))
            last = stepper.step(nxt, layers).float()
    finally:
        model.train(was_training)


def sample(model: CharLM, vocab: Vocab, prompt: str, length: int = 500, control: SamplingControl | None = None,
           seed: int | None = None, stop_event: threading.Event | None = None) -> Iterator[str]:
    """Like ``generate`` but yields plain characters."""
    for s in generate(model, vocab, prompt, length, control, seed, stop_event):
        yield s.char
