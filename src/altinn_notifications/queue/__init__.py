"""The queue: the database rows are the work items; this package holds what every worker shares.

Wake-up channels (`channels`), the loop and timer mechanics (`loop`), the LISTEN connection (`listener`),
the statements that move work items by time: leases, rescue, expiry, retention (`repository`), and the
maintenance jobs built on them (`maintenance`). It imports no domain package: domain workers build on it.
"""
