"""Offline checks of the container image definition and the Kubernetes manifests in k8s/."""
