"""Pure torch / transformers / sentence-transformers code: no Prefect, no MLflow, no params.yaml."""
