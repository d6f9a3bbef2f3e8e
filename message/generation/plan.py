"""The `plan` strategy of an assistant: a short numbered plan first, then each step with tools.

1. A planning call (no tools; the assistant's system prompt and the conversation, then
   `PLAN_PROMPT`): its text is not shown, it is parsed (`plan_parse`: `1.`, `1)`, `Step 1:`,
   or `-` / `*` lines) and cut to `ASSISTANT_PLAN_MAX_STEPS`; the steps go out as a `plan`
   event and are stored on the turn being generated (`Message.plan`). A model that writes no
   list gets one step, "answer the request".
2. Each step is the runner's tool loop (`Runner.tool_loop`: tools, rounds, fallback) on the
   conversation, the tool rounds of the steps before and `STEP_PROMPT` (the plan, what the
   steps before produced, this step). Its text streams into the same reply after a
   heading of ours (`### Step 2: ...`); a step with a tool round continues, as every tool
   round does, in the next assistant turn of the chain.
3. When a step had a failing tool call (`is_error`), the model gets one chance for the whole
   reply to revise the remaining steps (`REVISE_PROMPT`, no tools): a new `plan` event with
   the whole plan (steps done, then the revised rest), still at most
   `ASSISTANT_PLAN_MAX_STEPS` in all; a revision with no list ends the plan.

Bounded: at most `ASSISTANT_PLAN_MAX_STEPS` steps, two planning calls, and the reply's
`TOOL_MAX_ROUNDS` tool rounds shared by all steps (once used, steps are offered no tools).
The planning calls' tokens are counted with the turn generated after them. The
instructions are requests of this reply only: nothing of them is stored or kept in a
context (`message.context`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from django.conf import settings

from ai_model.providers.registry import adapter_for
from ai_model.types import ChatMessage, StreamError, TextDelta, Usage
from message.generation.turn import Turn, usage_sum
from message.streaming.payloads import Plan

if TYPE_CHECKING:
    from ai_model.models import AIModel
    from message.generation.runner import Runner

PLAN_PROMPT = (
    "Before answering, make a plan. Write a short numbered plan for answering the last user message above: at most "
    "{n} steps, one line each, numbered 1., 2., and so on. Write only the plan; its steps are carried out next, one at "
    "a time, with the tools available then."
)
STEP_PROMPT = (
    "You are carrying out this plan for the last user message above:\n{plan}\n\n{done}Now carry out step {k}: {step}\n"
    "Use the tools when they help. Reply with this step's result only.{last}"
)
REVISE_PROMPT = (
    "Step {k} of the plan ({step}) had a failing tool call: {error}\n\nThe plan:\n{plan}\n\nSteps 1 to {k} are done. "
    "Revise the remaining steps: write them as a numbered list of at most {n} steps (fewer is fine; write nothing if "
    "no step is needed). Write only the list."
)
#: The plan of a model that wrote no list.
FALLBACK_STEP = "Answer the request."
STEP_MAX_CHARS = 300
RESULT_MAX_CHARS = 2000

_NUMBERED = re.compile(r"^\s*(?:\*\*)?(?:step\s*)?\d{1,3}\s*[.):](?:\*\*)?\s+(?P<text>\S.*)$", re.IGNORECASE)
_BULLET = re.compile(r"^\s*[-*•+]\s+(?P<text>\S.*)$")


def plan_parse(text: str, *, max_steps: int) -> list[str]:
    """The steps of a plan a model wrote: its numbered lines (`1.`, `1)`, `1:`, `Step 1:`,
    bold or not), else its bullet lines (`-`, `*`, `•`, `+`); each without markdown emphasis,
    at most `STEP_MAX_CHARS` characters; at most `max_steps` of them. [] when none."""
    lines = text.splitlines()
    for pattern in (_NUMBERED, _BULLET):
        steps = []
        for line in lines:
            match = pattern.match(line)
            step = match.group("text").strip().strip("*_").strip() if match else ""
            if step:
                steps.append(step[:STEP_MAX_CHARS])
        if steps:
            return steps[:max(0, max_steps)]
    return []


def _numbered(steps: list[str]) -> str:
    return "\n".join(f"{i}. {step}" for i, step in enumerate(steps, start=1))


def step_prompt(steps: list[str], index: int, results: list[str]) -> str:
    """The instruction of step `index` (from 0), with what the steps before produced."""
    done = ""
    if results:
        done = "What the steps before produced:\n" + "\n".join(
            f"Step {i}: {result[:RESULT_MAX_CHARS]}" for i, result in enumerate(results, start=1)) + "\n\n"
    last = " This is the last step: give the user the answer." if index == len(steps) - 1 else ""
    return STEP_PROMPT.format(plan=_numbered(steps), done=done, k=index + 1, step=steps[index], last=last)


class Planner:
    """Runs a `plan` assistant's reply on a `Runner` (see the module docstring)."""

    def __init__(self, runner: Runner, chain: list[AIModel]) -> None:
        self.runner = runner
        self.chain = chain
        self.position = 0
        self.max_steps = max(1, settings.ASSISTANT_PLAN_MAX_STEPS)

    async def run(self, context: list[ChatMessage]) -> Turn:
        """The whole reply; returns the last turn (with its error, if a model call failed)."""
        runner = self.runner
        text, usage, error = await self._ask([*context, ChatMessage("user", PLAN_PROMPT.format(n=self.max_steps))])
        turn = runner.generation.turn = Turn(usage=usage, error=error)
        if error is not None:
            return turn
        steps = plan_parse(text, max_steps=self.max_steps) or [FALLBACK_STEP]
        await self._announce(steps)
        conversation, results, revised, index = list(context), [], False, 0
        while index < len(steps):
            messages = [*conversation, ChatMessage("user", step_prompt(steps, index, results))]
            gap = "\n\n" if turn.parts else ""
            heading = f"{gap}### Step {index + 1}: {steps[index]}\n\n"
            mark = len(turn.parts) + 1
            previous = turn
            turn, self.position, extended = await runner.tool_loop(
                self.chain, self.position, messages, into=turn, prefix=heading)
            if turn.error is not None:
                return turn
            rounds = extended[len(messages):]  # the step's tool rounds: stored turns, kept for the next steps
            conversation += rounds
            results.append("".join(turn.parts[mark:]) if turn is previous else turn.text)
            index += 1
            failed = next((m for m in rounds if m.role == "tool" and m.is_error), None)
            if failed is not None and not revised and index < self.max_steps:
                revised = True
                prompt = REVISE_PROMPT.format(k=index, step=steps[index - 1], error=failed.content[:RESULT_MAX_CHARS],
                                              plan=_numbered(steps), n=self.max_steps - index)
                text, usage, error = await self._ask([*conversation, ChatMessage("user", prompt)])
                turn.usage = usage_sum(turn.usage, usage)
                if error is None:
                    steps = [*steps[:index], *plan_parse(text, max_steps=self.max_steps - index)]
                    await self._announce(steps)
        return turn

    async def _announce(self, steps: list[str]) -> None:
        runner = self.runner
        await runner.store.plan_store(runner.current, steps)
        await runner.publisher.emit(Plan(message=str(runner.current.id), steps=list(steps)))

    async def _ask(self, messages: list[ChatMessage]) -> tuple[str, Usage | None, StreamError | None]:
        """One model call without tools whose text is not shown (the plan); falls back along
        the chain while nothing came. Returns its text, usage and error."""
        runner = self.runner
        while True:
            model = runner.model = self.chain[self.position]
            parts: list[str] = []
            usage = error = None
            async for event in adapter_for(model.provider).stream(runner.request(model, messages, tools=False)):
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                elif isinstance(event, Usage):
                    usage = event
                elif isinstance(event, StreamError):
                    error = event
            if error is not None and not parts and self.position + 1 < len(self.chain):
                await runner.fall_back(runner.current, model, self.chain[self.position + 1], error)
                self.position += 1
                continue
            return "".join(parts), usage, error
