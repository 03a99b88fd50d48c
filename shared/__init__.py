"""Code every zhicheng service uses: configuration, the event contract, persistence,
messaging, metrics, health, clock and authorization."""
