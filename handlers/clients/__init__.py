"""One module per outside API: its connection settings, operations and the requests they send."""
