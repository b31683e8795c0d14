"""PinScope trainer: ViT/CNN training, SOART3 features, evaluation and attention maps."""

__version__ = "0.1.0"
