"""`toasty-mcp`: Toasty as a Model Context Protocol server, so that an agent host (Claude Code, Claude
Desktop, VS Code) can notify the person, show progress and ask questions through the hub.

Installed with the extra `pip install "toasty-client[mcp]"`. Nothing here imports the `mcp` SDK at import
time but `toasty_client.mcp.tools` (and what `server.main()` loads), so the base wheel works without it.

- `server`: the command (`main()`): flags, logging to stderr, stdio or streamable HTTP.
- `tools`: the MCP tools, their schemas and descriptions, on the SDK's `MCPServer`.
- `hub`: the one `ResilientNotificationClient` of the process and what each tool does with it.
- `questions`: the questions this process asked, and how an answer reads to a model.
- `summary`: a readable, visibly shortened summary of a tool call to approve.
- `origin`: who is asking and from which directory, for the toast.
"""
