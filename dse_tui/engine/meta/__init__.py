"""Meta-optimization: proposed changes to DSE's own settings that a person approves, applies
and can undo. Declared; to come."""
