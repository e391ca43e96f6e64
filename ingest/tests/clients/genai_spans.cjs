// Sends GenAI spans to an OTLP/HTTP receiver with the OpenTelemetry JS SDK
// only (JSON): a chat with usage, a tool call, a failed chat and an
// ordinary span, inside a task span. Configured by the standard
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT and OTEL_EXPORTER_OTLP_HEADERS;
// OTEL_SERVICE_NAME names the service; TASK_ID names the task.
// CommonJS, so that NODE_PATH finds the packages installed under target/.
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-http');
const { context, trace, SpanStatusCode, SpanKind } = require('@opentelemetry/api');
const { defaultResource, resourceFromAttributes } = require('@opentelemetry/resources');

const exporter = new OTLPTraceExporter();
const provider = new BasicTracerProvider({
  resource: defaultResource().merge(
    resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME }),
  ),
  spanProcessors: [new BatchSpanProcessor(exporter, { maxExportBatchSize: 512 })],
});
const tracer = provider.getTracer('js-agent');

const task = tracer.startSpan('task', { attributes: { 'ai_runtime.task_id': process.env.TASK_ID } });
const inTask = trace.setSpan(context.active(), task);

const chat = tracer.startSpan('chat gpt-4o-mini', {
  kind: SpanKind.CLIENT,
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4',
  },
}, inTask);
chat.setAttribute('gen_ai.usage.input_tokens', 300);
chat.setAttribute('gen_ai.usage.output_tokens', 75);
chat.setAttribute('gen_ai.response.id', 'msg-js-1');
chat.end();

const tool = tracer.startSpan('execute_tool get_weather', {
  attributes: {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'get_weather',
    'gen_ai.tool.call.id': 'call-js-1',
  },
}, inTask);
tool.end();

const failed = tracer.startSpan('chat claude-sonnet-4', {
  kind: SpanKind.CLIENT,
  attributes: {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4',
    'error.type': 'rate_limited',
  },
}, inTask);
failed.setStatus({ code: SpanStatusCode.ERROR, message: 'too many requests' });
failed.end();

const ordinary = tracer.startSpan('GET /weather', { attributes: { 'http.request.method': 'GET' } }, inTask);
ordinary.end();
task.end();

provider.forceFlush()
  .then(() => provider.shutdown())
  .then(() => console.log('flushed'))
  .catch((e) => { console.error(e); process.exit(1); });
