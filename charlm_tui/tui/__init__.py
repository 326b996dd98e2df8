"""The Textual app. Talks to charlm_tui.core only through its public functions and events, and
imports torch lazily (inside workers) so the first paint does not wait for it."""
