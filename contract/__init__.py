"""What both sides agree on: KuFlow's webhook events (`contract.events`) and the job a receiver
queues for a worker (`contract.job_format`). Imports only `common`."""
