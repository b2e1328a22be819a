"""Spectrus Kubernetes operator: Community custom resources become running instances."""
