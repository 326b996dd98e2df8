"""The app's state, each part in an object that owns it: the corpus picker, the training
controller (with the live run the Train screen shows), the generation controller (with its
settings) and the run library. Screens read them through a typed ``self.app`` and are told of
changes by message (tui/messages.py); workers run in threads and talk back by message too."""
