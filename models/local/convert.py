"""A GGUF causal LM as a plain Hugging Face folder (config, safetensors, tokenizer), which reloads in under a second.

transformers reads GGUF (`from_pretrained(dir, gguf_file=...)`, dequantizing every tensor to float), but marks
such a model quantized and refuses `save_pretrained`; so the class is rebuilt from the config without its
`quantization_config`, the dequantized state dict loaded into it, and that saved. The weights are the GGUF's
dequantized values (for a Q4_1 file, not the original bf16 checkpoint).
"""

from __future__ import annotations

from pathlib import Path


def gguf_to_hf(gguf: Path, folder: Path) -> None:
    """Write the model and tokenizer of the GGUF file `gguf` into `folder` as a Hugging Face folder."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.generation_config = loaded.generation_config
    plain.save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(folder)
