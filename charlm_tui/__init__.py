"""charlm-tui: train character-level language models with PyTorch in the terminal."""

__version__ = "0.1.0"
