"""Linux-side DVC stages: one module per stage, each runnable as `python -m pipelines.<stage>`."""
