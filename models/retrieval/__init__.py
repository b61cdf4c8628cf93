"""Retrieval shared by every user: the `Retriever` interface (base.py), exact dense search with faiss (dense.py),
the rank of each query's correct item under any retriever (ranks.py) and the ranking metrics (metrics.py).
A lexical or sparse retriever (BM25, SPLADE) plugs in by implementing `Retriever`."""
