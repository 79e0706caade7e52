"""The optional HTTP/JSON endpoint: the API for any language (one `curl` publishes), server-sent event
streams of deliveries, and the live web page, served by the same process and event loop as gRPC."""

from toasty_server.http.endpoint import HttpEndpoint, HttpParts

__all__ = ["HttpEndpoint", "HttpParts"]
