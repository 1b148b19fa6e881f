"""Embedders: the port (``base``), the model table, and one module per backend."""
