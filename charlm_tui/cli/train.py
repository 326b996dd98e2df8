"""train, sample and eval: the commands that build, continue and use a model."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path

from charlm_tui import formatting
from charlm_tui.cli.output import format_eval, say
from charlm_tui.cli.parser import PROG
from charlm_tui.core.config import DEFAULT_PRESET, FIT_PRESET, FIXED_DEFAULT, PRESETS
from charlm_tui.core.errors import CharLMError


def _overrides(args, cls, names) -> dict:
    out = {}
    for f in fields(cls):
        if f.name in names and getattr(args, f.name, None) is not None:
            out[f.name] = getattr(args, f.name)
    return out


def cmd_train(args, home: Path) -> int:
    if args.resume_id:
        args.resume = args.resume_id
    if args.detach:
        from charlm_tui.cli.remote import detach_train
        from charlm_tui.core.store.run_store import new_run_id

        if not args.resume and not args.corpus:
            raise CharLMError("name a corpus to train on, or --resume RUN")
        rid = None if args.resume else new_run_id(Path(args.corpus.rstrip("/")).stem or "corpus")
        return detach_train(args.argv, home, rid, args.resume)
    from charlm_tui.core.config import REGULARISERS, SHAPE, ModelConfig, TrainConfig
    from charlm_tui.core.distributed import from_env, shutdown

    train_names = {f.name for f in fields(TrainConfig)}
    train_kw = _overrides(args, TrainConfig, train_names)
    model_kw = _overrides(args, ModelConfig, {*SHAPE, *REGULARISERS})
    explicit_model_kw = dict(model_kw)
    if train_kw.get("tensorboard"):  # --log-to tensorboard (a list of what was asked for)
        train_kw["tensorboard"] = True
    if args.preset and args.resume:
        raise CharLMError("--preset applies to a new run; a resumed run keeps its settings")
    if args.budget is not None:
        if "max_seconds" in train_kw:
            raise CharLMError("give either --budget or --max-seconds, not both")
        train_kw["max_seconds"] = args.budget
    fit = False
    if not args.resume:  # a new run starts from a preset: the one named, else the app's default
        preset = args.preset or DEFAULT_PRESET
        if preset == FIT_PRESET and args.init_from:
            if args.preset:
                raise CharLMError("a fine-tuned run keeps its parent's shape: --preset fit does not apply to it")
            preset = FIXED_DEFAULT
        fit = preset == FIT_PRESET  # sized once the corpus is read (_train)
        if not fit:
            pm, pt = PRESETS[preset]
            model_kw, train_kw = {**pm, **model_kw}, {**pt, **train_kw}
    if args.init_from:
        if args.resume:
            raise CharLMError("--init-from starts a new run from another run's weights; --resume continues a run")
        model_kw = explicit_model_kw  # the parent's shape applies, not a preset's (options that change it are refused)
    elif args.last:
        raise CharLMError("--last goes with --init-from RUN (fine-tune from RUN's latest weights)")
    dist = from_env(args.device or "auto")  # torchrun: join the process group; else a world of one
    try:
        rc = _train(args, home, dist, model_kw, train_kw, fit)
    except BaseException:
        shutdown(dist, finished=False)
        raise
    shutdown(dist)
    if dist.enabled:
        # Leave without the interpreter's teardown. Under load CI saw a rank that had finished,
        # passed the final barrier and left the group abort in teardown ("terminate called without
        # an active exception", SIGABRT: a C++ thread of the distributed backend destroyed while still
        # joinable), failing a run whose work was all done and saved.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    return rc


def _fitted(args, home: Path, dist, corpus, model_kw: dict, train_kw: dict):
    """The model and training settings fitted to the budget (max seconds, five minutes when none is
    given), this corpus and this machine (core.training.fit), with the options given on top; the
    choice's record for config.json, and the precision its measurement settled."""
    from charlm_tui.core.config import SHAPE, TrainConfig
    from charlm_tui.core.sizing import DEFAULT_BUDGET_S, given_instead, given_text
    from charlm_tui.core.training.fit import fit_to_budget, precision_of
    from charlm_tui.core.training.jobs import device_for

    base = TrainConfig(**{k: v for k, v in train_kw.items() if k in ("device", "precision", "val_fraction")})
    budget = train_kw.get("max_seconds") or DEFAULT_BUDGET_S
    device = device_for(base, dist)
    train_chars, val_chars = corpus.split_sizes(base.val_fraction)
    if dist.is_main and not args.json:
        say(f"fit to budget: sizing the model for {formatting.duration(budget)} of training here...")
    choice = fit_to_budget(
        budget, corpus.vocab.size, train_chars, base.precision, device, home, dist=dist, val_chars=val_chars
    )
    fitted_model, fitted_train = choice.model_kw(), choice.train_kw()
    prec = None
    same_shape = all(model_kw.get(k, v) == v for k, v in fitted_model.items() if k in SHAPE)
    if same_shape and all(train_kw.get(k, fitted_train[k]) == fitted_train[k] for k in ("batch_size", "num_steps")):
        prec = precision_of(choice, base.precision, device)
    record, given = choice.record(), given_instead(choice, model_kw, train_kw)
    if given:
        record["given"] = given_text(given)
    if dist.is_main and not args.json:
        say(f"fit to budget: {choice.reason()}")
        if given:
            say(f"fit to budget: {record['given']}")
    return {**fitted_model, **model_kw}, {**fitted_train, **train_kw}, record, prec


def _train(args, home: Path, dist, model_kw: dict, train_kw: dict, fit: bool = False) -> int:
    from charlm_tui.core.data.corpus import TextOptions
    from charlm_tui.core.training.jobs import another_round, new_job, resume_job
    from charlm_tui.core.training.trainer import TrainConfig

    started: list = []  # the job, once built: each evaluation's sample comes from its model

    def callback(ev):
        if not dist.is_main:
            return
        if ev.kind == "eval":
            say(json.dumps({"event": "eval", **ev.to_json()}) if args.json else format_eval(ev))
            if not (args.json or args.quiet) and started:
                say("  sample: " + eval_sample(started[0], ev.step))
        elif ev.kind in ("lr_reduced", "start", "paused", "resumed", "evaluating") and not args.json:
            say(ev.message)

    if args.resume:
        if args.corpus:
            raise CharLMError("give either a corpus or --resume RUN, not both")
        if model_kw:
            raise CharLMError(
                "the model of a resumed run cannot change; drop "
                + ", ".join("--" + k.replace("_", "-") for k in model_kw)
            )
        if not any(k in train_kw for k in ("max_seconds", "max_steps", "max_epochs", "patience")):
            # limits are totals: a run that ended at one gets another round of it, as in the app
            rnd = another_round(home, args.resume)
            if rnd is not None:
                train_kw = {**rnd.overrides, **train_kw}
                if dist.is_main and not args.json:
                    say(f"resuming: {formatting.another_round(rnd)}")
        job = resume_job(home, args.resume, train_kw, callback=callback, dist=dist)
    else:
        if not args.corpus:
            raise CharLMError("name a corpus to train on (e.g. 'charlm-tui train python-docs'), or --resume RUN")
        opts = TextOptions(args.encoding, args.normalize, args.lower)
        corpus, sizing, prec = None, None, None
        if fit:
            from charlm_tui.core.data.catalog import resolve

            corpus = resolve(args.corpus, home, opts)
            model_kw, train_kw, sizing, prec = _fitted(args, home, dist, corpus, model_kw, train_kw)
        cfg = TrainConfig(**train_kw)
        parent = None
        if args.init_from:
            from charlm_tui.core.training.finetune import load_parent

            parent = load_parent(home, args.init_from, "last" if args.last else "best")
            if parent.note and dist.is_main:
                print(f"note: {parent.note}", file=sys.stderr, flush=True)
        job = new_job(
            home,
            args.corpus,
            model_kw,
            cfg,
            opts=opts,
            corpus=corpus,
            callback=callback,
            run_id=args.run_id,
            dist=dist,
            parent=parent,
            sizing=sizing,
            precision=prec,
        )
        if parent is not None and dist.is_main and not args.json:
            print(
                f"fine-tuning {parent.run_id} ({parent.weights} weights, {parent.shape_text()}): vocabulary "
                f"{parent.vocab.size} -> {job.corpus.vocab.size}",
                flush=True,
            )
    started.append(job)
    if not dist.is_main:
        job.start()
        return 0
    run = job.run
    assert run is not None  # rank 0 (or the only process) writes the run
    if not args.json:
        say(
            f"run {run.id}: corpus {job.corpus.name} ({job.corpus.stats.chars:,} chars, "
            f"vocab {job.corpus.vocab.size}) -> {run.path}"
        )
        if job.trainer.cfg.tensorboard:
            say(f"TensorBoard: tensorboard --logdir {run.path / 'tensorboard'}")

    signalled: list[int] = []

    def on_signal(signum, _frame):
        name = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminated"}.get(signum, "hangup")
        signalled.append(signum)
        job.trainer.request_stop(name)

    handlers = {sig: signal.signal(sig, on_signal) for sig in _stop_signals()}
    try:
        final = job.start()
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
    summary = {
        "event": "summary",
        "run_id": run.id,
        "steps": final.step,
        "reason": final.reason,
        "best_val_nll": final.best_val_nll,
        "best_val_bpc": final.best_val_bpc,
        "best_val_ppl": final.best_val_ppl,
        "train_chars_per_s": final.chars_per_s,
        "elapsed": final.elapsed,
        "precision": job.trainer.precision.to_json(),
    }
    if args.json:
        say(json.dumps(summary))
    else:
        best = (
            f"best val ppl {formatting.number(final.best_val_ppl, '.3f')} ({formatting.number(final.best_val_bpc, '.3f')} bits/char)"
            if final.best_val_ppl
            else "no evaluation yet"
        )
        say(f"{final.message}. {best}. Sample it: {PROG} sample {run.id} --prompt 'The '")
    if final.reason == "nan":
        return 1
    # stopped by a signal (its state saved): the shell's 128 + N, so that `train ... && next` and a
    # job scheduler see an interrupted run, not a finished one
    return 128 + signalled[0] if signalled and final.reason in ("interrupt", "terminated", "hangup") else 0


SAMPLE_CHARS = 100  # what `train` shows of the model at each evaluation (char-rnn's habit)


def eval_sample(job, step: int) -> str:
    """A short sample of the model as it is now, on one line (newlines shown as ⏎), seeded by the
    step so a rerun shows the same text."""
    from charlm_tui.core.model.sampling import SamplingControl, generate

    text = "".join(
        s.char for s in generate(job.trainer.model, job.corpus.vocab, "", SAMPLE_CHARS, SamplingControl(), seed=step)
    )
    return formatting.printable(text.replace("\n", "⏎"))


def _stop_signals():
    sigs = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        sigs.append(signal.SIGHUP)
    return sigs


def cmd_sample(args, home: Path) -> int:
    from charlm_tui.core.config import new_seed
    from charlm_tui.core.model.sampling import SamplingControl, beam_search, best_of, check_prompt, generate
    from charlm_tui.core.store.run_store import open_run

    if args.prompt_file is not None:
        args.prompt = read_prompt_file(args.prompt_file)
    check_prompt(args.prompt)
    model, vocab = open_run(home, args.run).load_model("last" if args.last else "best")
    enc = vocab.encode_prompt(args.prompt)
    if enc.unknown:
        chars = " ".join(repr(c) for c in enc.unknown)
        print(
            f"note: {enc.unknown_count} prompt character(s) the model never saw were replaced: {chars}", file=sys.stderr
        )
    given = _overrides(args, SamplingControl, {f.name for f in fields(SamplingControl)} - {"stop"})
    control = SamplingControl(**given, stop=tuple(args.stop))
    out = sys.stdout
    # to a terminal, what would act on it (an ESC the model learned from its corpus) shows as a
    # stand-in; to a file or a pipe the text goes as generated
    shown = formatting.printable if out.isatty() else str
    if args.beam:
        found = beam_search(model, vocab, args.prompt, args.beam, args.length, control.stop)
        best = found[0]
        print(f"beam {args.beam}: {_score(best)}", file=sys.stderr)
        out.write(shown(args.prompt + best.text) + "\n")
        return 0
    seed = args.seed if args.seed is not None else new_seed()
    if args.seed is None and control.temperature > 0:  # greedy text is the same whatever the seed
        print(f"seed {seed} (the same text again: --seed {seed})", file=sys.stderr)
    if args.best_of:
        found = best_of(model, vocab, args.prompt, args.best_of, args.length, control, seed)
        for rank, c in enumerate(found, 1):
            ended = ", ended at a stop string" if c.stopped else ""
            out.write(f"--- {rank} of {len(found)}: {_score(c)}{ended}\n{shown(args.prompt + c.text)}\n")
        return 0
    out.write(shown(args.prompt))
    last_flush = time.monotonic()
    for s in generate(model, vocab, args.prompt, args.length, control, seed):
        out.write(shown(s.char))
        if time.monotonic() - last_flush > 0.03:
            out.flush()
            last_flush = time.monotonic()
    out.write("\n")
    out.flush()
    return 0


def read_prompt_file(name: str) -> str:
    """The prompt in a file, or standard input for '-': UTF-8, at most what a prompt may be (read no
    further, so a huge file or a device is not read whole)."""
    from charlm_tui.core.bounded_read import read_bounded
    from charlm_tui.core.model.sampling import MAX_PROMPT_CHARS

    limit = 4 * MAX_PROMPT_CHARS + 4  # UTF-8 bytes of the longest prompt, and one more character
    if name == "-":
        raw = sys.stdin.buffer.read(limit + 1)
    else:
        try:
            raw = read_bounded(name, 1 << 62, length=limit + 1)  # any regular file; only its start is read
        except FileNotFoundError:
            raise CharLMError(f"{name}: no such prompt file") from None
        except OSError as e:
            raise CharLMError(f"{name}: cannot read the prompt file ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        if len(raw) > limit and e.start >= len(raw) - 4:  # cut inside a character at the read limit
            text = raw[: e.start].decode("utf-8")
        else:
            raise CharLMError(f"{name}: the prompt file is not UTF-8 text (byte {e.start})") from None
    return text


def _score(c) -> str:
    return f"mean log-prob {c.mean_logprob:.3f} nats/char ({c.bits_per_char:.3f} bits/char) over {c.chars:,} chars"


def cmd_eval(args, home: Path) -> int:
    from charlm_tui.core.data.batching import split_train_val
    from charlm_tui.core.data.catalog import resolve
    from charlm_tui.core.data.corpus import remap_ids
    from charlm_tui.core.store.run_store import open_run
    from charlm_tui.core.training.trainer import evaluate

    run = open_run(home, args.run)
    model, vocab = run.load_model("last" if args.last else "best")
    cfg = run.train_config()
    if args.corpus:
        corpus = resolve(args.corpus, home)
        data, what = remap_ids(corpus.ids, corpus.vocab, vocab), f"all of {corpus.name}"
    else:
        spec, opts = run.corpus_source()
        corpus = resolve(spec, home, opts)
        data = remap_ids(split_train_val(corpus.ids, cfg.val_fraction)[1], corpus.vocab, vocab)
        what = f"validation split of {corpus.name}"
    res = evaluate(model, data, cfg.batch_size, cfg.num_steps)
    out = {
        "run_id": run.id,
        "weights": "last" if args.last else "best",
        "data": what,
        "chars": res.tokens,
        "nll": res.nll,
        "bpc": res.bpc,
        "ppl": res.ppl,
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"{run.id} ({out['weights']} weights) on {what}: {res.tokens:,} chars  "
            f"nll {res.nll:.4f}  bits/char {res.bpc:.4f}  perplexity {res.ppl:.3f}"
        )
    return 0
