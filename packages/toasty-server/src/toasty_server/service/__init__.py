"""The gRPC face of the server: validation, the servicer, and its registration on a grpc.aio server."""
