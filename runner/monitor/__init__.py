"""The runner's monitoring process: exporter (/metrics), alert webhook (/alerts), drift gauge.

Public surface: ``python -m runner.monitor.server`` (the process), ``drift_gauge.set``
(record a service's drift share), ``firing.alerts_command`` (``inv alerts``).
"""
