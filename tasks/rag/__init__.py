"""Prefect tasks of EasyRAG (paper 2, `embedlab rag`): run.py builds/opens the index and answers a question,
evaluate.py scores retrieval and reranking on BEIR-format data and trains the layer-wise reranker."""
