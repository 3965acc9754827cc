"""Maintenance and freeze windows of the platform spec: when they open, whether one is
open now (``windows``), and the gates that consult them before a change (``gates``)."""
