"""The best artifacts as fine-tuning data for specialist models. Declared; to come."""
