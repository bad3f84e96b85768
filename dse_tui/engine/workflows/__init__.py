"""Chains of steps stored and judged as one artifact, and the hierarchical learning over
their step figures. Declared; to come."""
