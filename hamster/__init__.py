"""Hamster: a single-node, S3-compatible object store built on trio and h11."""

__version__ = "0.1.0"
