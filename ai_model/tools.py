"""Tools a model may call, and running a turn's tool calls concurrently.

A tool is a Python function (async; or sync and run in the runtime's small thread pool;
or sync, `isolated` and run in the runtime's process pool, `ai_model/tool_pool.py`, whose
worker is killed at the timeout) with a JSON-Schema description. Built-ins are safe and
offline: `current_time`, `calculator` (simpleeval, a sandboxed expression evaluator, with
bounded numbers) and `convert_units` (pint); the last two are CPU-bound and isolated.
More are registered by import path in `settings.TOOLS` (a list of `Tool` objects'
dotted paths), and MCP servers' tools come from `ai_model/mcp/` (`tools_for_reply`: what
one reply may call). No tool reaches the network by default.

Every call is bounded: its arguments must be a JSON object of at most
`TOOL_ARGUMENTS_MAX_CHARS` characters whose strings respect the schema's `maxLength`; it
runs within the tool's `timeout_s`; its result is serialised inside the error handling and
cut to `TOOL_RESULT_MAX_CHARS`. Whatever goes wrong becomes an `is_error` result the model
reads, never an exception in the reply.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.utils.module_loading import import_string

from ai_model.types import ToolCall, ToolSpec
from core.runtime import runtime

logger = logging.getLogger(__name__)


class ToolError(Exception):
    """A tool refused its input; the message is shown to the model."""


@dataclass(frozen=True)
class Tool:
    """A callable tool: `func(**arguments)` returns a JSON-serialisable result (or str).

    `isolated`: run `func` (sync, module-level, no ORM) in the runtime's process pool,
    where the worker is killed at `timeout_s`; for CPU-bound work that could hold the GIL.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    timeout_s: float = 10.0
    isolated: bool = False

    def __post_init__(self) -> None:
        if self.isolated and inspect.iscoroutinefunction(self.func):
            raise ValueError(f"tool {self.name!r}: an isolated tool's function must be synchronous")

    @property
    def spec(self) -> ToolSpec:
        """What a model is told about the tool."""
        return ToolSpec(self.name, self.description, self.parameters)


@dataclass(frozen=True)
class ToolResult:
    """The outcome of one call: `content` is the text given back to the model."""

    call: ToolCall
    content: str
    is_error: bool


# --- built-ins ----------------------------------------------------------------------------

def _current_time(timezone: str = "UTC") -> dict[str, str]:
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"Unknown time zone {timezone!r}; use an IANA name such as Europe/Paris.") from None
    now = datetime.now(zone)
    return {"timezone": timezone, "iso": now.isoformat(timespec="seconds"), "weekday": now.strftime("%A")}


# Numbers the calculator may produce: integers up to about 4,000 decimal digits (under
# Python's 4,300-digit str limit, and cheap to multiply), factorials up to 1000!
# (2,568 digits), `round` to at most 100 places. simpleeval's own limits (MAX_POWER and
# friends) bound the operands but let 400000**400000 (2.2 million digits) through.
CALC_MAX_DIGITS = 4000
_CALC_MAX_BITS = int(CALC_MAX_DIGITS * math.log2(10))
CALC_MAX_FACTORIAL = 1000
CALC_MAX_ROUND_DIGITS = 100
CALC_MAX_EXPRESSION_CHARS = 500


def _too_big(what: str) -> ToolError:
    return ToolError(f"{what} would have more than {CALC_MAX_DIGITS:,} digits; the calculator refuses it.")


def _checked(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > _CALC_MAX_BITS:
        raise _too_big("The result")
    return value


def _power(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and b * math.log2(abs(a)) > _CALC_MAX_BITS:
        raise _too_big(f"{_short(a)} ** {_short(b)}")
    return a ** b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() + b > _CALC_MAX_BITS:
        raise _too_big(f"{_short(a)} << {_short(b)}")
    return a << b


def _short(n: Any) -> str:
    """`n` for a message: itself, or its length when it is a long integer."""
    return f"<a {len(str(abs(n)))}-digit number>" if isinstance(n, int) and n.bit_length() > 200 else str(n)


def _factorial(n: Any) -> int:
    if isinstance(n, (int, float)) and not isinstance(n, bool) and n > CALC_MAX_FACTORIAL:
        raise ToolError(f"factorial is limited to n <= {CALC_MAX_FACTORIAL}; asked for factorial({_short(n)}).")
    return math.factorial(n)


def _round(x: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and isinstance(ndigits, int) and abs(ndigits) > CALC_MAX_ROUND_DIGITS:
        raise ToolError(f"round() takes at most {CALC_MAX_ROUND_DIGITS} digits either side of the point.")
    return round(x, ndigits)


_MATH = MappingProxyType({
    **{name: getattr(math, name) for name in (
        "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "log", "log10", "log2", "exp", "floor", "ceil",
    )},
    "factorial": _factorial, "abs": abs, "round": _round, "min": min, "max": max,
})


def _guarded(operator: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*operands: Any) -> Any:
        return _checked(operator(*operands))

    return apply


def _calculator(expression: str) -> dict[str, Any]:
    from simpleeval import DEFAULT_OPERATORS, InvalidExpression, SimpleEval

    if len(expression) > CALC_MAX_EXPRESSION_CHARS:
        raise ToolError(f"The expression is longer than {CALC_MAX_EXPRESSION_CHARS} characters.")
    # Every operator's result is size-checked; ** and << are checked before computing.
    operators = {node: _guarded(func) for node, func in DEFAULT_OPERATORS.items()}
    operators[ast.Pow] = _guarded(_power)
    operators[ast.LShift] = _guarded(_lshift)
    evaluator = SimpleEval(operators=operators, functions=dict(_MATH), names={"pi": math.pi, "e": math.e})
    try:
        value = _checked(evaluator.eval(expression))
    except (InvalidExpression, ArithmeticError, TypeError, ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ToolError(f"Cannot evaluate {expression!r}: {exc}") from None
    return {"expression": expression, "result": value}


# Built once per process (~0.1 s) and only read after: pint's registry is a table of units.
@cache
def _units():
    import pint

    return pint.UnitRegistry()


def _convert_units(value: float, from_unit: str, to_unit: str) -> dict[str, Any]:
    import pint

    registry = _units()
    try:
        result = registry.Quantity(value, from_unit).to(to_unit)
    except (pint.errors.PintError, AttributeError, ValueError) as exc:
        raise ToolError(f"Cannot convert {from_unit!r} to {to_unit!r}: {exc}") from None
    return {"value": value, "from": from_unit, "to": to_unit, "result": round(result.magnitude, 10)}


current_time = Tool(
    "current_time", "The current date and time in a time zone.",
    {"type": "object", "properties": {"timezone": {"type": "string", "maxLength": 64,
                                                   "description": "IANA name, e.g. Europe/Paris"}}},
    _current_time, timeout_s=2.0,
)
calculator = Tool(
    "calculator", "Evaluate an arithmetic expression (+ - * / ** %, sqrt, sin, log, pi, ...).",
    {"type": "object", "properties": {"expression": {"type": "string", "maxLength": CALC_MAX_EXPRESSION_CHARS}},
     "required": ["expression"]},
    _calculator, timeout_s=2.0, isolated=True,
)
convert_units = Tool(
    "convert_units", "Convert a quantity between units, e.g. 3 mile to km, 100 degF to degC.",
    {"type": "object", "properties": {"value": {"type": "number"}, "from_unit": {"type": "string", "maxLength": 100},
                                      "to_unit": {"type": "string", "maxLength": 100}},
     "required": ["value", "from_unit", "to_unit"]},
    _convert_units, timeout_s=5.0, isolated=True,
)

BUILTIN_TOOLS = ("ai_model.tools.current_time", "ai_model.tools.calculator", "ai_model.tools.convert_units")


def tool_registry() -> dict[str, Tool]:
    """Tools by name: the built-ins plus `settings.TOOLS` (import paths of `Tool` objects)."""
    paths = [*BUILTIN_TOOLS, *getattr(settings, "TOOLS", [])]
    tools = [import_string(path) for path in paths]
    return {tool.name: tool for tool in tools}


async def tools_for_reply(*, model: Any, servers: Iterable[Any] | None = None, builtins: bool = True) -> dict[str, Tool]:
    """The tools a reply of `model` may call, by name: none unless `model.supports_tools`, else
    the built-ins (unless `builtins` is False) and the allowed MCP tools (`ai_model.mcp.tools.
    mcp_tools_load`: the model's `mcp_servers`, or the allow-list `servers` of MCPServer ids
    and `<server>__<tool>` names), cached per worker for ROW_CACHE_TTL_S. A model known to have
    no MCP server (`has_mcp_servers`, from `ai_model_resolve`) costs no query and no import."""
    if not model.supports_tools:
        return {}
    tools = tool_registry() if builtins else {}
    if servers is None and getattr(model, "has_mcp_servers", None) is False:
        return tools
    from ai_model.mcp.tools import allow_key, mcp_tools_load

    servers = None if servers is None else list(servers)
    key = ("mcp_tools", model.pk, allow_key(servers))
    try:
        mcp = await runtime().rows.get_or_load(key, lambda: mcp_tools_load(model=model, servers=servers))
    except Exception:  # the reply goes on with the built-ins; the MCP servers' failures are for admins
        logger.exception("cannot load the MCP tools of %s", model.pk)
        mcp = {}
    return {**tools, **mcp}


#: An MCP tool's name as an assistant allows it: `<server>__<tool>`, or `<server>__*` for
#: every tool of the server (`<server>` and `<tool>` letters, digits, `_`, `-`, `.`).
MCP_TOOL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*__(\*|[A-Za-z0-9][A-Za-z0-9_.-]*)$")


def tool_name_problem(name: Any, *, known: Iterable[str]) -> str | None:
    """Why `name` cannot be in an assistant's allowed tools, or None: it must be one of
    `known` (the registry's names) or look like an MCP tool (`MCP_TOOL_NAME`)."""
    if not isinstance(name, str) or not name:
        return "A tool name is a non-empty string."
    if name in known or MCP_TOOL_NAME.fullmatch(name):
        return None
    return f"Unknown tool {name!r}: use a built-in tool's name, or <server>__<tool> for an MCP tool."


def tools_allowed(tools: dict[str, Tool], allowed: Iterable[str]) -> dict[str, Tool]:
    """The tools of `tools` (by name, as `tool_registry` gives them, and MCP tools named
    `<server>__<tool>`) that `allowed` lists, by name or as `<server>__*`; in the order of
    `tools`. The one filter every reply of an assistant goes through (offered and run)."""
    allowed = set(allowed)
    servers = {name[:-3] for name in allowed if name.endswith("__*")}
    return {
        name: tool for name, tool in tools.items()
        if name in allowed or ("__" in name and name.split("__", 1)[0] in servers)
    }


async def _call(tool: Tool, call: ToolCall) -> Any:
    if tool.isolated:
        # A worker process, killed at the timeout: the work stops, and never holds our GIL.
        return await runtime().tool_processes.run(tool.func, call.arguments, timeout_s=tool.timeout_s)
    if inspect.iscoroutinefunction(tool.func):
        return await tool.func(**call.arguments)
    loop = asyncio.get_running_loop()
    # Sync tools run in the runtime's small pool so a slow one cannot starve the event loop.
    return await loop.run_in_executor(runtime().tool_pool, lambda: tool.func(**call.arguments))


def _arguments_problem(tool: Tool, arguments: Any) -> str | None:
    """Why `arguments` are refused before the tool runs, or None."""
    if not isinstance(arguments, dict):
        return f"Bad arguments for {tool.name!r}: expected a JSON object, got {type(arguments).__name__}."
    limit = settings.TOOL_ARGUMENTS_MAX_CHARS
    try:
        size = len(json.dumps(arguments, ensure_ascii=False, default=str))
    except (ValueError, TypeError, RecursionError) as exc:
        return f"Bad arguments for {tool.name!r}: {exc}"
    if size > limit:
        return f"The arguments for {tool.name!r} are {size:,} characters long; the limit is {limit:,}."
    properties = tool.parameters.get("properties", {}) if isinstance(tool.parameters, dict) else {}
    for key, value in arguments.items():
        schema = properties.get(key)
        max_length = schema.get("maxLength") if isinstance(schema, dict) else None
        if isinstance(value, str) and max_length is not None and len(value) > max_length:
            return f"The argument {key!r} of {tool.name!r} is {len(value):,} characters long; the limit is {max_length:,}."
    return None


def _content(value: Any) -> str:
    """The text given back to the model: `value` itself or its JSON, cut to TOOL_RESULT_MAX_CHARS.
    Raises ToolError when `value` cannot be serialised (e.g. an int over 4,300 digits)."""
    try:
        content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError) as exc:
        raise ToolError(f"The result cannot be given back as text: {exc}") from None
    limit = settings.TOOL_RESULT_MAX_CHARS
    if len(content) > limit:
        content = f"{content[:limit]}\n[truncated: the result has {len(content):,} characters; the first {limit:,} are shown]"
    return content


async def tool_run(call: ToolCall, tools: dict[str, Tool]) -> ToolResult:
    """Run one call with its tool's timeout; every failure (unknown tool, refused
    arguments, timeout, ToolError, a bug, a result that cannot be serialised) becomes an
    `is_error` result. Isolated tools get half a second over their timeout for the wait in
    the pool's queue (and the pool's start, on first use, is not counted); their worker is
    killed at the timeout itself."""
    tool = tools.get(call.name)
    if tool is None:
        return ToolResult(call, f"Unknown tool {call.name!r}.", True)
    if (problem := _arguments_problem(tool, call.arguments)) is not None:
        return ToolResult(call, problem, True)
    try:
        if tool.isolated:  # the first call starts the workers: not part of the tool's time
            await runtime().tool_processes.started()
        async with asyncio.timeout(tool.timeout_s + (0.5 if tool.isolated else 0.0)):
            value = await _call(tool, call)
        content = _content(value)
    except TimeoutError:
        return ToolResult(call, f"The tool {call.name!r} timed out after {tool.timeout_s:g} s.", True)
    except ToolError as exc:
        return ToolResult(call, str(exc), True)
    except TypeError as exc:  # wrong or missing arguments
        return ToolResult(call, f"Bad arguments for {call.name!r}: {exc}", True)
    except MemoryError:
        return ToolResult(call, f"The tool {call.name!r} ran out of memory.", True)
    except Exception as exc:  # a tool bug (or a worker that died) must not crash the reply
        return ToolResult(call, f"The tool {call.name!r} failed: {type(exc).__name__}: {exc}", True)
    return ToolResult(call, content, False)


async def tools_run_concurrently(calls: list[ToolCall], tools: dict[str, Tool]) -> AsyncIterator[ToolResult]:
    """Run all calls at once; yield each result as soon as it finishes."""
    tasks = [asyncio.ensure_future(tool_run(call, tools)) for call in calls]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for task in tasks:
            task.cancel()
