"""``inv maintenance``: the runbook's maintenance procedure as ``playbooks/maintenance.yaml``
and the playbook modules it needs (notices, dependency report, sqlite upkeep, clean-up by
retention, rolling restart, watch); listed by ``maintenance_modules()``."""
