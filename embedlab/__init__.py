"""embedlab: reproducible, comparable and fast text-embedding and retrieval methods.

Importing the package turns the telemetry of Prefect, MLflow, DVC and Hugging Face off unless the
user has set those variables explicitly: nothing calls out by default.
"""

import os

TELEMETRY_OFF = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
for _name, _value in TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"
