"""Reference trace from the peer framework Pydantic AI.

Runs one agent turn with a tool call against a scripted `FunctionModel`, with
OpenTelemetry instrumentation on, and prints the recorded spans as ONE JSON
document on stdout (span start order, no timestamps or ids), so that a Rust
test can compare our span names, kinds, parents and `gen_ai.*` attributes
with the peer's.

Usage:
    target/pyenv/bin/python tests/peers/pydantic_ai_trace.py [--include-content | --no-include-content]

Without a flag the library default for `include_content` is used (True in
pydantic-ai-slim 2.x). `--include-content` sets it to True explicitly and
`--no-include-content` sets it to False.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from importlib.metadata import version as dist_version
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pydantic_ai import Agent
from pydantic_ai.capabilities import Instrumentation
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.instrumented import InstrumentationSettings

KINDS = {
    SpanKind.INTERNAL: "internal",
    SpanKind.CLIENT: "client",
    SpanKind.SERVER: "server",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}


def scripted_model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # First request: only the user prompt has been sent, so call the tool.
    # Second request: the tool result is in the history, so answer in text.
    if len(messages) == 1:
        return ModelResponse(
            parts=[ToolCallPart(tool_name="get_weather", args={"city": "Paris"}, tool_call_id="call_1")]
        )
    return ModelResponse(parts=[TextPart("It is sunny in Paris.")])


def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"sunny in {city}"


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


class Ids:
    """Replaces generated ids (UUIDs: `gen_ai.agent.call.id`, `gen_ai.conversation.id`) by
    `<id-N>`, numbered by first appearance, so output is deterministic but still shows
    which spans share an id."""

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        return UUID.sub(lambda m: self.seen.setdefault(m.group(0).lower(), f"<id-{len(self.seen) + 1}>"), text)


def plain(value: Any, ids: Ids) -> Any:
    if isinstance(value, str):
        return ids(value)
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [plain(v, ids) for v in value]
    return None


def describe(spans: list[ReadableSpan]) -> list[dict[str, Any]]:
    by_id = {span.context.span_id: span for span in spans}
    ids = Ids()

    # Start order; on equal start times a parent comes before its children.
    def depth(span: ReadableSpan) -> int:
        d = 0
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            d += 1
        return d

    ordered = sorted(spans, key=lambda s: (s.start_time, depth(s)))
    out = []
    for span in ordered:
        parent = by_id.get(span.parent.span_id) if span.parent is not None else None
        attrs = dict(span.attributes or {})
        gen_ai = {k: plain(v, ids) for k, v in sorted(attrs.items()) if k.startswith("gen_ai.")}
        gen_ai = {k: v for k, v in gen_ai.items() if v is not None}
        out.append(
            {
                "name": span.name,
                "kind": KINDS[span.kind],
                "parent": parent.name if parent is not None else None,
                "attributes": sorted(attrs),
                "gen_ai_attributes": gen_ai,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--include-content", dest="include_content", action="store_const", const=True)
    group.add_argument("--no-include-content", dest="include_content", action="store_const", const=False)
    args = parser.parse_args()

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    kwargs: dict[str, Any] = {}
    if args.include_content is not None:
        kwargs["include_content"] = args.include_content
    settings = InstrumentationSettings(tracer_provider=tracer_provider, meter_provider=meter_provider, **kwargs)

    agent = Agent(
        FunctionModel(scripted_model),
        name="support_agent",
        tools=[get_weather],
        capabilities=[Instrumentation(settings=settings)],
    )
    result = agent.run_sync("What is the weather in Paris?")
    assert result.output == "It is sunny in Paris.", result.output
    tracer_provider.force_flush()

    doc = {
        "peer": {
            "pydantic_ai": dist_version("pydantic-ai-slim"),
            "opentelemetry_sdk": dist_version("opentelemetry-sdk"),
        },
        "include_content": settings.include_content,
        "instrumentation_version": settings.version,
        "spans": describe(list(exporter.get_finished_spans())),
    }
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
