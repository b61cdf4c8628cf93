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
ROBUST_DEFAULTS = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}
for _name, _value in {**TELEMETRY_OFF, **ROBUST_DEFAULTS}.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
