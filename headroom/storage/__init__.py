"""Storage: the ports (``base``) and one package per backend (``sqlite``, and its siblings)."""
