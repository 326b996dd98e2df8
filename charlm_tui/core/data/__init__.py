"""Corpora: reading text, the built-in and user catalog, downloads, the vocabulary, batches."""
