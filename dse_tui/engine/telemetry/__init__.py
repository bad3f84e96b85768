"""Every execution measured: metric batching, windows over the points, and the detectors that
call drift. Declared here; the living-system issue fills it."""
