"""Performance as a verdict: figures made of samples, thresholds from a file, and the A/B
comparison of a run with a baseline (the same host on its old kernel). No pytest here."""
