"""Working with runs from other terminals: detached training, watch, control, browser mode."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from charlm_tui.cli.output import format_eval
from charlm_tui.core.errors import CharLMError, RunError
from charlm_tui.core.lifecycle import TERMINAL_STATUSES


def detach_train(argv: list[str], home: Path, run_id: str | None, resume: str | None, wait_s: float = 120.0) -> int:
    """Start `charlm-tui train` in its own session (an SSH hang-up does not reach it)."""
    from charlm_tui.core.names import child
    from charlm_tui.core.store.run import Run
    from charlm_tui.core.store.run_store import open_run
    from charlm_tui.paths import runs_dir

    args = [a for a in argv if a != "--detach"]
    if resume:
        run_dir = open_run(home, resume).path  # "latest" or a prefix means this run, resolved here once
        args += ["--resume-id", run_dir.name]
    else:
        if run_id is None:
            raise CharLMError("a detached run needs its id")
        run_dir = child(runs_dir(home), run_id, "run")
        run_dir.mkdir(parents=True, exist_ok=True)
        args += ["--run-id", run_id]
    log_path = run_dir / "train.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "charlm_tui", "--home", str(home), "train", *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            cwd=os.getcwd(),
        )
    rid = run_dir.name
    if not resume:
        # the new run is held for its trainer while that starts (it takes this lock as its own):
        # listed as starting, not damaged, and refused to a delete or a rename
        Run(run_dir).acquire_lock(pid=proc.pid)
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        code = proc.poll()
        status = Run(run_dir).status()
        if status.get("status") == "running" and status.get("pid") == proc.pid:
            print(f"run {rid} is training in the background (pid {proc.pid}); log: {log_path}")
            print(
                f"  watch it:  charlm-tui watch {rid}\n  stop it:   charlm-tui runs stop {rid}\n"
                f"  or open charlm-tui and press 5 (Runs)"
            )
            return 0
        if code is not None:
            last = [ln for ln in log_path.read_text("utf-8", "replace").splitlines() if ln.strip()][-1:]
            if not resume and not Run(run_dir).has_config():
                shutil.rmtree(run_dir, ignore_errors=True)  # the trainer never made a run: leave no husk
            raise CharLMError(
                last[0].removeprefix("charlm-tui: error: ")
                if last
                else f"the background trainer exited with status {code}"
            )
        time.sleep(0.2)
    print(f"run {rid}: the background trainer (pid {proc.pid}) is still starting; see {log_path}")
    return 0


def watch(home: Path, run_id: str, as_json: bool = False, poll_s: float = 0.5, out=None) -> int:
    """Print each evaluation of a run as it is written, until the run ends."""
    from charlm_tui.core.config import TrainEvent
    from charlm_tui.core.store.run_store import open_run, run_info

    out = out or sys.stdout  # read when called: whoever captures stdout then gets the lines
    run = open_run(home, run_id)
    offset, last_state = 0, None
    while True:
        records, offset = run.new_metrics(offset)
        for m in records:
            if m.get("val_nll") is None:
                continue
            if as_json:
                print(json.dumps({"event": "eval", **m}), file=out, flush=True)
            else:
                ev = TrainEvent.from_metrics(m)
                patience = f"  patience left {ev.patience_left}" if ev.patience_left is not None else ""
                print(format_eval(ev) + patience, file=out, flush=True)
                if ev.lr_cut_from is not None and ev.lr is not None:
                    print(f"val ppl plateaued: LR cut {ev.lr_cut_from:.3g} -> {ev.lr:.3g}", file=out, flush=True)
        info = run_info(run)
        state = (info.status, info.reason)
        if state != last_state:
            msg = {"event": "status", "status": info.status, "reason": info.reason, "steps": info.steps}
            print(
                json.dumps(msg) if as_json else f"[{info.status}{' (' + info.reason + ')' if info.reason else ''}]",
                file=out,
                flush=True,
            )
            last_state = state
        if info.status in TERMINAL_STATUSES:
            return 0
        time.sleep(poll_s)


def control(home: Path, run_id: str, command: str, wait_s: float = 30.0) -> str:
    """Send pause/resume/stop to the process training a run; return its status once it obeyed."""
    from charlm_tui.core.store.run_store import open_run, run_info

    run = open_run(home, run_id)
    if run.lock_holder() is None:
        raise RunError(f"run {run.id} is not training (status: {run_info(run).status_text})")
    run.send_control(command)
    want = {"pause": ("paused",), "resume": ("running",), "stop": ("stopped", "finished", "failed")}[command]
    end = time.monotonic() + wait_s
    while time.monotonic() < end:
        st = run.status().get("status")
        if st in want:
            return st
        time.sleep(0.1)
    raise RunError(f"run {run.id} did not answer '{command}' within {wait_s:.0f} s; is its process stuck?")


def serve(home: Path, host: str, port: int, public: bool) -> int:
    """Serve the app to a browser with textual-serve; loopback only unless --public."""
    from charlm_tui.cli.web import is_loopback

    loopback = is_loopback(host)
    if not loopback and not public:
        raise CharLMError(
            f"refusing to serve on {host}: anyone who can reach it could try to drive the app; "
            "use the default 127.0.0.1 with 'ssh -L', or add --public if you mean it"
        )
    if not loopback:
        print(
            f"warning: serving charlm-tui on {host}:{port} over plain http: the token in the URL is all "
            "that guards it, and it travels unencrypted",
            file=sys.stderr,
        )
    try:
        import textual_serve  # noqa: F401
    except ImportError:
        raise CharLMError("browser mode needs textual-serve: pip install textual-serve") from None
    from charlm_tui.cli.web import make_server

    server, _guard = make_server(home.absolute(), host, port)
    try:
        server.serve()
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
            raise CharLMError(
                f"cannot serve on {host}:{port}: {e.strerror}; pick another --port (or stop what uses it)"
            ) from None
        raise
    return 0


def cmd_watch(args, home: Path) -> int:
    return watch(home, args.run, args.json)


def cmd_serve(args, home: Path) -> int:
    return serve(home, args.host, args.port, args.public)
