// The stream reader: a text/event-stream response body as {event, id, data} objects
// (data parsed as JSON), per the WHATWG HTML "server-sent events" parsing rules for the
// fields we use (data, event, id; comment lines skipped).

export async function* readSSE(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) !== -1) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
      const ev = { event: "message", id: null, data: "" };
      for (const line of block.split(/\r?\n/)) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":");
        const field = i === -1 ? line : line.slice(0, i);
        const val = i === -1 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") ev.data += (ev.data ? "\n" : "") + val;
        else if (field === "event") ev.event = val;
        else if (field === "id") ev.id = val;
      }
      if (ev.data) yield { ...ev, data: JSON.parse(ev.data) };
    }
  }
}
