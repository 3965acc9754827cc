"""telecom serving surface: request record from the data contract; predicts is_ultra.

Served by ``python -m runner.serving.launch`` (MLGITOPS_PROJECT_DIR=projects/telecom).
"""

from __future__ import annotations

from runner.serving.records import from_schema

from .contract import CONTRACT

SERVICE = from_schema(CONTRACT)
