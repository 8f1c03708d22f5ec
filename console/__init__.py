"""The operator's console: a web page over the event log, the dead-letter queue and the rules.

It reads what the receiver and the worker record in Redis and the rules file, replays and purges
dead letters, and runs dry runs; it never calls an outside API.
"""
