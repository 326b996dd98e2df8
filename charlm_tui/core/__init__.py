"""The learning engine: corpora, batching, model, training, sampling, runs.

It never imports textual, rich or charlm_tui.tui, so it runs headless (CLI, tests, servers).
"""
