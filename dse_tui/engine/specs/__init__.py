"""Behaviour specs and their verdicts: parsing the YAML, the harness that runs a candidate
against a spec inside the sandbox (both of its sides), and the quality derived from the
results. Nothing else decides whether code passed."""
