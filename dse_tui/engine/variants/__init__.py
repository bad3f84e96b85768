"""Platform variants of a workflow and the bundles that prove themselves on the target.
Declared; to come."""
