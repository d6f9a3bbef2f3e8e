"""Tools from MCP servers, through the official `mcp` SDK (no protocol code of our own).

    spec.py        a server's row as a plain value (`ServerSpec`, secrets decrypted, out of repr)
    transport.py   opening the SDK's `Client`: stdio (stderr a pipe of ours, whose end says the
                   process exited) or Streamable HTTP (httpx2 with the server's headers)
    connection.py  one server of one worker: its process (stdio) or session (Streamable HTTP),
                   kept running by a supervisor task, restarted with back-off when it dies or
                   stops answering; tool calls with a timeout (`MCPConnection`)
    manager.py     every connection of the worker (`runtime.mcp`): made on first use, replaced
                   when an admin edits the server, stopped when it is disabled or removed, and
                   at shutdown (`MCPManager`)
    tools.py       each MCP tool as an `ai_model.tools.Tool` named `<server>__<tool>`, and the
                   tools a reply may use (`mcp_tools_load`, behind `ai_model.tools.tools_for_reply`)
    content.py     a tool's result as the text the model reads (text joined, images described
                   and kept in MCP_IMAGE_DIR)
    names.py       the names models see (within `^[a-zA-Z0-9_-]{1,64}$`)
    selectors.py, services.py  reads and writes of `ai_model.models.MCPServer` (registering, checks)
    admin.py, forms.py         the admin page (secrets write-only, health, tools, "check now")

Nothing here runs for a reply whose model has no MCP server: `tools_for_reply` returns the
built-ins without importing this package.
"""
