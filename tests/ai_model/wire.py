"""Wire fixtures: byte streams in each provider's documented streaming format.

Written from the providers' API references (see each adapter's module docstring).
Every `Wire` builds: a plain text reply with usage, a reply with tool-call fragments
split across chunks, a reply with an in-stream error, one with a malformed chunk, and
`reasoning()`: replies with the model's reasoning in that format (a list of cases; the
OpenAI-compatible and Ollama ones include `<think>` inline, its tags split over chunks).
`chunks` are the units a server writes one by one (SSE events or NDJSON lines).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ai_model.types import Done, ReasoningBlock, ReasoningDelta, TextDelta, ToolCall, Usage

#: The inline-think reply, as a server without a reasoning parser streams it.
THINK_INLINE = ["<th", "ink>", "Hmm, 2+2", " is 4 </th", "is not it", "</thi", "nk>\n", "\nFour", "."]
THINK_INLINE_EXPECTED = [ReasoningDelta("Hmm, 2+2"), ReasoningDelta(" is 4 "), ReasoningDelta("</this not it"),
                         TextDelta("Four"), TextDelta(".")]


def sse(data: object, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {body}\n\n".encode()


@dataclass
class Case:
    chunks: list[bytes]
    expected: list = field(default_factory=list)


class OpenAIWire:
    kind = "openai"
    content_type = "text/event-stream"

    def _chunk(self, delta, finish=None, usage=None, choices=True):
        body = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-test",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}] if choices else []}
        if usage:
            body["usage"] = usage
        return sse(body)

    def text(self, texts=("Hello", " world", "!"), usage=(12, 3)) -> Case:
        chunks = [self._chunk({"role": "assistant", "content": ""})]
        chunks += [self._chunk({"content": t}) for t in texts]
        chunks += [self._chunk({}, finish="stop"),
                   self._chunk(None, usage={"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}, choices=False),
                   b"data: [DONE]\n\n"]
        return Case(chunks, [*map(TextDelta, texts), Usage(*usage), Done("stop")])

    def tools(self) -> Case:
        frag = lambda **f: self._chunk({"tool_calls": [f]})  # noqa: E731
        chunks = [
            self._chunk({"role": "assistant", "content": "Checking. "}),
            frag(index=0, id="call_a", type="function", function={"name": "get_time", "arguments": ""}),
            frag(index=0, function={"arguments": '{"tz": "Eu'}),
            frag(index=1, id="call_b", type="function", function={"name": "calc", "arguments": '{"expr"'}),
            frag(index=0, function={"arguments": 'rope/Paris"}'}),
            frag(index=1, function={"arguments": ': "2*21"}'}),
            self._chunk({}, finish="tool_calls"),
            self._chunk(None, usage={"prompt_tokens": 20, "completion_tokens": 11, "total_tokens": 31}, choices=False),
            b"data: [DONE]\n\n",
        ]
        return Case(chunks, [
            TextDelta("Checking. "),
            ToolCall("call_a", "get_time", {"tz": "Europe/Paris"}),
            ToolCall("call_b", "calc", {"expr": "2*21"}),
            Usage(20, 11), Done("tool_calls"),
        ])

    def midstream_error(self) -> Case:
        return Case([self._chunk({"content": "Hi"}), sse({"error": {"message": "Overloaded", "type": "server_error", "code": 529}})])

    def malformed(self) -> Case:
        return Case([self._chunk({"content": "Hi"}), b"data: {\"choices\": [\n\n", self._chunk({"content": " never"})])


    def reasoning(self) -> list[Case]:
        end = [self._chunk({}, finish="stop"),
               self._chunk(None, usage={"prompt_tokens": 12, "completion_tokens": 9, "total_tokens": 21,
                                        "completion_tokens_details": {"reasoning_tokens": 5}}, choices=False),
               b"data: [DONE]\n\n"]
        deepseek = Case(  # DeepSeek, llama.cpp --reasoning-format deepseek, vLLM < 0.10: `reasoning_content`
            [self._chunk({"role": "assistant", "content": None, "reasoning_content": ""}),
             self._chunk({"content": None, "reasoning_content": "Let me"}),
             self._chunk({"content": None, "reasoning_content": " think."}),
             self._chunk({"content": "Four.", "reasoning_content": None}), *end],
            [ReasoningDelta("Let me"), ReasoningDelta(" think."), TextDelta("Four."), Usage(12, 9, 5), Done("stop")])
        openrouter = Case(  # OpenRouter, vLLM >= 0.10: `reasoning`; both names with the same text counts once
            [self._chunk({"role": "assistant", "content": "", "reasoning": "Let me"}),
             self._chunk({"content": "", "reasoning": " think.", "reasoning_content": " think."}),
             self._chunk({"content": "Four."}), *end],
            [ReasoningDelta("Let me"), ReasoningDelta(" think."), TextDelta("Four."), Usage(12, 9, 5), Done("stop")])
        inline = Case([self._chunk({"role": "assistant", "content": ""}), *(self._chunk({"content": t}) for t in THINK_INLINE), *end],
                      [*THINK_INLINE_EXPECTED, Usage(12, 9, 5), Done("stop")])
        return [deepseek, openrouter, inline]


class LlamaCppWire(OpenAIWire):
    kind = "llamacpp"


class AnthropicWire:
    kind = "anthropic"
    content_type = "text/event-stream"

    def _start(self, input_tokens=12):
        return sse({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-test",
            "stop_reason": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}, "message_start")

    def _text_block(self, index, texts):
        out = [sse({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}, "content_block_start"),
               sse({"type": "ping"}, "ping")]
        out += [sse({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}, "content_block_delta") for t in texts]
        out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
        return out

    def _end(self, stop_reason, output_tokens):
        return [sse({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                     "usage": {"output_tokens": output_tokens}}, "message_delta"),
                sse({"type": "message_stop"}, "message_stop")]

    def text(self, texts=("Hello", " world", "!"), usage=(12, 3)) -> Case:
        chunks = [self._start(usage[0]), *self._text_block(0, texts), *self._end("end_turn", usage[1])]
        return Case(chunks, [*map(TextDelta, texts), Usage(*usage), Done("stop")])

    def tools(self) -> Case:
        def tool(index, id_, name, parts):
            out = [sse({"type": "content_block_start", "index": index,
                        "content_block": {"type": "tool_use", "id": id_, "name": name, "input": {}}}, "content_block_start")]
            out += [sse({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}},
                        "content_block_delta") for p in parts]
            out.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
            return out

        chunks = [self._start(20), *self._text_block(0, ["Checking. "]),
                  *tool(1, "toolu_a", "get_time", ["", '{"tz": "Eu', 'rope/Paris"}']),
                  *tool(2, "toolu_b", "calc", ['{"expr"', ': "2*21"}']),
                  *self._end("tool_use", 11)]
        return Case(chunks, [
            TextDelta("Checking. "),
            ToolCall("toolu_a", "get_time", {"tz": "Europe/Paris"}),
            ToolCall("toolu_b", "calc", {"expr": "2*21"}),
            Usage(20, 11), Done("tool_calls"),
        ])

    def midstream_error(self) -> Case:
        return Case([self._start(), *self._text_block(0, ["Hi"])[:3],
                     sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")])

    def malformed(self) -> Case:
        return Case([self._start(), *self._text_block(0, ["Hi"])[:3],
                     b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type"\n\n'])


    def reasoning(self) -> list[Case]:
        def delta(index, body):
            return sse({"type": "content_block_delta", "index": index, "delta": body}, "content_block_delta")

        chunks = [
            self._start(12),
            sse({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                "content_block_start"),
            delta(0, {"type": "thinking_delta", "thinking": "Let me"}),
            sse({"type": "ping"}, "ping"),
            delta(0, {"type": "thinking_delta", "thinking": " think."}),
            delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}),
            sse({"type": "content_block_stop", "index": 0}, "content_block_stop"),
            sse({"type": "content_block_start", "index": 1, "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p"}},
                "content_block_start"),
            sse({"type": "content_block_stop", "index": 1}, "content_block_stop"),
            *self._text_block(2, ["Four."]),
            *self._end("end_turn", 9),
        ]
        return [Case(chunks, [
            ReasoningDelta("Let me"), ReasoningDelta(" think."),
            ReasoningBlock({"type": "thinking", "thinking": "Let me think.", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3h"}),
            ReasoningBlock({"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3p"}),
            TextDelta("Four."), Usage(12, 9), Done("stop"),
        ])]


class GeminiWire:
    kind = "gemini"
    content_type = "text/event-stream"

    def _chunk(self, parts, finish=None, usage=None):
        body = {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}], "modelVersion": "gemini-test"}
        if finish:
            body["candidates"][0]["finishReason"] = finish
        if usage:
            body["usageMetadata"] = {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1], "totalTokenCount": sum(usage)}
        return sse(body)

    def text(self, texts=("Hello", " world", "!"), usage=(12, 3)) -> Case:
        chunks = [self._chunk([{"text": t}], usage=(usage[0], i + 1)) for i, t in enumerate(texts[:-1])]
        chunks.append(self._chunk([{"text": texts[-1]}], finish="STOP", usage=usage))
        return Case(chunks, [*map(TextDelta, texts), Usage(*usage), Done("stop")])

    def tools(self) -> Case:
        chunks = [
            self._chunk([{"text": "Checking. "}], usage=(20, 2)),
            self._chunk([{"functionCall": {"name": "get_time", "args": {"tz": "Europe/Paris"}}},
                         {"functionCall": {"name": "calc", "args": {"expr": "2*21"}}}], finish="STOP", usage=(20, 11)),
        ]
        return Case(chunks, [
            TextDelta("Checking. "),
            ToolCall("call_1", "get_time", {"tz": "Europe/Paris"}),
            ToolCall("call_2", "calc", {"expr": "2*21"}),
            Usage(20, 11), Done("tool_calls"),
        ])

    def midstream_error(self) -> Case:
        return Case([self._chunk([{"text": "Hi"}]),
                     sse({"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}})])

    def malformed(self) -> Case:
        return Case([self._chunk([{"text": "Hi"}]), b'data: {"candidates": [{"content": \n\n'])


    def reasoning(self) -> list[Case]:
        usage = {"promptTokenCount": 12, "candidatesTokenCount": 4, "thoughtsTokenCount": 5, "totalTokenCount": 21}
        body = lambda parts, **more: {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0, **more}]}  # noqa: E731
        chunks = [
            sse(body([{"text": "**Adding** Let me", "thought": True}])),
            sse(body([{"text": " think.", "thought": True}])),
            sse({**body([{"text": "Four."}], finishReason="STOP"), "usageMetadata": usage}),
        ]
        return [Case(chunks, [ReasoningDelta("**Adding** Let me"), ReasoningDelta(" think."), TextDelta("Four."),
                              Usage(12, 4, 5), Done("stop")])]


class OllamaWire:
    kind = "ollama"
    content_type = "application/x-ndjson"

    def _line(self, body):
        return (json.dumps(body) + "\n").encode()

    def _msg(self, content="", tool_calls=None):
        message = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = tool_calls
        return self._line({"model": "llama-test", "created_at": "2026-11-21T10:00:00Z", "message": message, "done": False})

    def _done(self, reason, usage):
        return self._line({"model": "llama-test", "created_at": "2026-11-21T10:00:01Z", "message": {"role": "assistant", "content": ""},
                           "done": True, "done_reason": reason, "total_duration": 1000, "prompt_eval_count": usage[0], "eval_count": usage[1]})

    def text(self, texts=("Hello", " world", "!"), usage=(12, 3)) -> Case:
        return Case([*map(self._msg, texts), self._done("stop", usage)], [*map(TextDelta, texts), Usage(*usage), Done("stop")])

    def tools(self) -> Case:
        chunks = [self._msg("Checking. "),
                  self._msg(tool_calls=[{"function": {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}}]),
                  self._msg(tool_calls=[{"function": {"name": "calc", "arguments": {"expr": "2*21"}}}]),
                  self._done("stop", (20, 11))]
        return Case(chunks, [
            TextDelta("Checking. "),
            ToolCall("call_1", "get_time", {"tz": "Europe/Paris"}),
            ToolCall("call_2", "calc", {"expr": "2*21"}),
            Usage(20, 11), Done("tool_calls"),
        ])

    def midstream_error(self) -> Case:
        return Case([self._msg("Hi"), self._line({"error": "model runner has unexpectedly stopped"})])

    def malformed(self) -> Case:
        return Case([self._msg("Hi"), b'{"message": {"role": "assist\n'])


    def reasoning(self) -> list[Case]:
        def thinking(text):
            return self._line({"model": "qwen3-test", "created_at": "2026-11-21T10:00:00Z",
                               "message": {"role": "assistant", "content": "", "thinking": text}, "done": False})

        native = Case([thinking("Let me"), thinking(" think."), self._msg("Four."), self._done("stop", (12, 9))],
                      [ReasoningDelta("Let me"), ReasoningDelta(" think."), TextDelta("Four."), Usage(12, 9), Done("stop")])
        inline = Case([*map(self._msg, THINK_INLINE), self._done("stop", (12, 9))],
                      [*THINK_INLINE_EXPECTED, Usage(12, 9), Done("stop")])
        return [native, inline]


WIRES = [OpenAIWire(), LlamaCppWire(), AnthropicWire(), GeminiWire(), OllamaWire()]
