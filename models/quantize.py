"""int8 dynamic quantisation of a sentence encoder's Linear layers, for faster scoring on the CPU.

Weights are stored as int8 with one scale per tensor; activations are quantised on the fly, batch by batch
(Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only
Inference", CVPR; applied to BERT by Zafrir et al. 2019, "Q8BERT: Quantized 8Bit BERT", arXiv:1910.06188).
Embeddings, LayerNorm and attention stay fp32. Uses `torch.ao.quantization.quantize_dynamic` (CPU kernels only).
"""

from __future__ import annotations

import warnings

import torch
from sentence_transformers import SentenceTransformer


def quantize_int8(model: SentenceTransformer) -> SentenceTransformer:
    """`model` on the CPU with every `nn.Linear` replaced by its dynamically quantised int8 version (in place)."""
    with warnings.catch_warnings():  # torch marks torch.ao.quantization deprecated in favour of torchao
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model.cpu(), {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
