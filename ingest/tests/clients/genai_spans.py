"""Sends GenAI spans to an OTLP/HTTP receiver with the OpenTelemetry SDK
only (protobuf): a chat with usage, a tool call, a failed chat and an
ordinary span, all inside a task span. Configured the standard way:
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES; TASK_ID names the task.
Prints one line per exported batch result."""

import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode

task_id = os.environ["TASK_ID"]
provider = TracerProvider(resource=Resource.create())
exporter = OTLPSpanExporter()
provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
tracer = provider.get_tracer("py-agent")

with tracer.start_as_current_span("task", attributes={"ai_runtime.task_id": task_id}):
    with tracer.start_as_current_span(
        "chat gpt-4o-mini",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
        },
    ) as chat:
        chat.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
        chat.set_attribute("gen_ai.response.id", "chatcmpl-py-1")
        chat.set_attribute("gen_ai.usage.input_tokens", 120)
        chat.set_attribute("gen_ai.usage.output_tokens", 42)
        chat.set_attribute("gen_ai.input.messages", '[{"role":"user","content":"never stored"}]')
    with tracer.start_as_current_span(
        "execute_tool search_kb",
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "search_kb",
            "gen_ai.tool.call.id": "call-py-1",
        },
    ):
        pass
    with tracer.start_as_current_span(
        "chat gpt-4o-mini",
        kind=trace.SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
        },
    ) as failed:
        failed.set_attribute("error.type", "timeout")
        failed.set_status(Status(StatusCode.ERROR, "upstream timed out"))
    with tracer.start_as_current_span("SELECT kb_articles", attributes={"db.system": "postgresql"}):
        pass

ok = provider.force_flush(timeout_millis=60_000)
provider.shutdown()
print("flushed" if ok else "not flushed")
sys.exit(0 if ok else 1)
