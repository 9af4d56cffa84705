"""The Kubernetes manifests of deploy/k8s, rendered by kubectl kustomize and checked offline."""
