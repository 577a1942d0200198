"""MNIST's test set split 8,000 / 2,000 (seeded) into an .npz in the layout of a
user's own dataset (rule mnist_test_split; MNIST's training set cannot be
downloaded on every machine, its test set ships with the IDX files)."""
import gzip

import numpy as np

images = np.frombuffer(gzip.open(snakemake.input.images).read(), np.uint8, offset=16).reshape(-1, 28, 28)  # noqa: F821
labels = np.frombuffer(gzip.open(snakemake.input.labels).read(), np.uint8, offset=8).astype(np.int64)  # noqa: F821
order = np.random.default_rng(0).permutation(len(labels))
train, test = order[:8000], order[8000:]
np.savez_compressed(snakemake.output[0], x_train=images[train], y_train=labels[train],  # noqa: F821
                    x_test=images[test], y_test=labels[test])
