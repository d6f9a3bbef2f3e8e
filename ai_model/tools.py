"""Tools a model may call, and running a turn's tool calls concurrently.

A tool is a Python function (async, or sync and then run in a bounded thread pool)
with a JSON-Schema description. Built-ins are safe and offline: `current_time`,
`calculator` (simpleeval, a sandboxed expression evaluator) and `convert_units` (pint).
More are registered by import path in `settings.TOOLS` (a list of `Tool` objects'
dotted paths). No tool reaches the network by default.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import math
from collections.abc import AsyncIterator, Callable
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


class ToolError(Exception):
    """A tool refused its input; the message is shown to the model."""


@dataclass(frozen=True)
class Tool:
    """A callable tool: `func(**arguments)` returns a JSON-serialisable result (or str)."""

    name: str
    description: str
    parameters: dict[str, Any]
    func: Callable[..., Any]
    timeout_s: float = 10.0

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


_MATH = MappingProxyType({name: getattr(math, name) for name in (
    "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "log", "log10", "log2", "exp", "floor", "ceil", "factorial",
)})


def _calculator(expression: str) -> dict[str, Any]:
    from simpleeval import EvalWithCompoundTypes, InvalidExpression

    if len(expression) > 500:
        raise ToolError("The expression is longer than 500 characters.")
    evaluator = EvalWithCompoundTypes(functions={**_MATH, "abs": abs, "round": round, "min": min, "max": max},
                                      names={"pi": math.pi, "e": math.e})
    try:
        value = evaluator.eval(expression)
    except (InvalidExpression, ArithmeticError, TypeError, ValueError, SyntaxError) as exc:
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
    {"type": "object", "properties": {"timezone": {"type": "string", "description": "IANA name, e.g. Europe/Paris"}}},
    _current_time, timeout_s=2.0,
)
calculator = Tool(
    "calculator", "Evaluate an arithmetic expression (+ - * / ** %, sqrt, sin, log, pi, ...).",
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
    _calculator, timeout_s=2.0,
)
convert_units = Tool(
    "convert_units", "Convert a quantity between units, e.g. 3 mile to km, 100 degF to degC.",
    {"type": "object", "properties": {"value": {"type": "number"}, "from_unit": {"type": "string"},
                                      "to_unit": {"type": "string"}}, "required": ["value", "from_unit", "to_unit"]},
    _convert_units, timeout_s=5.0,
)

BUILTIN_TOOLS = ("ai_model.tools.current_time", "ai_model.tools.calculator", "ai_model.tools.convert_units")


def tool_registry() -> dict[str, Tool]:
    """Tools by name: the built-ins plus `settings.TOOLS` (import paths of `Tool` objects)."""
    paths = [*BUILTIN_TOOLS, *getattr(settings, "TOOLS", [])]
    tools = [import_string(path) for path in paths]
    return {tool.name: tool for tool in tools}


async def _call(tool: Tool, call: ToolCall) -> Any:
    if inspect.iscoroutinefunction(tool.func):
        return await tool.func(**call.arguments)
    loop = asyncio.get_running_loop()
    # Sync tools run in the runtime's small pool so a slow one cannot starve the event loop.
    return await loop.run_in_executor(runtime().tool_pool, lambda: tool.func(**call.arguments))


async def tool_run(call: ToolCall, tools: dict[str, Tool]) -> ToolResult:
    """Run one call with its tool's timeout; every failure becomes an `is_error` result."""
    tool = tools.get(call.name)
    if tool is None:
        return ToolResult(call, f"Unknown tool {call.name!r}.", True)
    try:
        async with asyncio.timeout(tool.timeout_s):
            value = await _call(tool, call)
    except TimeoutError:
        return ToolResult(call, f"The tool {call.name!r} timed out after {tool.timeout_s:g} s.", True)
    except ToolError as exc:
        return ToolResult(call, str(exc), True)
    except TypeError as exc:  # wrong or missing arguments
        return ToolResult(call, f"Bad arguments for {call.name!r}: {exc}", True)
    except Exception as exc:  # a tool bug must not crash the reply
        return ToolResult(call, f"The tool {call.name!r} failed: {type(exc).__name__}: {exc}", True)
    content = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
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
