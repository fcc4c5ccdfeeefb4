"""strata_e2e_test: an integration test of real daemons on loopback.

A shell script that sources lib.sh and starts a cluster with
deploy/local/cluster.sh; the daemons, stratactl and the helpers are in its
runfiles. `worker` is the worker program (a test build may replace it).
"""

def strata_e2e_test(name, worker = "//worker", data = []):
    native.sh_test(
        name = name,
        size = "medium",
        srcs = [name + ".sh"],
        data = [
            ":lib.sh",
            "//deploy/local:cluster.sh",
            "//server:ps_server",
            "//server:strata_coordinator",
            "//tools:stratactl",
            "//tools:certs.sh",
            worker,
        ] + data,
        tags = ["exclusive"],
    )
