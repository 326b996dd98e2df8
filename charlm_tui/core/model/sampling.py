"""Generation: warm up on the prompt in ONE forward pass, then yield one character at a time
(each step through ``CharLM.stepper``, see ``charlm_tui.core.model.stepper``, not a full RNN call).
A prompt longer than WARMUP_CHUNK characters warms up one chunk per pass, the state carried
between them: what one pass computes, in bounded memory.

How a character is drawn lives in a mutable ``SamplingControl`` that is read before every
character, so a caller (the REPL) can change it while a stream is running. The filters apply in
this order, each to what the one before left:

1. repetition penalty: the probability of every character that occurs in the last
   ``repetition_window`` characters of the text (prompt included) is divided by the penalty (its
   logit lowered by log(penalty): unlike dividing positive logits, this does not depend on where
   the logits happen to sit, which a softmax ignores);
2. temperature: logits / T (T = 0: the likeliest character, and no other filter applies);
3. top-k: the k likeliest characters;
4. top-p (nucleus): the likeliest characters, in order, until their probabilities sum to at least
   top_p (the character that crosses the line is kept);
5. min-p: the characters at least min_p times as likely as the likeliest.

Stop strings end a stream when one appears in the generated text (not the prompt); the stop string
itself is not yielded, and characters that could be the start of one are held back until they
cannot (so nothing is shown that a stop would take back).

The draw itself (``pick``) is done in NumPy on the (V,) logits: at batch 1 the vector is tiny and
each torch call costs microseconds of dispatch, so softmax + multinomial + indexing in torch took
~25 us a character against ~12 us here (benchmarks/generation.py measures the whole loop). With
every filter at its neutral value the draw takes the same short path as before they existed.

``best_of`` draws N continuations of one prompt in one batched pass and ranks them; ``beam_search``
keeps the W likeliest continuations character by character.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from charlm_tui.core.config import MAX_BEAM, MAX_BEST_OF, REPETITION_WINDOW_MAX, SamplingControl
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


@contextmanager
def _evaluating(model: CharLM):
    """The model in eval mode for the block (no dropout), then back to what it was."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _not_finite() -> GenerationError:
    return GenerationError(
        "the model's output is not finite (NaN or inf weights): sample from another "
        "checkpoint (best instead of last) or retrain with a lower learning rate"
    )


class RecentWindow:
    """How often each id occurs in the last ``size`` ids pushed: the repetition penalty's memory,
    kept up to date in O(1) a character."""

    def __init__(self, vocab_size: int, size: int, ids: list[int] | None = None):
        self.size = size
        self.counts = np.zeros(vocab_size, dtype=np.int32)
        self._ids: deque[int] = deque()
        for i in (ids or [])[-size:]:
            self.push(i)

    def push(self, i: int) -> None:
        self._ids.append(i)
        self.counts[i] += 1
        while len(self._ids) > self.size:
            self.counts[self._ids.popleft()] -= 1

    def resize(self, size: int) -> None:
        self.size = size
        while len(self._ids) > size:
            self.counts[self._ids.popleft()] -= 1


def _filtered(shifted: np.ndarray, control: SamplingControl) -> np.ndarray:
    """Unnormalised weights after temperature, top-k, top-p and min-p (``shifted``: max 0)."""
    t = control.temperature
    e = np.exp(shifted if t == 1.0 else shifted / t)
    k = control.top_k
    if k and 0 < k < e.size:
        kth = np.partition(e, e.size - k)[e.size - k]
        e = np.where(e >= kth, e, 0.0)
    if control.top_p < 1.0:
        order = np.argsort(-e, kind="stable")
        sorted_e = e[order]
        cum = np.cumsum(sorted_e)
        drop = order[(cum - sorted_e) >= control.top_p * cum[-1]]
        e[drop] = 0.0
    if control.min_p > 0.0:
        e = np.where(e >= control.min_p * e.max(), e, 0.0)
    return e


def _penalised(logits: np.ndarray, control: SamplingControl, recent: RecentWindow | None) -> np.ndarray:
    """logits - max, with the repetition penalty applied and <unk> at -inf (in place on logits)."""
    logits[UNK_ID] = -np.inf
    top = logits.max()  # NaN if any logit is NaN
    if not np.isfinite(top):
        raise _not_finite()
    shifted = logits - top
    if control.repetition_penalty > 1.0 and recent is not None:
        shifted -= np.log(control.repetition_penalty) * (recent.counts[: shifted.size] > 0)
        shifted -= shifted.max()
    return shifted


def distribution(logits: np.ndarray, control: SamplingControl, recent: RecentWindow | None = None) -> np.ndarray:
    """The probabilities ``pick`` draws from (float64, sums to 1): a one-hot at temperature 0."""
    shifted = _penalised(np.array(logits, dtype=np.float64), control, recent)
    if control.temperature <= 0.0:
        p = np.zeros(shifted.size)
        p[int(shifted.argmax())] = 1.0
        return p
    e = _filtered(shifted, control)
    return e / e.sum()


def pick(
    logits: np.ndarray, control: SamplingControl, rng: np.random.Generator, recent: RecentWindow | None = None
) -> tuple[int, float]:
    """Draw one id from float logits (V,) as ``control`` says (the filters in the order of this
    module's docstring); return it with the probability the model gave it (temperature 1, no
    filter). ``<unk>`` is never drawn (its logit is set to -inf in place)."""
    t = control.temperature
    if control.neutral_filters:  # the stream's usual case: temperature and top-k only
        logits[UNK_ID] = -np.inf
        top = logits.max()
        if not np.isfinite(top):
            raise _not_finite()
        shifted = logits - top
        e1 = np.exp(shifted)  # unnormalised probabilities at temperature 1
        if t <= 0.0:
            return (nxt := int(shifted.argmax())), float(e1[nxt] / e1.sum())
        e = e1 if t == 1.0 else np.exp(shifted / t)
        top_k = control.top_k
        if top_k and 0 < top_k < e.size:
            kth = np.partition(e, e.size - top_k)[e.size - top_k]
            e = np.where(e >= kth, e, 0.0)
    else:
        e1 = np.exp(logits - np.nanmax(logits))  # before the penalty: what the model said
        shifted = _penalised(logits, control, recent)
        e1[UNK_ID] = 0.0
        if t <= 0.0:
            return (nxt := int(shifted.argmax())), float(e1[nxt] / e1.sum())
        e = _filtered(shifted, control)
    cum = np.cumsum(e)
    nxt = int(np.searchsorted(cum, rng.random() * cum[-1], side="right"))
    if nxt >= e.size or e[nxt] == 0.0:  # rounding at the very top end of the cumulative sum
        nxt = int(np.flatnonzero(e)[-1])
    return nxt, float(e1[nxt] / e1.sum())


class StopMatcher:
    """Holds back generated characters that could be the start of a stop string. ``push(x)``
    returns the items now safe to show and whether a stop string just ended (then what it covered
    is dropped); ``flush()`` returns what is still held at the end of a stream."""

    def __init__(self, stops: tuple[str, ...] | list[str], text=lambda x: x.char):
        self.source = tuple(stops)
        self.stops = tuple(s for s in stops if s)
        self._text = text
        self._held: list = []
        self._held_text = ""

    def push(self, item) -> tuple[list, bool]:
        if not self.stops:
            return [item], False
        self._held.append(item)
        self._held_text += self._text(item)
        held = self._held_text
        for stop in self.stops:
            if held.endswith(stop):
                out = self._release(len(held) - len(stop))
                self._held, self._held_text = [], ""
                return out, True
        keep = 0  # the longest end of the held text that a stop string starts with
        for stop in self.stops:
            for n in range(min(len(held), len(stop) - 1), keep, -1):
                if held.endswith(stop[:n]):
                    keep = n
                    break
        return self._release(len(held) - keep), False

    def _release(self, n: int) -> list:
        out, self._held = self._held[:n], self._held[n:]
        self._held_text = self._held_text[n:]
        return out

    def flush(self) -> list:
        out, self._held, self._held_text = self._held, [], ""
        return out


def _warm_up(model: CharLM, vocab: Vocab, prompt: str) -> tuple[list[int], np.ndarray, object]:
    """The prompt's ids (as the model reads them), the logits after it (V,), and the state."""
    check_prompt(prompt)
    ids = start_ids(vocab, vocab.encode_prompt(prompt))
    device = model.head.weight.device
    state = None
    for i in range(0, len(ids), WARMUP_CHUNK):  # warm-up: one pass per chunk, state carried
        x = torch.tensor([ids[i : i + WARMUP_CHUNK]], dtype=torch.long, device=device)
        h, state = model.features(x, state)
    return ids, model.head(h[0, -1]).float().cpu().numpy(), state


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
    """Yield up to ``length`` sampled characters continuing ``prompt`` (fewer when a stop string
    ends the stream: the stop string itself is not yielded)."""
    control = control or SamplingControl()
    rng = np.random.default_rng(seed)  # seed None: fresh entropy
    with _evaluating(model):
        ids, last, state = _warm_up(model, vocab, prompt)
        recent = None  # made when the penalty is first switched on; kept up to date from then
        stops = StopMatcher(control.stop)
        stepper = None
        for _ in range(length):
            if stop_event is not None and stop_event.is_set():
                return
            if control.repetition_penalty > 1.0 and recent is None:
                recent = RecentWindow(vocab.size, control.repetition_window, ids)
            if recent is not None and recent.size != control.repetition_window:
                recent.resize(control.repetition_window)
            nxt, prob = pick(last, control, rng, recent)
            if control.stop or stops.stops:
                if stops.source != control.stop:  # changed while streaming: what is held shows now
                    yield from stops.flush()
                    stops = StopMatcher(control.stop)
                out, ended = stops.push(Sampled(vocab.itos(nxt), nxt, prob))
                yield from out
                if ended:
                    return
            else:
                yield Sampled(vocab.itos(nxt), nxt, prob)
            if recent is not None:
                recent.push(nxt)
            else:
                ids.append(nxt)  # only read when a penalty is switched on later: the window is short
                if len(ids) > 2 * REPETITION_WINDOW_MAX:
                    del ids[:-REPETITION_WINDOW_MAX]
            if stepper is None:  # made after the first character is out: it is not needed for it
                stepper = model.stepper()
                stepper.load(state)
            last = stepper.step(nxt)
        yield from stops.flush()


@dataclass(frozen=True)
class Candidate:
    """One continuation of best-of-N or beam search, with the model's verdict on it."""

    text: str
    logprob: float  # sum of the model's log-probabilities of its characters (nats, temperature 1)
    chars: int  # how many characters were scored (a stop string's included)
    stopped: bool = False  # ended at a stop string (which ``text`` leaves out)
    probs: tuple[float, ...] = ()  # the model's probability of each character of ``text`` (best-of)

    @property
    def mean_logprob(self) -> float:
        """Nats per character: the ranking score (0 is certain; -ln V is a uniform guess)."""
        return self.logprob / self.chars if self.chars else -math.inf

    @property
    def bits_per_char(self) -> float:
        return -self.mean_logprob / math.log(2)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Rows of log-probabilities, <unk> at -inf (in place on logits)."""
    logits[..., UNK_ID] = -np.inf
    top = logits.max(axis=-1, keepdims=True)
    if not np.all(np.isfinite(top)):
        raise _not_finite()
    z = logits - top
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _expand(state, n: int):
    return CharLM.map_state(state, lambda t: t.expand(-1, n, -1).contiguous())


@torch.inference_mode()
def best_of(
    model: CharLM,
    vocab: Vocab,
    prompt: str,
    n: int,
    length: int = 500,
    control: SamplingControl | None = None,
    seed: int | None = None,
    stop_event: threading.Event | None = None,
) -> list[Candidate]:
    """``n`` sampled continuations of ``prompt``, drawn side by side (one stepper at batch n, one
    warm-up), ranked by the model's mean log-probability per character, best first."""
    if not 1 <= n <= MAX_BEST_OF:
        raise GenerationError(f"best-of takes 1 to {MAX_BEST_OF} continuations, not {n}")
    control = control or SamplingControl()
    rng = np.random.default_rng(seed)
    with _evaluating(model):
        ids, last, state = _warm_up(model, vocab, prompt)
        logits = np.tile(last, (n, 1))
        stepper = model.stepper(n)
        stepper.load(_expand(state, n))
        penalty = control.repetition_penalty > 1.0
        recents = [RecentWindow(vocab.size, control.repetition_window, ids) if penalty else None for _ in range(n)]
        stops = [StopMatcher(control.stop, text=lambda x: x[0]) for _ in range(n)]
        texts: list[list[tuple[str, float]]] = [[] for _ in range(n)]
        logp, chars, stopped = np.zeros(n), np.zeros(n, dtype=np.int64), [False] * n
        tokens = np.zeros(n, dtype=np.int64)
        for _ in range(length):
            if stop_event is not None and stop_event.is_set() or all(stopped):
                break
            for b in range(n):
                if stopped[b]:
                    continue
                nxt, prob = pick(logits[b], control, rng, recents[b])
                tokens[b] = nxt
                logp[b] += math.log(max(prob, 1e-300))
                chars[b] += 1
                out, stopped[b] = stops[b].push((vocab.itos(nxt), prob))
                texts[b] += out
                recent = recents[b]
                if recent is not None:
                    recent.push(nxt)
            logits = stepper.step(tokens)
        for b in range(n):
            if not stopped[b]:
                texts[b] += stops[b].flush()
        found = [
            Candidate("".join(c for c, _ in t), float(logp[b]), int(chars[b]), stopped[b], tuple(p for _, p in t))
            for b, t in enumerate(texts)
        ]
        return sorted(found, key=lambda c: c.mean_logprob, reverse=True)


@torch.inference_mode()
def beam_search(
    model: CharLM,
    vocab: Vocab,
    prompt: str,
    width: int,
    length: int = 500,
    stop: tuple[str, ...] = (),
    stop_event: threading.Event | None = None,
) -> list[Candidate]:
    """Character-level beam search: keep the ``width`` continuations with the highest total
    log-probability, one character at a time, for ``length`` characters; return them best first.

    Length normalisation: every live beam has the same length, so the sum and the mean agree on
    them; a beam that ends at a stop string leaves the search early, and the final ranking of
    finished and live beams alike is by mean log-probability per character (Wu et al.'s length
    penalty with alpha = 1), so a short beam is not preferred for being short. The model's own
    probabilities are used (temperature 1, no sampling filter); <unk> is never chosen."""
    if not 1 <= width <= MAX_BEAM:
        raise GenerationError(f"the beam width must be 1 to {MAX_BEAM}, not {width}")
    with _evaluating(model):
        _, last, state = _warm_up(model, vocab, prompt)
        V = last.size
        w = min(width, V - 1)  # never more beams than drawable characters
        stepper = model.stepper(w)
        stepper.load(_expand(state, w))
        scores = np.full(w, -np.inf)
        scores[0] = 0.0  # all beams start as the same (empty) text: expand only one of them at first
        logits = np.tile(last, (w, 1))
        back: list[np.ndarray] = []  # per step: the beam each survivor came from
        chosen: list[np.ndarray] = []  # per step: the character each survivor added
        finished: list[Candidate] = []
        stop = tuple(s for s in stop if s)
        longest = max((len(s) for s in stop), default=0)

        def text_of(beam: int, steps: int, limit: int | None = None) -> str:
            out: list[int] = []
            for t in range(steps - 1, -1, -1):
                out.append(int(chosen[t][beam]))
                beam = int(back[t][beam])
                if limit is not None and len(out) >= limit:
                    break
            return vocab.decode(out[::-1])

        for step in range(length):
            if stop_event is not None and stop_event.is_set():
                break
            total = (scores[:, None] + _log_softmax(logits)).ravel()
            live = np.isfinite(total)
            k = min(w, int(live.sum()))
            if k == 0:
                break
            top = np.argpartition(-total, k - 1)[:k]
            top = top[np.argsort(-total[top], kind="stable")]
            rows, ids = top // V, top % V
            if k < w:  # fewer live candidates than beams: pad with dead copies
                rows = np.concatenate([rows, np.repeat(rows[:1], w - k)])
                ids = np.concatenate([ids, np.repeat(ids[:1], w - k)])
            new_scores = np.full(w, -np.inf)
            new_scores[:k] = total[top]
            back.append(rows)
            chosen.append(ids)
            scores = new_scores
            if longest:
                for b in range(k):
                    tail = text_of(b, step + 1, longest)
                    hit = next((s for s in stop if tail.endswith(s)), None)
                    if hit:
                        full = text_of(b, step + 1)
                        finished.append(Candidate(full[: len(full) - len(hit)], float(scores[b]), step + 1, True))
                        scores[b] = -np.inf
            stepper.reorder(rows)
            logits = stepper.step(ids)
        steps = len(back)
        alive = [Candidate(text_of(b, steps), float(scores[b]), steps) for b in range(w) if np.isfinite(scores[b])]
        return sorted(finished + alive, key=lambda c: c.mean_logprob, reverse=True)[:width]
