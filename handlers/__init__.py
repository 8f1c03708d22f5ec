"""Everything between the queue and the outside APIs: the worker, the rules engine, API clients."""
