"""Prefect tasks of `embedlab generate`: backend.py (LLM back-end, cached replies, outputs), sentences.py (ICL
hierarchical sentences, paper 9), triplets.py (MLLM triplets, paper 6)."""
