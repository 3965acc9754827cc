"""``inv verify``: the running platform checked against its specs (testinfra suite in
``tests/infra/``; targets, backends, comparisons and the summary table here)."""
