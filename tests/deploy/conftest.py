def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "deploy: Kubernetes manifests and container image checks "
        "(tools: deploy/k8s/install-tools.sh)",
    )
