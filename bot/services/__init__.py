"""One service module per feature: what web routes, Slack listeners and RQ jobs all call.

A service takes the `Runtime` and does a feature's work: a store transition,
then what follows from it (jobs to queue, Slack calls through the sender).
`workers/` holds only the RQ entry points that fetch the runtime and call here;
jobs are queued by dotted name from these modules only.
"""
