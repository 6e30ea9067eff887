"""The official OpenTelemetry Python SDK and its OTLP exporters (HTTP/protobuf and gRPC), and
the OpenInference OpenAI instrumentation around a real `openai` client, sending to the
running llmflow binary."""
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def provider_with(exporter, service):
    p = TracerProvider(resource=Resource.create({"service.name": service}))
    p.add_span_processor(BatchSpanProcessor(exporter))
    return p


def emit_chat_spans(provider, session):
    tracer = provider.get_tracer("e2e")
    with tracer.start_as_current_span("invoke_agent planner") as agent:
        agent.set_attribute("gen_ai.operation.name", "invoke_agent")
        agent.set_attribute("gen_ai.agent.name", "planner")
        agent.set_attribute("session.id", session)
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attribute("gen_ai.operation.name", "chat")
            chat.set_attribute("gen_ai.provider.name", "openai")
            chat.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            chat.set_attribute("gen_ai.response.model", "gpt-4o-mini-2024-07-18")
            chat.set_attribute("gen_ai.usage.input_tokens", 1200)
            chat.set_attribute("gen_ai.usage.output_tokens", 300)
            chat.set_attribute("session.id", session)
    assert provider.force_flush(10_000)
    provider.shutdown()


def wait_for(app, query, n):
    for _ in range(300):
        v = app.get(f"/api/traces?{query}")
        if v["total"] >= n:
            return v
        time.sleep(0.02)
    raise AssertionError(f"{query}: fewer than {n} spans")


def check_chat(app, session, service):
    v = wait_for(app, f"session_id={session}", 2)
    chat = [t for t in v["traces"] if t["span_type"] == "llm"][0]
    assert chat["model"] == "gpt-4o-mini-2024-07-18"
    assert (chat["prompt_tokens"], chat["completion_tokens"]) == (1200, 300)
    assert chat["provider"] == "openai"
    assert chat["service_name"] == service
    assert chat["estimated_cost"] > 0
    agent = [t for t in v["traces"] if t["span_type"] == "agent"][0]
    assert chat["parent_id"] == agent["id"]
    tree = app.get(f"/api/traces/{chat['trace_id']}/tree")
    assert tree["trace"]["span_count"] == 2


def test_http_protobuf_exporter(llmflow):
    emit_chat_spans(provider_with(HttpSpanExporter(endpoint=f"{llmflow.otlp_http}/v1/traces"), "e2e-http"), "s-http")
    check_chat(llmflow, "s-http", "e2e-http")


def test_http_exporter_to_the_dashboard_port(llmflow):
    emit_chat_spans(provider_with(HttpSpanExporter(endpoint=f"{llmflow.api}/v1/traces"), "e2e-dash"), "s-dash")
    check_chat(llmflow, "s-dash", "e2e-dash")


def test_grpc_exporter(llmflow):
    exporter = GrpcSpanExporter(endpoint=f"localhost:{llmflow.otlp_grpc_port}", insecure=True)
    emit_chat_spans(provider_with(exporter, "e2e-grpc"), "s-grpc")
    check_chat(llmflow, "s-grpc", "e2e-grpc")


def test_openinference_openai_instrumentation(llmflow, upstream):
    from openai import OpenAI
    from openinference.instrumentation import using_session
    from openinference.instrumentation.openai import OpenAIInstrumentor

    provider = provider_with(HttpSpanExporter(endpoint=f"{llmflow.otlp_http}/v1/traces"), "oi-app")
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        client = OpenAI(base_url=f"{upstream}/v1", api_key="sk-oi", max_retries=0)
        with using_session("oi-session-1"):
            r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello"}])
        assert r.usage.total_tokens == 29
        assert provider.force_flush(10_000)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    v = wait_for(llmflow, "session_id=oi-session-1", 1)
    t = v["traces"][0]
    assert t["span_type"] == "llm"
    assert t["model"] == "gpt-4o-mini-2024-07-18"
    assert (t["prompt_tokens"], t["completion_tokens"]) == (19, 10)
    assert t["service_name"] == "oi-app"
    d = llmflow.get(f"/api/traces/{t['id']}")
    assert "Hello" in str(d["trace"]["input"])
    assert d["trace"]["output"] == "Hello! How can I help you today?"
