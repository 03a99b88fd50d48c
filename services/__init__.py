"""The four bounded contexts: intake, review, experts, audit."""
