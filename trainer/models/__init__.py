"""JAX halves of the model families; each has a numpy twin in ``provisioner/models``."""
