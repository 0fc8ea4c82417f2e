"""广圆享 policy assistant: a knowledge base of Chinese policy documents with hybrid search."""

__version__ = "0.1.0"
