"""Prefect tasks of `embedlab tokens` (paper 5): common.py (the token model, texts, decoding, alignment, outputs),
sparse.py (sparse retrieval against dense search), spectrum.py (the spectral analysis), report.py (tables, plots)."""
