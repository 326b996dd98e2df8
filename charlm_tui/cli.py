"""The ``charlm-tui`` command: no arguments opens the TUI; subcommands do headless work."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from dataclasses import fields
from pathlib import Path

from charlm_tui import __version__
from charlm_tui.core.config import PRESETS, format_duration
from charlm_tui.core.errors import CharLMError
from charlm_tui.paths import data_home

PROG = "charlm-tui"


class Parser(argparse.ArgumentParser):
    """Bad arguments: one line on stderr, exit 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {v}")
    return v


def _seed(s: str) -> int:
    from charlm_tui.core.config import MAX_SEED

    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed is between 0 and {MAX_SEED}, got {v}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {v}")
    return v


def _temperature(s: str) -> float:
    v = _float(s)
    if not 0 <= v <= 5:
        raise argparse.ArgumentTypeError(f"a temperature is between 0 (greedy) and 5, got {s!r}")
    return v


def _port(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {s!r}") from None
    if not 1 <= v <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 1 and 65535, got {v}")
    return v


def _float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {s!r}")
    return v


def _add_home(p: argparse.ArgumentParser, top: bool = False) -> None:
    # subcommands suppress their default so a --home given before the subcommand survives
    p.add_argument(
        "--home",
        metavar="DIR",
        default=None if top else argparse.SUPPRESS,
        help="data dir (default: $CHARLM_TUI_HOME or the user data dir)",
    )


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Train character-level language models and play with them. "
        "With no arguments, opens the terminal app.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _add_home(parser, top=True)
    parser.add_argument("--no-mouse", action="store_true", help="TUI: do not capture the mouse")
    sub = parser.add_subparsers(dest="command", parser_class=Parser, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model (headless)")
    t.add_argument("corpus", nargs="?", help="built-in corpus name, file, folder, folder glob or URL")
    t.add_argument("--resume", metavar="RUN", help="continue a run from its last saved state")
    _add_home(t)
    t.add_argument(
        "--preset",
        choices=list(PRESETS),
        help="start from one of the app's presets (options given as well override it)",
    )
    m = t.add_argument_group("model")
    m.add_argument("--cell", choices=["lstm", "gru", "rnn"])
    m.add_argument("--embed-dim", type=_positive_int)
    m.add_argument("--hidden-size", type=_positive_int)
    m.add_argument("--num-layers", type=_positive_int)
    m.add_argument("--dropout", type=_float)
    o = t.add_argument_group("training")
    o.add_argument("--batch-size", type=_positive_int)
    o.add_argument("--num-steps", type=_positive_int, help="BPTT length")
    o.add_argument("--partition", choices=["sequential", "random"])
    o.add_argument("--lr", type=_float)
    o.add_argument("--clip", type=_float, help="gradient norm clipping threshold")
    o.add_argument(
        "--lr-schedule",
        choices=["plateau", "cosine"],
        help="plateau: constant LR, halved when val ppl plateaus; cosine: warmup, then cosine decay "
        "to the end of the budget (max seconds/steps/epochs), plateau cuts on top",
    )
    o.add_argument("--warmup-steps", type=_nonneg_int, metavar="N", help="cosine schedule: linear warmup over N steps")
    o.add_argument(
        "--eval-every", type=_positive_int, metavar="N", help="evaluate every N steps (and at least once per epoch)"
    )
    o.add_argument("--patience", type=_positive_int, help="evaluations without improvement before stopping")
    o.add_argument("--max-epochs", type=_positive_int)
    o.add_argument("--max-steps", type=_positive_int)
    o.add_argument("--max-seconds", type=_float)
    o.add_argument("--seed", type=_seed)
    o.add_argument("--val-fraction", type=_float)
    o.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    c = t.add_argument_group("corpus decoding")
    c.add_argument("--encoding", default="utf-8")
    c.add_argument("--normalize", choices=["NFC", "NFD", "NFKC", "NFKD"])
    c.add_argument("--lower", action="store_true", help="lower-case the text")
    t.add_argument("--json", action="store_true", help="one JSON object per evaluation, then a summary")
    t.add_argument(
        "--detach", action="store_true", help="train in a background process that outlives the terminal (SSH-safe)"
    )
    t.add_argument("--run-id", help=argparse.SUPPRESS)
    # what --resume named, resolved by the process that detached this one ("latest" once, not twice)
    t.add_argument("--resume-id", help=argparse.SUPPRESS)

    w = sub.add_parser("watch", help="print a run's evaluations as they happen (any terminal)")
    w.add_argument("run")
    w.add_argument("--json", action="store_true")
    _add_home(w)

    v = sub.add_parser("serve", help="serve the app in a web browser (textual-serve)")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=_port, default=8000)
    v.add_argument("--public", action="store_true", help="allow a non-loopback --host (no authentication!)")
    _add_home(v)

    s = sub.add_parser("sample", help="generate text from a run")
    s.add_argument("run", help="run id, unique prefix, or 'latest'")
    s.add_argument("--prompt", default="", help="text that warms up the model")
    s.add_argument("--length", type=_positive_int, default=500)
    s.add_argument("--temperature", type=_temperature, default=0.8, help="0 = greedy, up to 5")
    s.add_argument("--top-k", type=_nonneg_int, default=0, help="keep the K likeliest characters (0 = all)")
    s.add_argument("--seed", type=_seed)
    s.add_argument("--last", action="store_true", help="use the latest weights instead of the best")
    _add_home(s)

    e = sub.add_parser("eval", help="validation NLL, bits/char and perplexity of a run")
    e.add_argument("run")
    e.add_argument("--corpus", help="evaluate on this whole corpus instead of the run's validation split")
    e.add_argument("--last", action="store_true")
    e.add_argument("--json", action="store_true")
    _add_home(e)

    r = sub.add_parser("runs", help="list runs; show, compare, delete, rename or unlock them")
    r.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "show", "compare", "delete", "rename", "stop", "pause", "resume", "unlock"],
    )
    r.add_argument("run", nargs="?")
    r.add_argument("new_name", nargs="?")
    r.add_argument("more", nargs="*", help=argparse.SUPPRESS)  # compare: the third and fourth run
    r.add_argument("--json", action="store_true")
    r.add_argument(
        "--force",
        action="store_true",
        help="unlock: also break a lock held by a process on another machine (if it is gone)",
    )
    _add_home(r)

    k = sub.add_parser("corpora", help="list the corpus catalog, or add a corpus")
    k.add_argument("action", nargs="?", choices=["list", "add"], default="list")
    k.add_argument("source", nargs="?", help="for add: a file, folder (glob) or URL")
    k.add_argument("--name", help="for add: the corpus name (letters, digits, '.', '_', '-')")
    k.add_argument("--replace", action="store_true", help="for add: replace an existing corpus of that name")
    k.add_argument("--json", action="store_true")
    _add_home(k)
    return parser


# ---------------------------------------------------------------- train
def format_eval(ev) -> str:
    return (
        f"step {ev.step:>6}  epoch {ev.epoch:6.2f}  train {ev.train_loss or float('nan'):.4f}  "
        f"val nll {ev.val_nll:.4f} ppl {ev.val_ppl:.3f} bpc {ev.val_bpc:.3f}  lr {ev.lr:.2e}  "
        f"{(ev.chars_per_s or 0) / 1000:.1f}k chars/s  elapsed {format_duration(ev.elapsed)}"
    )


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
        from charlm_tui.core.runs import new_run_id
        from charlm_tui.remote import detach_train

        if not args.resume and not args.corpus:
            raise CharLMError("name a corpus to train on, or --resume RUN")
        rid = None if args.resume else new_run_id(Path(args.corpus.rstrip("/")).stem or "corpus")
        return detach_train(args.argv, home, rid, args.resume)
    from charlm_tui.core.config import ModelConfig, TrainConfig
    from charlm_tui.core.distributed import from_env, shutdown

    train_names = {f.name for f in fields(TrainConfig)}
    train_kw = _overrides(args, TrainConfig, train_names)
    model_kw = _overrides(args, ModelConfig, {"cell", "embed_dim", "hidden_size", "num_layers", "dropout"})
    if args.preset:
        if args.resume:
            raise CharLMError("--preset applies to a new run; a resumed run keeps its settings")
        pm, pt = PRESETS[args.preset]
        model_kw, train_kw = {**pm, **model_kw}, {**pt, **train_kw}
    dist = from_env(args.device or "auto")  # torchrun: join the process group; else a world of one
    try:
        rc = _train(args, home, dist, model_kw, train_kw)
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


def _train(args, home: Path, dist, model_kw: dict, train_kw: dict) -> int:
    from charlm_tui.core.corpus import TextOptions
    from charlm_tui.core.jobs import another_round, new_job, resume_job
    from charlm_tui.core.training import TrainConfig

    def callback(ev):
        if not dist.is_main:
            return
        if ev.kind == "eval":
            say(json.dumps({"event": "eval", **ev.to_json()}) if args.json else format_eval(ev))
        elif ev.kind in ("lr_reduced", "start", "paused", "resumed") and not args.json:
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
            extra, why = another_round(home, args.resume)
            train_kw = {**extra, **train_kw}
            if why and dist.is_main and not args.json:
                print(f"resuming: {why}", flush=True)
        job = resume_job(home, args.resume, train_kw, callback=callback, dist=dist)
    else:
        if not args.corpus:
            raise CharLMError("name a corpus to train on (e.g. 'charlm-tui train python-docs'), or --resume RUN")
        opts = TextOptions(args.encoding, args.normalize, args.lower)
        cfg = TrainConfig(**train_kw)
        job = new_job(home, args.corpus, model_kw, cfg, opts=opts, callback=callback, run_id=args.run_id, dist=dist)
    if not dist.is_main:
        job.start()
        return 0
    if not args.json:
        print(
            f"run {job.run.id}: corpus {job.corpus.name} ({job.corpus.stats.chars:,} chars, "
            f"vocab {job.corpus.vocab.size}) -> {job.run.path}",
            flush=True,
        )

    def on_signal(signum, _frame):
        name = {signal.SIGINT: "interrupt", signal.SIGTERM: "terminated"}.get(signum, "hangup")
        job.trainer.request_stop(name)

    handlers = {sig: signal.signal(sig, on_signal) for sig in _stop_signals()}
    try:
        final = job.start()
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
    summary = {
        "event": "summary",
        "run_id": job.run.id,
        "steps": final.step,
        "reason": final.reason,
        "best_val_nll": final.best_val_nll,
        "best_val_bpc": final.best_val_bpc,
        "best_val_ppl": final.best_val_ppl,
        "train_chars_per_s": final.chars_per_s,
        "elapsed": final.elapsed,
    }
    if args.json:
        say(json.dumps(summary))
    else:
        best = (
            f"best val ppl {final.best_val_ppl:.3f} ({final.best_val_bpc:.3f} bits/char)"
            if final.best_val_ppl
            else "no evaluation yet"
        )
        say(f"{final.message}. {best}. Sample it: {PROG} sample {job.run.id} --prompt 'The '")
    return 1 if final.reason == "nan" else 0


def say(line: str) -> None:
    """Print a line of training output. When whoever reads it goes away (``train ... | head -1``),
    the training goes on: the rest of the output is dropped, with one note on stderr."""
    try:
        print(line, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # later writes, and the flush at exit, go nowhere
        os.close(devnull)
        try:
            print(f"{PROG}: output closed; training goes on (follow it with '{PROG} watch')", file=sys.stderr)
        except OSError:
            pass


def _stop_signals():
    sigs = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        sigs.append(signal.SIGHUP)
    return sigs


# ---------------------------------------------------------------- sample / eval
def cmd_sample(args, home: Path) -> int:
    from charlm_tui.core.runs import open_run
    from charlm_tui.core.sampling import SamplingControl, check_prompt, generate

    check_prompt(args.prompt)
    model, vocab = open_run(home, args.run).load_model("last" if args.last else "best")
    enc = vocab.encode_prompt(args.prompt)
    if enc.unknown:
        chars = " ".join(repr(c) for c in enc.unknown)
        print(
            f"note: {enc.unknown_count} prompt character(s) the model never saw were replaced: {chars}", file=sys.stderr
        )
    control = SamplingControl(temperature=args.temperature, top_k=args.top_k or None)
    out = sys.stdout
    out.write(args.prompt)
    last_flush = time.monotonic()
    for s in generate(model, vocab, args.prompt, args.length, control, args.seed):
        out.write(s.char)
        if time.monotonic() - last_flush > 0.03:
            out.flush()
            last_flush = time.monotonic()
    out.write("\n")
    out.flush()
    return 0


def cmd_eval(args, home: Path) -> int:
    from charlm_tui.core.batching import split_train_val
    from charlm_tui.core.catalog import resolve
    from charlm_tui.core.corpus import remap_ids
    from charlm_tui.core.runs import open_run
    from charlm_tui.core.training import evaluate

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


def cmd_watch(args, home: Path) -> int:
    from charlm_tui.remote import watch

    return watch(home, args.run, args.json)


def cmd_serve(args, home: Path) -> int:
    from charlm_tui.remote import serve

    return serve(home, args.host, args.port, args.public)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    args.argv = [a for a in argv[argv.index(args.command) + 1 :]] if args.command else []
    home = data_home(args.home)
    from charlm_tui.cli_store import cmd_corpora, cmd_runs  # here: it imports PROG from this module

    commands = {
        "train": cmd_train,
        "sample": cmd_sample,
        "eval": cmd_eval,
        "runs": cmd_runs,
        "corpora": cmd_corpora,
        "watch": cmd_watch,
        "serve": cmd_serve,
    }
    try:
        if args.command is None:
            return run_tui(home, mouse=not args.no_mouse)
        return commands[args.command](args, home)
    except CharLMError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0
    except OSError as e:  # disk full, an unusable data dir, ...: say which file and why, no traceback
        print(f"{PROG}: error: {os_error_text(e, home)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if args.command == "watch":
            return 0
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


def os_error_text(e: OSError, home: Path) -> str:
    """An OSError as one sentence that says what to do about it."""
    import errno

    where = f": {e.filename}" if getattr(e, "filename", None) else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk is full{where}; free some space (the last saved checkpoints are intact)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied{where}; check the permissions of the data dir ({home})"
    if e.errno == errno.EROFS:
        return f"read-only file system{where}; point --home (or CHARLM_TUI_HOME) at a writable folder"
    return f"{e.strerror or e}{where}"


def run_tui(home: Path, mouse: bool = True) -> int:
    try:
        from charlm_tui.tui.app import run_app
    except ImportError:
        build_parser().print_help()
        return 0
    return run_app(home, mouse=mouse)
