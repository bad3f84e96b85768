"""Improving an artifact from measured evidence: strategies, paired measurement against the
incumbent, promotion and rollback. Declared; to come."""
