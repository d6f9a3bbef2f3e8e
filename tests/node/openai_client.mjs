// The official `openai` npm package against the app's /v1: one streamed and one
// non-streamed completion, a tool call, and a 401. Prints one JSON line of results.
// Usage: node openai_client.mjs <base url ending /v1> <api key> <model>
import OpenAI from "openai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const out = {};

const stream = await client.chat.completions.create({
  model, stream: true, stream_options: { include_usage: true },
  messages: [{ role: "user", content: "stream please" }],
});
let text = "";
let finish = null;
for await (const chunk of stream) {
  if (chunk.choices.length) {
    text += chunk.choices[0].delta.content ?? "";
    finish = chunk.choices[0].finish_reason ?? finish;
  } else if (chunk.usage) {
    out.streamUsage = chunk.usage;
  }
}
out.streamed = text;
out.streamFinish = finish;

const whole = await client.chat.completions.create({ model, messages: [{ role: "user", content: "whole please" }] });
out.whole = whole.choices[0].message.content;
out.wholeObject = whole.object;
out.wholeUsage = whole.usage;

const tool = await client.chat.completions.create({
  model, messages: [{ role: "user", content: "use the tool" }],
  tools: [{ type: "function", function: { name: "add", parameters: { type: "object" } } }],
});
out.toolFinish = tool.choices[0].finish_reason;
out.toolCall = tool.choices[0].message.tool_calls?.[0];

try {
  await new OpenAI({ baseURL, apiKey: "sk-bad", maxRetries: 0 }).models.list();
  out.badKey = "no error";
} catch (err) {
  out.badKey = { status: err.status, code: err.code };
}
console.log(JSON.stringify(out));
