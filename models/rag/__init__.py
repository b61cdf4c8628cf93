"""EasyRAG (paper 2, arXiv 2410.10315): ingestion with token-counted chunks, dual-route BM25 (bm25s), fusion,
a layer-wise cross-encoder reranker with per-query early exit, BM25-Extract compression, answer prompts and the
keyword scorer. Pure Python/torch: nothing here reads params.yaml or talks to Prefect or MLflow."""
