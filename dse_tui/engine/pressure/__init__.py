"""Machine and budget pressure: readings (load, heat, stall, battery, time), levels, and
which tiers may run. Declared; to come."""
