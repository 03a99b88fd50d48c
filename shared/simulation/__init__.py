"""A simulated upstream portal and review season, for the demo, end-to-end tests, fault tests
and benchmarks. It uses only the services' public HTTP and AMQP interfaces."""
