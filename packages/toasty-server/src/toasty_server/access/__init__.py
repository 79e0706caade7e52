"""Who may reach the server: listen addresses (loopback, Unix socket, TLS) and per-agent tokens."""
