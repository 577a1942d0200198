"""Package data: the dataset registry ``datasets.json`` (see README.md)."""
