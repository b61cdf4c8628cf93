"""embedlab: reproducible, comparable and fast text-embedding and retrieval methods.

Importing the package turns the telemetry of Prefect, MLflow, DVC and Hugging Face off unless the
user has set those variables explicitly: nothing calls out by default. It must be imported before
prefect (the CLI and every module of the package are), since Prefect reads its settings on import.
"""

import os

TELEMETRY_OFF = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
# Prefect's ephemeral API server gets 20 s to start by default: too little on a busy 2-core machine.
# MLflow retries an unreachable server for about 4 minutes by default; here 2 retries (1 s, 2 s apart), 20 s each.
ROBUST_DEFAULTS = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                   "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
for _name, _value in {**TELEMETRY_OFF, **ROBUST_DEFAULTS}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
