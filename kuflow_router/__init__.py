"""The command-line entry point: the one place that wires the receiver and the handlers together."""
