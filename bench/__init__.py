"""Toasty benchmark harness (issue 7): `hatch run bench` (full) or `hatch run bench --quick` (smoke run).

Every workload runs the server, the publishers and the subscribers as separate processes on loopback,
against three servers in the same run: a minimal grpc.aio server built from the same .proto with the C
protobuf codec (the raw baseline), redis-server pub/sub (the peer a user might pick instead), and the
real `toasty-server` process (SQLite store as shipped, and the in-memory store). See bench/README.md.
"""
