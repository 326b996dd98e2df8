"""The app's generation actions: stream a continuation in a worker, batched every GEN_FLUSH_S."""

from __future__ import annotations

import threading
from pathlib import Path

from textual import work

from charlm_tui.core.errors import CharLMError
from charlm_tui.tui.messages import Generated

GEN_FLUSH_S = 0.04  # generated characters are posted in batches this often
# Stream speeds in chars/s (0: as fast as the model goes). A paced stream reads as typing and
# leaves time to steer it: the model itself makes thousands of characters a second.
PACES = (25, 50, 100, 200, 400, 800, 1600, 0)
DEFAULT_PACE = 400


class GenerationActions:
    """Mixed into CharLMApp; state lives on the app (control, gen_*, streaming, _models)."""

    def start_generation(self, prompt: str) -> bool:
        if self.gen_run_id is None:
            self.notify("No run to sample from yet: train one first.", severity="warning")
            return False
        self.stop_generation()
        self._stream_id += 1
        self._gen_stop = threading.Event()
        self.streaming = True
        self._gen_worker(self._stream_id, self.gen_run_id, self.gen_weights, prompt, self.gen_length, self._gen_stop)
        return True

    def save_sample(self, text: str) -> Path | None:
        """Write the transcript into the selected run's samples/ folder; say where, or why not."""
        from charlm_tui.core.store.run_store import open_run

        if not text.strip():
            self.notify("Nothing to save yet: generate some text first.", severity="warning")
            return None
        if self.gen_run_id is None:
            self.notify("No run selected to save the text with.", severity="warning")
            return None
        try:
            path = open_run(self.home, self.gen_run_id).save_sample(text)
        except (CharLMError, OSError) as e:
            self.notify(f"Could not save the text: {e}", severity="error", timeout=10)
            return None
        self.notify(f"Saved {len(text):,} characters to {path}", title="Generate", timeout=8)
        return path

    def stop_generation(self) -> None:
        self._gen_stop.set()

    def _load_for_generation(self, run_id: str, which: str):
        from charlm_tui.core.store.run_store import open_run

        run = open_run(self.home, run_id)
        if which == "best" and not run.has_weights("best") and run.has_weights("last"):
            # stopped before its first evaluation: the last weights are all there is (the w key
            # cannot reach the screen while the prompt box has the focus)
            which = "last"
            self.call_from_thread(
                self.notify, f"{run_id} has no evaluated weights yet: sampling from its last weights.", title="Generate"
            )
        key = (run_id, which, run.weights_version(which))
        if key not in self._models:
            self._models = {key: run.load_model(which)}  # keep one model in memory
        return self._models[key]

    @work(thread=True, exclusive=True, group="generate", exit_on_error=False)
    def _gen_worker(
        self, stream_id: int, run_id: str, which: str, prompt: str, length: int, stop: threading.Event
    ) -> None:
        from charlm_tui.core.model.sampling import check_prompt, generate

        try:
            check_prompt(prompt)
            model, vocab = self._load_for_generation(run_id, which)
        except CharLMError as e:
            self.post_message(Generated(stream_id, [], done=True))
            self.call_from_thread(self.notify, str(e), severity="error", title="Generate", timeout=10)
            return
        enc = vocab.encode_prompt(prompt)
        self.call_from_thread(self._stream_started, stream_id, prompt, set(enc.unknown), enc.unknown_count)
        buf: list = []
        last = due = self.clock()
        try:
            for s in generate(model, vocab, prompt, length, self.control, stop_event=stop):
                buf.append((s.char, s.prob))
                now = self.clock()
                if now - last >= GEN_FLUSH_S:
                    self.post_message(Generated(stream_id, buf))
                    buf, last = [], now
                pace = self.gen_pace  # read every character: a change applies at once
                if pace:
                    due = max(due + 1.0 / pace, now - 0.1)  # after a stall, resume the pace, do not burst
                    if due > now and stop.wait(due - now):
                        break
        except CharLMError as e:
            self.call_from_thread(self.notify, str(e), severity="error", title="Generate")
        finally:
            self.post_message(Generated(stream_id, buf, done=True))

    def _stream_started(self, stream_id: int, prompt: str, unknown: set, count: int) -> None:
        if stream_id != self._stream_id:
            return
        screen = self.get_screen("generate")
        screen.stream_started(prompt, unknown)
        if count:
            chars = " ".join(repr(c) for c in sorted(unknown))
            self.notify(f"{count} prompt character(s) the model never saw were replaced: {chars}", severity="warning")

    def on_generated(self, msg: Generated) -> None:
        if msg.stream_id != self._stream_id:
            return
        screen = self.get_screen("generate")
        if msg.chars and screen.is_mounted:
            screen.stream_chars(msg.chars)
        if msg.done:
            self.streaming = False
            if screen.is_mounted:
                screen.stream_ended("stopped" if self._gen_stop.is_set() else None)
