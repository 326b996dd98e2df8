"""The command line: ``main`` (the entry point), the parser, train/sample/eval, the run and corpus
store commands, and the remote ones (detach, watch, control, serve; browser mode's guard in ``web``)."""
