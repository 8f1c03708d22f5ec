"""Everything between the socket and the queue: authenticate, validate, deduplicate, enqueue.

The receiver owns the two contracts the rest of the router builds on: the event models
(`contract.events`) and the queue contract (`store.queue`, `store.keys`). `handlers`
imports them; the receiver never imports `handlers`.
"""
