"""Generation up the model ladder: the ask loop, prompts, code extraction from replies,
learning which tier to start on, budgets, and the model providers."""
