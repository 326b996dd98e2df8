"""The model: embedding -> recurrent layers -> linear to the vocabulary, its one-character stepper, sampling."""
