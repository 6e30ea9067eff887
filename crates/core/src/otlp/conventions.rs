//! Where each convention puts what llmflow reads: attribute and event names, the current
//! name first and deprecated or other conventions' aliases beside it, tried left to right.
//!
//! Sources (see also `/work/shared/reference/ingest-conventions.md`):
//! - OTel GenAI semantic conventions (v1.37+):
//!   <https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/>, `-events/`, `-metrics/`
//! - OpenLLMetry (Traceloop):
//!   <https://github.com/traceloop/openllmetry/tree/main/packages/opentelemetry-semantic-conventions-ai>
//! - OpenInference: <https://github.com/Arize-ai/openinference/blob/main/spec/semantic_conventions.md>
//! - Vercel AI SDK: <https://ai-sdk.dev/docs/ai-sdk-core/telemetry>
//! - Claude Code: <https://docs.anthropic.com/en/docs/claude-code/monitoring-usage>
//! - Codex CLI: <https://github.com/openai/codex/blob/main/docs/config.md#otel>
//! - Gemini CLI: <https://github.com/google-gemini/gemini-cli/blob/main/docs/cli/telemetry.md>

// ---------------------------------------------------------------- resource

pub const SERVICE_NAME: &str = "service.name";
/// The original LLMFlow's last session fallback.
pub const SERVICE_INSTANCE_ID: &str = "service.instance.id";

// ---------------------------------------------------------------- what a span is

/// OTel GenAI: chat, text_completion, generate_content, embeddings, execute_tool,
/// invoke_agent, create_agent, invoke_workflow, retrieval.
pub const OPERATION_NAME: &str = "gen_ai.operation.name";
/// OpenLLMetry's operation: chat, completion, embedding, rerank.
pub const LLM_REQUEST_TYPE: &str = "llm.request.type";
/// OpenInference: LLM, EMBEDDING, CHAIN, RETRIEVER, RERANKER, TOOL, AGENT, GUARDRAIL,
/// EVALUATOR, PROMPT.
pub const OPENINFERENCE_SPAN_KIND: &str = "openinference.span.kind";
/// OpenLLMetry: workflow, task, agent, tool.
pub const TRACELOOP_SPAN_KIND: &str = "traceloop.span.kind";
/// Vercel AI SDK: `ai.generateText`, `ai.generateText.doGenerate`, `ai.streamText.doStream`,
/// `ai.toolCall`, `ai.embed.doEmbed`...
pub const VERCEL_OPERATION_ID: &str = "ai.operationId";
/// The deprecated provider attribute; its presence alone marks an LLM call.
pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
pub const DB_SYSTEM: &[&str] = &["db.system.name", "db.system"];
/// `db.system` values that are vector stores (a span against one is a retrieval).
pub const VECTOR_DBS: &[&str] = &[
    "chroma",
    "chromadb",
    "pinecone",
    "qdrant",
    "weaviate",
    "milvus",
    "lancedb",
    "marqo",
    "pgvector",
    "turbopuffer",
    "vespa",
];

// ---------------------------------------------------------------- provider, model, usage

pub const PROVIDER: &[&str] = &[
    "gen_ai.provider.name",
    GEN_AI_SYSTEM,
    "llm.provider",
    "llm.system",
    "ai.model.provider",
];
/// Tried before [`REQUEST_MODEL`]: the model that answered beats the one asked for.
pub const RESPONSE_MODEL: &[&str] = &["gen_ai.response.model", "ai.response.model"];
pub const REQUEST_MODEL: &[&str] = &[
    "gen_ai.request.model",
    "llm.model_name",
    "ai.model.id",
    "embedding.model_name",
    "llm.request.model",
];

/// OTel: includes cached tokens. Vercel's keys come last so that a span carrying both
/// (the SDK's `doGenerate` spans also set `gen_ai.usage.*`) reads OTel's.
pub const INPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.usage.prompt_tokens",
    "llm.token_count.prompt",
    "ai.usage.inputTokens",
    "ai.usage.promptTokens",
];
pub const OUTPUT_TOKENS: &[&str] = &[
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.usage.completion_tokens",
    "llm.token_count.completion",
    "ai.usage.outputTokens",
    "ai.usage.completionTokens",
];
pub const TOTAL_TOKENS: &[&str] = &[
    "gen_ai.usage.total_tokens",
    "llm.usage.total_tokens",
    "llm.token_count.total",
    "ai.usage.totalTokens",
];
pub const CACHE_READ_TOKENS: &[&str] = &[
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
    "ai.usage.cachedInputTokens",
];
pub const CACHE_WRITE_TOKENS: &[&str] = &[
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
];
pub const REASONING_TOKENS: &[&str] = &[
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
    "ai.usage.reasoningTokens",
];
/// Prefix of the Vercel AI SDK's usage keys (their Anthropic input excludes the cache).
pub const VERCEL_USAGE_PREFIX: &str = "ai.usage.";
/// Vercel AI SDK: provider metadata as JSON text; Anthropic's cache writes are only here
/// (`{"anthropic":{"cacheCreationInputTokens":N}}`).
pub const VERCEL_PROVIDER_METADATA: &str = "ai.response.providerMetadata";
/// A cost the source computed itself; it wins over the price table.
pub const COST: &[&str] = &["gen_ai.usage.cost", "llm.cost.total"];

// ---------------------------------------------------------------- who, where, when

pub const SESSION: &[&str] = &[
    "session.id",
    "langsmith.trace.session_id",
    "traceloop.association.properties.session_id",
    "ai.telemetry.metadata.sessionId",
];
pub const CONVERSATION: &[&str] = &[
    "gen_ai.conversation.id",
    "traceloop.association.properties.thread_id",
    "ai.telemetry.metadata.threadId",
    "conversation.id",
];
pub const USER: &[&str] = &[
    "user.id",
    "traceloop.association.properties.user_id",
    "ai.telemetry.metadata.userId",
    "enduser.id",
];
pub const AGENT: &[&str] = &[
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "agent.name",
    "traceloop.workflow.name",
    "traceloop.entity.name",
    "ai.telemetry.functionId",
];
/// Seconds (OTel GenAI).
pub const TTFT_SECONDS: &[&str] = &["gen_ai.response.time_to_first_chunk"];
/// Milliseconds (Vercel AI SDK).
pub const TTFT_MS: &[&str] = &["ai.response.msToFirstChunk", "ai.stream.msToFirstChunk"];
pub const STREAMING: &[&str] = &[
    "gen_ai.request.stream",
    "llm.is_streaming",
    "gen_ai.is_streaming",
];
/// OpenInference: a list of strings.
pub const TAGS: &str = "tag.tags";

pub const HTTP_STATUS: &[&str] = &["http.response.status_code", "http.status_code"];
pub const HTTP_METHOD: &[&str] = &["http.request.method", "http.method"];
pub const URL_PATH: &[&str] = &["url.path", "http.target"];
pub const ERROR_TYPE: &str = "error.type";
pub const EXCEPTION_EVENT: &str = "exception";
pub const EXCEPTION_MESSAGE: &str = "exception.message";
pub const EXCEPTION_TYPE: &str = "exception.type";

// ---------------------------------------------------------------- messages

/// OTel GenAI (current): JSON text of `[{role, parts: [{type, content|id|name|arguments|
/// response...}]}]`.
pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
/// JSON text of `[{type: "text", content}]` (or a plain string).
pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
/// OpenLLMetry's indexed attributes: `gen_ai.prompt.{i}.role`, `.content`,
/// `.tool_calls.{j}.name`...
pub const PROMPT_PREFIX: &str = "gen_ai.prompt";
pub const COMPLETION_PREFIX: &str = "gen_ai.completion";
/// OpenInference's indexed attributes: `llm.input_messages.{i}.message.role`, `.content`,
/// `.contents.{j}.message_content.text`, `.tool_calls.{j}.tool_call.function.name`...
pub const OI_INPUT_PREFIX: &str = "llm.input_messages";
pub const OI_OUTPUT_PREFIX: &str = "llm.output_messages";
/// Raw input and output: OpenInference, then OpenLLMetry's entity values.
pub const INPUT_VALUE: &[&str] = &["input.value", "traceloop.entity.input"];
pub const OUTPUT_VALUE: &[&str] = &["output.value", "traceloop.entity.output"];
/// Vercel AI SDK: JSON text of the messages sent to the provider.
pub const VERCEL_PROMPT_MESSAGES: &str = "ai.prompt.messages";
/// Vercel AI SDK: JSON text of `{system?, prompt?, messages?}` as the caller gave it.
pub const VERCEL_PROMPT: &str = "ai.prompt";
pub const VERCEL_RESPONSE_TEXT: &str = "ai.response.text";
/// JSON text of `[{toolCallId, toolName, args|input}]`.
pub const VERCEL_RESPONSE_TOOL_CALLS: &str = "ai.response.toolCalls";
pub const VERCEL_RESPONSE_OBJECT: &str = "ai.response.object";

/// Deprecated span events carrying messages (attributes `content`, `role`, `tool_calls`,
/// `id`; `gen_ai.choice` has `message` and `finish_reason`).
pub const EVENT_SYSTEM_MESSAGE: &str = "gen_ai.system.message";
pub const EVENT_USER_MESSAGE: &str = "gen_ai.user.message";
pub const EVENT_ASSISTANT_MESSAGE: &str = "gen_ai.assistant.message";
pub const EVENT_TOOL_MESSAGE: &str = "gen_ai.tool.message";
pub const EVENT_CHOICE: &str = "gen_ai.choice";
/// Older still: one event per direction, the messages as JSON text in one attribute
/// ([`EVENT_PROMPT_ATTR`], [`EVENT_COMPLETION_ATTR`]).
pub const EVENT_CONTENT_PROMPT: &str = "gen_ai.content.prompt";
pub const EVENT_CONTENT_COMPLETION: &str = "gen_ai.content.completion";
pub const EVENT_PROMPT_ATTR: &str = "gen_ai.prompt";
pub const EVENT_COMPLETION_ATTR: &str = "gen_ai.completion";
/// Current: an event that carries `gen_ai.input.messages` etc. as its attributes.
pub const EVENT_INFERENCE_DETAILS: &str = "gen_ai.client.inference.operation.details";

// ---------------------------------------------------------------- tools

/// Its presence alone marks a tool span.
pub const TOOL_NAME: &[&str] = &["gen_ai.tool.name", "tool.name", "ai.toolCall.name"];
pub const TOOL_ARGS: &[&str] = &["gen_ai.tool.call.arguments", "ai.toolCall.args"];
pub const TOOL_RESULT: &[&str] = &["gen_ai.tool.call.result", "ai.toolCall.result"];

// ---------------------------------------------------------------- logs

pub const EVENT_NAME: &str = "event.name";
pub const LOG_SESSION: &[&str] = &["session.id", "conversation.id"];
pub const LOG_USER: &[&str] = &[
    "user.id",
    "user.account_uuid",
    "user.account_id",
    "user.email",
];
pub const DURATION_MS: &str = "duration_ms";
pub const MODEL: &str = "model";
pub const STATUS_CODE: &str = "status_code";
pub const ERROR: &str = "error";

/// Claude Code: body `claude_code.api_request`, `event.name` = `api_request`. Anthropic
/// semantics: `input_tokens` excludes the cache.
pub mod claude {
    pub const SERVICE: &str = "claude-code";
    pub const API_REQUEST: &[&str] = &["claude_code.api_request", "api_request"];
    pub const API_ERROR: &[&str] = &["claude_code.api_error", "api_error"];
    pub const COST_USD: &str = "cost_usd";
    pub const INPUT: &str = "input_tokens";
    pub const OUTPUT: &str = "output_tokens";
    pub const CACHE_READ: &str = "cache_read_tokens";
    pub const CACHE_WRITE: &str = "cache_creation_tokens";
}

/// Codex CLI: `codex.sse_event` with `event.kind` = `response.completed`. OpenAI Responses
/// semantics: input includes cached, output includes reasoning; `tool_token_count` is a
/// running total of input + output, not a kind of token, and is not read.
pub mod codex {
    pub const SERVICE: &str = "codex-cli";
    pub const SSE_EVENT: &str = "codex.sse_event";
    pub const EVENT_KIND: &str = "event.kind";
    pub const COMPLETED: &str = "response.completed";
    pub const INPUT: &str = "input_token_count";
    pub const OUTPUT: &str = "output_token_count";
    pub const CACHED: &str = "cached_token_count";
    pub const REASONING: &str = "reasoning_token_count";
}

/// Gemini CLI: `gemini_cli.api_response`. Gemini semantics: input includes cached content,
/// output excludes thoughts, tool-use prompts are counted beside the input.
pub mod gemini {
    pub const SERVICE: &str = "gemini-cli";
    pub const API_RESPONSE: &str = "gemini_cli.api_response";
    pub const API_ERROR: &str = "gemini_cli.api_error";
    pub const INPUT: &str = "input_token_count";
    pub const OUTPUT: &str = "output_token_count";
    pub const CACHED: &str = "cached_content_token_count";
    pub const THOUGHTS: &str = "thoughts_token_count";
    pub const TOOL: &str = "tool_token_count";
    pub const RESPONSE_TEXT: &str = "response_text";
}

// ---------------------------------------------------------------- keys llmflow adds

/// Keys llmflow adds to a span's attributes object beside the sender's own attributes.
pub mod added {
    pub const RESOURCE: &str = "resource";
    pub const SCOPE: &str = "scope";
    pub const SPAN_KIND: &str = "span.kind";
    pub const STATUS: &str = "status";
    pub const EVENTS: &str = "events";
    pub const LINKS: &str = "links";
    pub const AGENT: &str = "llmflow.agent";
    pub const OPERATION: &str = "llmflow.operation";
    /// Only a total token count was sent: it is in `usage.input` and the call is unpriced.
    pub const USAGE_TOTAL_ONLY: &str = "llmflow.usage_total_only";
    /// On a record made from a log event: the log record's id.
    pub const LOG_ID: &str = "llmflow.log_id";
}

/// Provider names as llmflow's routing table spells them (`openai`, `anthropic`, `gemini`,
/// `azure`...), from OTel's `gen_ai.provider.name` values, older `gen_ai.system` values and
/// the Vercel AI SDK's `ai.model.provider` (`openai.chat`, `anthropic.messages`).
pub fn normalize_provider(raw: &str) -> String {
    let lower = raw.trim().to_ascii_lowercase();
    let full = match lower.as_str() {
        "az.ai.openai" | "azure.ai.openai" | "azure_openai" | "azure-openai"
        | "az.ai.inference" | "azure.ai.inference" => return "azure".into(),
        "gcp.gemini" | "gcp.gen_ai" | "google_genai" | "google.generative-ai" => {
            return "gemini".into()
        }
        "gcp.vertex_ai" | "vertexai" => return "vertex_ai".into(),
        "aws.bedrock" | "amazon-bedrock" => return "bedrock".into(),
        "ibm.watsonx.ai" => return "watsonx".into(),
        other if other.starts_with("google.vertex") => return "vertex_ai".into(),
        other => other,
    };
    // Vercel: "<provider>.<api>".
    let head = full.split('.').next().unwrap_or(full);
    match head {
        "google" => "gemini",
        "mistral_ai" | "mistralai" => "mistral",
        "x_ai" => "xai",
        "together_ai" | "togetherai" => "together",
        "amazon-bedrock" => "bedrock",
        "azure-openai" | "azure_openai" => "azure",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::normalize_provider;

    #[test]
    fn providers_are_spelled_like_the_routing_table() {
        for (raw, want) in [
            ("openai", "openai"),
            ("Anthropic", "anthropic"),
            ("anthropic.messages", "anthropic"),
            ("openai.chat", "openai"),
            ("openai.responses", "openai"),
            ("google.generative-ai", "gemini"),
            ("gcp.gemini", "gemini"),
            ("gcp.vertex_ai", "vertex_ai"),
            ("google.vertex.chat", "vertex_ai"),
            ("az.ai.openai", "azure"),
            ("aws.bedrock", "bedrock"),
            ("mistral_ai", "mistral"),
            ("x_ai", "xai"),
            ("groq", "groq"),
        ] {
            assert_eq!(normalize_provider(raw), want, "{raw}");
        }
    }
}
