"""Demo mode: a synthetic warehouse that reproduces the seed setup, and its day-by-day evolution."""
