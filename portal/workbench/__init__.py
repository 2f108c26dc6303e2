"""The department workbench: triage, dispatch, department queues, case actions, verdicts, KPIs."""
