"""Errors a user can act on. The CLI prints them as one line; the TUI as a notification."""


class CharLMError(Exception):
    """A failure caused by input or environment, with a message that says what to do."""


class CorpusError(CharLMError):
    pass


class ConfigError(CharLMError):
    pass


class CheckpointError(CharLMError):
    pass


class RunError(CharLMError):
    pass


class GenerationError(CharLMError):
    pass
