"""Toasty server: durable gRPC pub/sub for agent notifications, shown as native desktop toasts."""

__version__ = "0.1.0"
