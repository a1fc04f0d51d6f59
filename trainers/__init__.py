"""Trainers turn a ``VariantSpec`` into an artifact directory and load it back as a model adapter."""
