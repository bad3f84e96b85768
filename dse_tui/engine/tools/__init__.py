"""Tools as reality testers: registered tools, their validated cache and backend fallback.
Declared; to come."""
