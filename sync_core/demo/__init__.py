"""Demo mode: a synthetic warehouse that reproduces the seed setup, and its day-by-day evolution."""

# The three days of history `sync-core up` builds make about 75 calls to Marketo at this size (lead look-ups of 300
# emails, adds of 300 activities): within one 20 s window of its limit less the 20% reserve (80 calls), so no run
# waits for it. 20,000 contacts need about 140, and 12-13 s of waiting (docs/benchmarks.md, "sync-core up").
DEFAULT_CONTACTS = 10_000
