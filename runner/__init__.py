"""ML GitOps toolkit."""
