"""Everything between the socket and the queue: authenticate, validate, deduplicate, enqueue.

It checks events against the contract (`contract.events`) and queues them through the store
(`store.queue`); it never imports `handlers`.
"""
