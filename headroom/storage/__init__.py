"""Storage: the ports (``base``) and one module per backend."""
