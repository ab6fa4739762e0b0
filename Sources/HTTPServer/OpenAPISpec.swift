/// The OpenAPI 3.1 description of the API port, served at `GET /openapi.json`. It states what the parsers accept
/// (ranges, types, which fields exist: anything else is a 400) and every status a route can answer, so that a
/// client generator or a fuzzer (the tests run schemathesis against a live server) can hold the server to it.
/// `OpenAPISpecTests` checks that every route the API port registers is described here and that the document parses.
enum OpenAPISpec {
    static let json = #"""
    {
      "openapi": "3.1.0",
      "info": {"title": "ModelHost API", "version": "0.1.0",
               "description": "OpenAI-compatible inference API. The admin API (port 11441, loopback) is not described here."},
      "paths": {
        "/v1/chat/completions": {
          "post": {
            "operationId": "createChatCompletion",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ChatRequest"}}}},
            "responses": {
              "200": {"description": "The completion, or with stream=true its server-sent events",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Completion"}},
                                  "text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "429": {"$ref": "#/components/responses/Error"}, "502": {"$ref": "#/components/responses/Error"},
              "503": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/completions": {
          "post": {
            "operationId": "createCompletion",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CompletionRequest"}}}},
            "responses": {
              "200": {"description": "The completion, or with stream=true its server-sent events",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Completion"}},
                                  "text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "429": {"$ref": "#/components/responses/Error"}, "502": {"$ref": "#/components/responses/Error"},
              "503": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/tokenize": {
          "post": {
            "operationId": "tokenize",
            "description": "The model's own tokenizer (llama-server's fields). Pieces are strings, or byte arrays where a token holds part of a UTF-8 character.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["content"],
              "properties": {"model": {"type": ["string", "null"], "minLength": 1, "default": "default"},
                             "content": {"type": "string"}, "add_special": {"type": ["boolean", "null"], "default": true},
                             "parse_special": {"type": ["boolean", "null"], "default": true},
                             "with_pieces": {"type": ["boolean", "null"], "default": false}}},
              "examples": {"hello": {"value": {"model": "default", "content": "Hello, world", "with_pieces": true}}}}}},
            "responses": {
              "200": {"description": "Token ids, or {id, piece} objects with with_pieces", "content": {"application/json": {"schema": {
                "type": "object", "required": ["model", "tokens"],
                "properties": {"model": {"type": "string"}, "tokens": {"type": "array", "items": {"oneOf": [
                  {"type": "integer"},
                  {"type": "object", "required": ["id", "piece"], "properties": {"id": {"type": "integer"},
                    "piece": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "integer"}}]}}}]}}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "502": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"},
              "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/messages": {
          "post": {
            "operationId": "createMessage",
            "description": "Anthropic's Messages API on the same engine; errors in Anthropic's shape",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/MessagesRequest"}}}},
            "responses": {
              "200": {"description": "The message, or with stream=true its events (message_start ... message_stop)",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/AnthropicMessageResponse"}},
                                  "text/event-stream": {"schema": {"$ref": "#/components/schemas/NamedEvent"}}}},
              "400": {"$ref": "#/components/responses/AnthropicError"}, "401": {"$ref": "#/components/responses/AnthropicError"},
              "404": {"$ref": "#/components/responses/AnthropicError"}, "413": {"$ref": "#/components/responses/AnthropicError"},
              "429": {"$ref": "#/components/responses/AnthropicError"}, "502": {"$ref": "#/components/responses/AnthropicError"},
              "503": {"$ref": "#/components/responses/AnthropicError"}, "504": {"$ref": "#/components/responses/AnthropicError"}
            }
          }
        },
        "/v1/messages/count_tokens": {
          "post": {
            "operationId": "countMessageTokens",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CountTokensRequest"}}}},
            "responses": {
              "200": {"description": "The prompt's token count with the model's chat template", "content": {"application/json": {"schema": {
                "type": "object", "required": ["input_tokens"], "properties": {"input_tokens": {"type": "integer", "minimum": 0}}}}}},
              "400": {"$ref": "#/components/responses/AnthropicError"}, "401": {"$ref": "#/components/responses/AnthropicError"},
              "404": {"$ref": "#/components/responses/AnthropicError"}, "413": {"$ref": "#/components/responses/AnthropicError"},
              "429": {"$ref": "#/components/responses/AnthropicError"}, "502": {"$ref": "#/components/responses/AnthropicError"},
              "503": {"$ref": "#/components/responses/AnthropicError"}, "504": {"$ref": "#/components/responses/AnthropicError"}
            }
          }
        },
        "/v1/responses": {
          "post": {
            "operationId": "createResponse",
            "description": "OpenAI's Responses API: input items, instructions, function tools, previous_response_id (responses kept in memory, bounded; store false keeps none)",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResponsesRequest"}}}},
            "responses": {
              "200": {"description": "The response object, or with stream=true its events (response.created ... response.completed)",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResponseObject"}},
                                  "text/event-stream": {"schema": {"$ref": "#/components/schemas/NamedEvent"}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "429": {"$ref": "#/components/responses/Error"}, "502": {"$ref": "#/components/responses/Error"},
              "503": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/responses/{response_id}": {
          "parameters": [{"name": "response_id", "in": "path", "required": true, "schema": {"type": "string"}}],
          "get": {"operationId": "getResponse", "responses": {
            "200": {"description": "A stored response", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ResponseObject"}}}},
            "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}},
          "delete": {"operationId": "deleteResponse", "responses": {
            "200": {"description": "Deleted", "content": {"application/json": {"schema": {"type": "object",
              "required": ["id", "deleted"], "properties": {"id": {"type": "string"}, "deleted": {"const": true}}}}}},
            "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}}}
        },
        "/v1/embeddings": {
          "post": {
            "operationId": "createEmbedding",
            "description": "One vector per input from an embedding model (a text encoder; GET /v1/models shows kind \"embedding\"). Inputs longer than the model's context are refused unless truncate is true.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["model", "input"],
              "properties": {"model": {"type": "string", "minLength": 1},
                             "input": {"oneOf": [
                               {"type": "string", "minLength": 1},
                               {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}},
                               {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 2147483647}},
                               {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "array", "minItems": 1,
                                 "items": {"type": "integer", "minimum": 0, "maximum": 2147483647}}}]},
                             "encoding_format": {"enum": ["float", "base64", null], "default": "float"},
                             "dimensions": {"type": ["integer", "null"], "minimum": 1, "maximum": 65536},
                             "truncate": {"type": ["boolean", "null"], "default": false},
                             "user": {"type": ["string", "null"]}}},
              "examples": {"two": {"value": {"model": "all-MiniLM-L6-v2", "input": ["A cat sits on the mat.", "Un chat est assis."]}}}}}},
            "responses": {
              "200": {"description": "The vectors, in input order", "content": {"application/json": {"schema": {
                "type": "object", "required": ["object", "data", "model", "usage"],
                "properties": {"object": {"const": "list"}, "model": {"type": "string"},
                  "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"],
                    "properties": {"object": {"const": "embedding"}, "index": {"type": "integer"},
                      "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}},
                                              {"type": "string", "description": "base64 of little-endian float32"}]}}}},
                  "usage": {"type": "object", "required": ["prompt_tokens", "total_tokens"],
                    "properties": {"prompt_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}}}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "429": {"$ref": "#/components/responses/Error"}, "502": {"$ref": "#/components/responses/Error"},
              "503": {"$ref": "#/components/responses/Error"}, "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/detokenize": {
          "post": {
            "operationId": "detokenize",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "required": ["tokens"],
              "properties": {"model": {"type": ["string", "null"], "minLength": 1, "default": "default"},
                             "tokens": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 2147483647}}}},
              "examples": {"ids": {"value": {"model": "default", "tokens": [19556, 28, 905]}}}}}},
            "responses": {
              "200": {"description": "The text the tokens decode to", "content": {"application/json": {"schema": {
                "type": "object", "required": ["model", "content"],
                "properties": {"model": {"type": "string"}, "content": {"type": "string"}}}}}},
              "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"},
              "404": {"$ref": "#/components/responses/Error"}, "413": {"$ref": "#/components/responses/Error"},
              "502": {"$ref": "#/components/responses/Error"}, "503": {"$ref": "#/components/responses/Error"},
              "504": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/models": {
          "get": {
            "operationId": "listModels",
            "responses": {
              "200": {"description": "Every servable model", "content": {"application/json": {"schema": {
                "type": "object", "required": ["object", "data"],
                "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}}}}}},
              "401": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/models/{model}": {
          "get": {
            "operationId": "retrieveModel",
            "parameters": [{"name": "model", "in": "path", "required": true, "schema": {"type": "string", "minLength": 1},
                            "examples": {"default": {"value": "default"}}}],
            "responses": {
              "200": {"description": "The model", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Model"}}}},
              "401": {"$ref": "#/components/responses/Error"}, "404": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/api/chat": {
          "post": {
            "operationId": "ollamaChat",
            "description": "Ollama's chat API on the same engine: streams newline-delimited JSON objects by default (stream false: one object). Options that have no effect here are named in X-ModelHost-Ignored-Options.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OllamaChatRequest"}}}},
            "responses": {
              "200": {"description": "The answer, or its stream of objects ending with done: true",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OllamaAnswer"}},
                                  "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/OllamaAnswer"}}}},
              "400": {"$ref": "#/components/responses/OllamaError"}, "401": {"$ref": "#/components/responses/OllamaError"},
              "404": {"$ref": "#/components/responses/OllamaError"}, "413": {"$ref": "#/components/responses/OllamaError"},
              "429": {"$ref": "#/components/responses/OllamaError"}, "502": {"$ref": "#/components/responses/OllamaError"},
              "503": {"$ref": "#/components/responses/OllamaError"}, "504": {"$ref": "#/components/responses/OllamaError"}
            }
          }
        },
        "/api/generate": {
          "post": {
            "operationId": "ollamaGenerate",
            "description": "Ollama's generate API: a prompt (with the model's chat template unless raw), streamed by default; an empty prompt loads the model.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OllamaGenerateRequest"}}}},
            "responses": {
              "200": {"description": "The answer, or its stream of objects ending with done: true",
                      "content": {"application/json": {"schema": {"$ref": "#/components/schemas/OllamaAnswer"}},
                                  "application/x-ndjson": {"schema": {"$ref": "#/components/schemas/OllamaAnswer"}}}},
              "400": {"$ref": "#/components/responses/OllamaError"}, "401": {"$ref": "#/components/responses/OllamaError"},
              "404": {"$ref": "#/components/responses/OllamaError"}, "413": {"$ref": "#/components/responses/OllamaError"},
              "429": {"$ref": "#/components/responses/OllamaError"}, "502": {"$ref": "#/components/responses/OllamaError"},
              "503": {"$ref": "#/components/responses/OllamaError"}, "504": {"$ref": "#/components/responses/OllamaError"}
            }
          }
        },
        "/api/embed": {
          "post": {
            "operationId": "ollamaEmbed",
            "description": "Ollama's embed API: one vector per input from an embedding model; inputs over the context are cut unless truncate is false.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
              "type": "object", "required": ["model", "input"], "additionalProperties": false, "properties": {
                "model": {"type": "string", "minLength": 1},
                "input": {"oneOf": [{"type": "string", "minLength": 1},
                                    {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}}]},
                "truncate": {"type": "boolean"}, "dimensions": {"type": "integer", "minimum": 1, "maximum": 65536},
                "options": {"type": "object"}, "keep_alive": {}}}}}},
            "responses": {
              "200": {"description": "The vectors", "content": {"application/json": {"schema": {"type": "object",
                "required": ["model", "embeddings"], "properties": {"model": {"type": "string"},
                "embeddings": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}}}},
              "400": {"$ref": "#/components/responses/OllamaError"}, "401": {"$ref": "#/components/responses/OllamaError"},
              "404": {"$ref": "#/components/responses/OllamaError"}, "413": {"$ref": "#/components/responses/OllamaError"},
              "429": {"$ref": "#/components/responses/OllamaError"}, "502": {"$ref": "#/components/responses/OllamaError"},
              "503": {"$ref": "#/components/responses/OllamaError"}, "504": {"$ref": "#/components/responses/OllamaError"}
            }
          }
        },
        "/api/show": {
          "post": {
            "operationId": "ollamaShow",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
              "type": "object", "additionalProperties": false, "properties": {
                "model": {"type": "string", "minLength": 1}, "name": {"type": "string", "minLength": 1},
                "verbose": {"type": "boolean"}}}}}},
            "responses": {
              "200": {"description": "What the model is and does", "content": {"application/json": {"schema": {
                "type": "object", "required": ["details", "capabilities"]}}}},
              "400": {"$ref": "#/components/responses/OllamaError"}, "401": {"$ref": "#/components/responses/OllamaError"},
              "404": {"$ref": "#/components/responses/OllamaError"}, "413": {"$ref": "#/components/responses/OllamaError"},
              "429": {"$ref": "#/components/responses/OllamaError"}, "502": {"$ref": "#/components/responses/OllamaError"},
              "503": {"$ref": "#/components/responses/OllamaError"}, "504": {"$ref": "#/components/responses/OllamaError"}
            }
          }
        },
        "/api/tags": {
          "get": {"operationId": "ollamaTags", "responses": {
            "200": {"description": "The models", "content": {"application/json": {"schema": {"type": "object",
              "required": ["models"], "properties": {"models": {"type": "array", "items": {"type": "object",
                "required": ["name", "model", "size", "details"]}}}}}}},
            "401": {"$ref": "#/components/responses/OllamaError"}}}
        },
        "/api/ps": {
          "get": {"operationId": "ollamaRunning", "responses": {
            "200": {"description": "The models loaded in workers", "content": {"application/json": {"schema": {"type": "object",
              "required": ["models"], "properties": {"models": {"type": "array"}}}}}},
            "401": {"$ref": "#/components/responses/OllamaError"}}}
        },
        "/api/version": {
          "get": {"operationId": "ollamaVersion", "responses": {
            "200": {"description": "The Ollama API level followed", "content": {"application/json": {"schema": {"type": "object",
              "required": ["version"], "properties": {"version": {"type": "string"}}}}}},
            "401": {"$ref": "#/components/responses/OllamaError"}}}
        },
        "/": {
          "get": {"operationId": "chatPage", "description": "The browser chat page (off with --no-chat-page)", "responses": {
            "200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
            "404": {"$ref": "#/components/responses/Error"}}}
        },
        "/health": {
          "get": {"operationId": "health", "responses": {"200": {"description": "The process runs",
            "content": {"application/json": {"schema": {"type": "object", "required": ["status"],
              "properties": {"status": {"const": "ok"}, "uptime_seconds": {"type": "integer"}}}}}}}}
        },
        "/ready": {
          "get": {"operationId": "ready", "responses": {
            "200": {"$ref": "#/components/responses/Readiness"}, "503": {"$ref": "#/components/responses/Readiness"}}}
        },
        "/openapi.json": {
          "get": {"operationId": "openapi", "responses": {"200": {"description": "This document",
            "content": {"application/json": {"schema": {"type": "object"}}}}}}
        }
      },
      "components": {
        "responses": {
          "Error": {"description": "An error in OpenAI's shape", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "AnthropicError": {"description": "An error in Anthropic's shape", "content": {"application/json": {"schema": {
            "type": "object", "required": ["type", "error"], "properties": {"type": {"const": "error"}, "error": {
              "type": "object", "required": ["type", "message"],
              "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}}}}},
          "OllamaError": {"description": "An error in Ollama's shape", "content": {"application/json": {"schema": {
            "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}},
          "Readiness": {"description": "Whether the server takes requests", "content": {"application/json": {"schema": {
            "type": "object", "required": ["ready", "conditions"],
            "properties": {"ready": {"type": "boolean"}, "conditions": {"type": "object"}, "slots_available": {"type": "integer"}}}}}}
        },
        "schemas": {
          "Event": {"description": "One server-sent event: data is a chunk, an error object, or [DONE]",
            "type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}},
          "NamedEvent": {"description": "One server-sent event with its name (message_start, response.created, ...) and a JSON object as data",
            "type": "object", "required": ["event", "data"], "properties": {"event": {"type": "string"}, "data": {"type": "string"}}},
          "AnthropicMessageResponse": {"type": "object", "required": ["id", "type", "role", "content", "stop_reason", "usage"], "properties": {
            "id": {"type": "string"}, "type": {"const": "message"}, "role": {"const": "assistant"},
            "content": {"type": "array", "items": {"type": "object", "required": ["type"]}},
            "stop_reason": {"enum": ["end_turn", "max_tokens", "tool_use", "stop_sequence", null]},
            "usage": {"type": "object", "required": ["input_tokens", "output_tokens"]}}},
          "ResponseObject": {"type": "object", "required": ["id", "object", "status", "output"], "properties": {
            "id": {"type": "string"}, "object": {"const": "response"},
            "status": {"enum": ["completed", "incomplete", "in_progress", "failed"]},
            "output": {"type": "array", "items": {"type": "object", "required": ["type"]}}}},
          "ResponsesRequest": {"type": "object", "required": ["model", "input"], "additionalProperties": false,
            "properties": {
              "model": {"$ref": "#/components/schemas/Sampling/properties/model"},
              "input": {"oneOf": [{"type": "string", "minLength": 1}, {"type": "array", "minItems": 1, "items": {"oneOf": [
                {"type": "object", "required": ["role", "content"], "additionalProperties": false, "properties": {
                  "type": {"const": "message"}, "role": {"enum": ["user", "assistant", "system", "developer"]},
                  "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object",
                    "required": ["type", "text"], "additionalProperties": false, "properties": {
                      "type": {"enum": ["input_text", "output_text"]}, "text": {"type": "string"}}}}]}}},
                {"type": "object", "required": ["type", "call_id", "name", "arguments"], "additionalProperties": false,
                 "properties": {"type": {"const": "function_call"}, "call_id": {"type": "string"}, "name": {"type": "string"},
                   "arguments": {"type": "string", "description": "JSON text"}, "id": {"type": "string"}}},
                {"type": "object", "required": ["type", "call_id", "output"], "additionalProperties": false,
                 "properties": {"type": {"const": "function_call_output"}, "call_id": {"type": "string"},
                   "output": {"type": "string"}}}]}}]},
              "instructions": {"type": "string"},
              "previous_response_id": {"type": "string"},
              "store": {"type": "boolean"},
              "stream": {"type": "boolean"},
              "temperature": {"type": "number", "minimum": 0, "maximum": 2},
              "top_p": {"type": "number", "minimum": 0, "maximum": 1},
              "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 16777216},
              "metadata": {"type": "object"},
              "user": {"type": "string"},
              "prompt_cache_key": {"type": "string"},
              "parallel_tool_calls": {"type": "boolean"},
              "tools": {"type": "array", "items": {"type": "object", "required": ["type", "name"], "additionalProperties": false,
                "properties": {"type": {"const": "function"}, "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                  "description": {"type": "string"}, "strict": {"type": "boolean"},
                  "parameters": {"type": "object", "required": ["type"], "properties": {"type": {"const": "object"}}}}}},
              "tool_choice": {"oneOf": [{"enum": ["none", "auto", "required"]}, {"type": "object", "required": ["type", "name"],
                "additionalProperties": false, "properties": {"type": {"const": "function"}, "name": {"type": "string"}}}]},
              "reasoning": {"type": "object", "additionalProperties": false, "properties": {
                "effort": {"enum": ["none", "minimal", "low", "medium", "high"]}, "summary": {"type": "string"}}},
              "text": {"type": "object", "additionalProperties": false, "properties": {"format": {"type": "object"},
                "verbosity": {"type": "string"}}}}},
          "MessagesRequest": {"type": "object", "required": ["model", "max_tokens", "messages"], "additionalProperties": false,
            "properties": {
              "model": {"$ref": "#/components/schemas/Sampling/properties/model"},
              "max_tokens": {"type": "integer", "minimum": 1, "maximum": 16777216, "examples": [8]},
              "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/AnthropicMessage"}},
              "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/TextBlock"}}]},
              "temperature": {"type": "number", "minimum": 0, "maximum": 1},
              "top_p": {"type": "number", "minimum": 0, "maximum": 1},
              "top_k": {"type": "integer", "minimum": 0, "maximum": 1000000},
              "stop_sequences": {"type": "array", "items": {"type": "string", "minLength": 1}},
              "stream": {"type": "boolean"},
              "metadata": {"type": "object", "additionalProperties": false, "properties": {"user_id": {"type": "string"}}},
              "thinking": {"type": "object", "required": ["type"], "additionalProperties": false, "properties": {
                "type": {"enum": ["enabled", "adaptive", "disabled"]}, "budget_tokens": {"type": "integer", "minimum": 1},
                "display": {"const": "summarized"}}},
              "output_config": {"type": "object", "additionalProperties": false, "properties": {
                "effort": {"enum": ["low", "medium", "high", "xhigh", "max"]},
                "format": {"type": "object", "required": ["type", "schema"], "additionalProperties": false, "properties": {
                  "type": {"const": "json_schema"}, "schema": {"type": "object"}}}}},
              "tools": {"type": "array", "items": {"type": "object", "required": ["name", "input_schema"],
                "additionalProperties": false, "properties": {"name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "description": {"type": "string"}, "input_schema": {"type": "object", "required": ["type"],
                "properties": {"type": {"const": "object"}}}}}},
              "tool_choice": {"type": "object", "required": ["type"], "properties": {
                "type": {"enum": ["auto", "any", "tool", "none"]}, "name": {"type": "string"},
                "disable_parallel_tool_use": {"type": "boolean"}}}}},
          "CountTokensRequest": {"type": "object", "required": ["model", "messages"], "additionalProperties": false,
            "properties": {
              "model": {"$ref": "#/components/schemas/Sampling/properties/model"},
              "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/AnthropicMessage"}},
              "system": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/TextBlock"}}]},
              "tools": {"$ref": "#/components/schemas/MessagesRequest/properties/tools"}}},
          "TextBlock": {"type": "object", "required": ["type", "text"], "additionalProperties": false,
            "properties": {"type": {"const": "text"}, "text": {"type": "string"}}},
          "AnthropicMessage": {"type": "object", "required": ["role", "content"], "additionalProperties": false, "properties": {
            "role": {"enum": ["user", "assistant"]},
            "content": {"oneOf": [{"type": "string"}, {"type": "array", "minItems": 1, "items": {"oneOf": [
              {"$ref": "#/components/schemas/TextBlock"},
              {"type": "object", "required": ["type", "tool_use_id"], "additionalProperties": false, "properties": {
                "type": {"const": "tool_result"}, "tool_use_id": {"type": "string"},
                "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/TextBlock"}}]},
                "is_error": {"type": "boolean"}}}]}}]}}},
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["message", "type"],
            "properties": {"message": {"type": "string"}, "type": {"type": "string"},
                           "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}},
          "Model": {"type": "object", "required": ["id", "object", "created", "owned_by"], "properties": {
            "id": {"type": "string"}, "object": {"const": "model"}, "created": {"type": "integer"},
            "owned_by": {"type": "string"}, "context_length": {"type": ["integer", "null"]},
            "input_modalities": {"type": "array", "items": {"type": "string"}}, "loaded": {"type": "boolean"},
            "kind": {"enum": ["generation", "embedding"]},
            "embedding_dimension": {"type": ["integer", "null"], "description": "embedding models only"},
            "defaults": {"type": "object", "description": "generation models only"},
            "defaults_source": {"type": "object"}}},
          "Completion": {"type": "object", "required": ["id", "object", "created", "model", "choices"], "properties": {
            "id": {"type": "string"}, "object": {"enum": ["chat.completion", "text_completion"]},
            "created": {"type": "integer"}, "model": {"type": "string"},
            "choices": {"type": "array", "items": {"type": "object", "required": ["index"]}},
            "usage": {"type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"]}}},
          "Sampling": {"type": "object", "properties": {
            "model": {"type": "string", "minLength": 1, "examples": ["default"]},
            "temperature": {"type": "number", "minimum": 0, "maximum": 2},
            "top_p": {"type": "number", "minimum": 0, "maximum": 1},
            "top_k": {"type": "integer", "minimum": 0, "maximum": 1000000},
            "min_p": {"type": "number", "minimum": 0, "maximum": 1},
            "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
            "repetition_penalty": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "seed": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807},
            "logit_bias": {"type": "object", "maxProperties": 1024, "propertyNames": {"pattern": "^[0-9]+$"},
                           "additionalProperties": {"type": "number", "minimum": -100, "maximum": 100}},
            "stop": {"oneOf": [{"type": "string", "minLength": 1},
                               {"type": "array", "maxItems": 4, "items": {"type": "string", "minLength": 1}}]},
            "n": {"type": "integer", "minimum": 1, "maximum": 16},
            "stream": {"type": "boolean"},
            "user": {"type": "string"},
            "prompt_cache_key": {"type": "string", "description": "Routing key for a balancer in front of replicas (conversation affinity); the prefix cache itself needs none"}}},
          "ChatRequest": {"type": "object", "required": ["model", "messages"], "additionalProperties": false,
            "dependentSchemas": {"stream_options": {"required": ["stream"], "properties": {"stream": {"const": true}}},
                                 "top_logprobs": {"required": ["logprobs"], "properties": {"logprobs": {"const": true}}},
                                 "max_completion_tokens": {"not": {"required": ["max_tokens"]}}},
            "properties": {
              "model": {"$ref": "#/components/schemas/Sampling/properties/model"},
              "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"},
                           "examples": [[{"role": "user", "content": "Say hi."}]]},
              "temperature": {"$ref": "#/components/schemas/Sampling/properties/temperature"},
              "top_p": {"$ref": "#/components/schemas/Sampling/properties/top_p"},
              "top_k": {"$ref": "#/components/schemas/Sampling/properties/top_k"},
              "min_p": {"$ref": "#/components/schemas/Sampling/properties/min_p"},
              "presence_penalty": {"$ref": "#/components/schemas/Sampling/properties/presence_penalty"},
              "frequency_penalty": {"$ref": "#/components/schemas/Sampling/properties/frequency_penalty"},
              "repetition_penalty": {"$ref": "#/components/schemas/Sampling/properties/repetition_penalty"},
              "seed": {"$ref": "#/components/schemas/Sampling/properties/seed"},
              "logit_bias": {"$ref": "#/components/schemas/Sampling/properties/logit_bias"},
              "stop": {"$ref": "#/components/schemas/Sampling/properties/stop"},
              "n": {"$ref": "#/components/schemas/Sampling/properties/n"},
              "stream": {"$ref": "#/components/schemas/Sampling/properties/stream"},
              "user": {"$ref": "#/components/schemas/Sampling/properties/user"},
              "prompt_cache_key": {"$ref": "#/components/schemas/Sampling/properties/prompt_cache_key"},
              "max_tokens": {"type": "integer", "minimum": 1, "maximum": 16777216, "examples": [8]},
              "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 16777216},
              "stream_options": {"type": "object", "additionalProperties": false,
                                 "properties": {"include_usage": {"type": "boolean"}}},
              "logprobs": {"type": "boolean"},
              "top_logprobs": {"type": "integer", "minimum": 0, "maximum": 20},
              "response_format": {"$ref": "#/components/schemas/ResponseFormat"},
              "tools": {"type": "array", "maxItems": 128, "items": {"$ref": "#/components/schemas/Tool"}},
              "tool_choice": {"oneOf": [{"enum": ["none", "auto", "required"]},
                {"type": "object", "required": ["type", "function"], "additionalProperties": false, "properties": {
                  "type": {"const": "function"}, "function": {"type": "object", "required": ["name"],
                  "additionalProperties": false, "properties": {"name": {"type": "string"}}}}}]},
              "parallel_tool_calls": {"type": "boolean"},
              "chat_template_kwargs": {"type": "object", "description": "Extra variables for the model's chat template, e.g. {\"enable_thinking\": false}"},
              "reasoning_effort": {"enum": ["none", "minimal", "low", "medium", "high"],
                                   "description": "none and minimal set enable_thinking false for reasoning templates"},
              "store": {"const": false},
              "service_tier": {"enum": ["auto", "default"]}}},
          "CompletionRequest": {"type": "object", "required": ["model", "prompt"], "additionalProperties": false,
            "dependentSchemas": {"stream_options": {"required": ["stream"], "properties": {"stream": {"const": true}}},
                                 "best_of": {"properties": {"n": {"const": 1}}}},
            "properties": {
              "model": {"$ref": "#/components/schemas/Sampling/properties/model"},
              "prompt": {"oneOf": [{"type": "string", "minLength": 1},
                                   {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                                   {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 2147483647}},
                                   {"type": "array", "minItems": 1, "items": {"type": "array", "minItems": 1,
                                     "items": {"type": "integer", "minimum": 0, "maximum": 2147483647}}}],
                         "examples": ["Once upon a time"]},
              "temperature": {"$ref": "#/components/schemas/Sampling/properties/temperature"},
              "top_p": {"$ref": "#/components/schemas/Sampling/properties/top_p"},
              "top_k": {"$ref": "#/components/schemas/Sampling/properties/top_k"},
              "min_p": {"$ref": "#/components/schemas/Sampling/properties/min_p"},
              "presence_penalty": {"$ref": "#/components/schemas/Sampling/properties/presence_penalty"},
              "frequency_penalty": {"$ref": "#/components/schemas/Sampling/properties/frequency_penalty"},
              "repetition_penalty": {"$ref": "#/components/schemas/Sampling/properties/repetition_penalty"},
              "seed": {"$ref": "#/components/schemas/Sampling/properties/seed"},
              "logit_bias": {"$ref": "#/components/schemas/Sampling/properties/logit_bias"},
              "stop": {"$ref": "#/components/schemas/Sampling/properties/stop"},
              "n": {"$ref": "#/components/schemas/Sampling/properties/n"},
              "stream": {"$ref": "#/components/schemas/Sampling/properties/stream"},
              "user": {"$ref": "#/components/schemas/Sampling/properties/user"},
              "prompt_cache_key": {"$ref": "#/components/schemas/Sampling/properties/prompt_cache_key"},
              "max_tokens": {"type": "integer", "minimum": 0, "maximum": 16777216, "examples": [8]},
              "stream_options": {"type": "object", "additionalProperties": false,
                                 "properties": {"include_usage": {"type": "boolean"}}},
              "logprobs": {"type": "integer", "minimum": 0, "maximum": 5},
              "echo": {"type": "boolean"},
              "best_of": {"const": 1, "description": "Accepted only as a no-op: best_of equal to n (ranking choices is not supported)"},
              "response_format": {"$ref": "#/components/schemas/ResponseFormat"}}},
          "Message": {"oneOf": [
            {"type": "object", "required": ["role", "content"], "additionalProperties": false, "properties": {
              "role": {"enum": ["system", "developer", "user"]},
              "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/ContentPart"}}]},
              "name": {"type": "string"}}},
            {"type": "object", "required": ["role", "content"], "additionalProperties": false, "properties": {
              "role": {"const": "assistant"},
              "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/ContentPart"}}]},
              "name": {"type": "string"}, "reasoning_content": {"type": "string"}}},
            {"type": "object", "required": ["role", "tool_calls"], "additionalProperties": false, "properties": {
              "role": {"const": "assistant"}, "content": {"type": ["string", "null"]}, "name": {"type": "string"},
              "reasoning_content": {"type": "string"},
              "tool_calls": {"type": "array", "items": {"type": "object", "required": ["id", "type", "function"],
                "additionalProperties": false, "properties": {"id": {"type": "string"}, "type": {"const": "function"},
                "function": {"type": "object", "required": ["name", "arguments"], "additionalProperties": false,
                  "properties": {"name": {"type": "string"}, "arguments": {"type": "string",
                    "description": "The arguments as JSON text"}}}}}}}},
            {"type": "object", "required": ["role", "content", "tool_call_id"], "additionalProperties": false,
             "properties": {"role": {"const": "tool"}, "content": {"type": "string"}, "tool_call_id": {"type": "string"},
               "name": {"type": "string"}}}]},
          "OllamaOptions": {"type": "object", "description": "Ollama's options: these are honoured; Ollama's others are accepted without effect and named in X-ModelHost-Ignored-Options",
            "properties": {
              "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_k": {"type": "integer", "minimum": 0, "maximum": 1000000},
              "top_p": {"type": "number", "minimum": 0, "maximum": 1}, "min_p": {"type": "number", "minimum": 0, "maximum": 1},
              "repeat_penalty": {"type": "number", "minimum": 0.01, "maximum": 10},
              "presence_penalty": {"type": "number", "minimum": -2, "maximum": 2}, "frequency_penalty": {"type": "number", "minimum": -2, "maximum": 2},
              "seed": {"type": "integer", "minimum": -9223372036854775808, "maximum": 9223372036854775807},
              "num_predict": {"type": "integer", "minimum": -2, "maximum": 16777216},
              "stop": {"type": "array", "maxItems": 4, "items": {"type": "string", "minLength": 1}}}},
          "OllamaCommon": {"type": "object", "properties": {
            "model": {"type": "string", "minLength": 1},
            "format": {"oneOf": [{"enum": ["json", "", null]}, {"type": "object"}]},
            "think": {"oneOf": [{"type": ["boolean", "null"]}, {"enum": ["low", "medium", "high"]}]},
            "stream": {"type": "boolean"}, "keep_alive": {},
            "options": {"oneOf": [{"$ref": "#/components/schemas/OllamaOptions"}, {"type": "null"}]}}},
          "OllamaChatRequest": {"type": "object", "required": ["model", "messages"], "additionalProperties": false,
            "properties": {
              "model": {"$ref": "#/components/schemas/OllamaCommon/properties/model"},
              "format": {"$ref": "#/components/schemas/OllamaCommon/properties/format"},
              "think": {"$ref": "#/components/schemas/OllamaCommon/properties/think"},
              "stream": {"type": "boolean"}, "keep_alive": {},
              "options": {"$ref": "#/components/schemas/OllamaCommon/properties/options"},
              "tools": {"type": "array", "maxItems": 128, "items": {"$ref": "#/components/schemas/Tool"}},
              "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role"], "additionalProperties": false,
                "properties": {"role": {"enum": ["system", "user", "assistant", "tool"]}, "content": {"type": "string"},
                  "images": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}},
                  "thinking": {"type": "string"}, "tool_name": {"type": "string"}, "tool_call_id": {"type": "string"},
                  "name": {"type": "string"},
                  "tool_calls": {"type": "array", "items": {"type": "object", "required": ["function"]}}}}}}},
          "OllamaGenerateRequest": {"type": "object", "required": ["model"], "additionalProperties": false,
            "properties": {
              "model": {"$ref": "#/components/schemas/OllamaCommon/properties/model"},
              "format": {"$ref": "#/components/schemas/OllamaCommon/properties/format"},
              "think": {"$ref": "#/components/schemas/OllamaCommon/properties/think"},
              "stream": {"type": "boolean"}, "keep_alive": {},
              "options": {"$ref": "#/components/schemas/OllamaCommon/properties/options"},
              "prompt": {"type": "string"}, "system": {"type": "string"}, "raw": {"type": "boolean"},
              "images": {"type": ["array", "null"], "items": {"type": "string", "minLength": 1}}}},
          "OllamaAnswer": {"description": "One object of the answer (the last has done: true), or an error object", "oneOf": [
            {"type": "object", "required": ["model", "created_at", "done"], "properties": {"model": {"type": "string"},
              "created_at": {"type": "string"}, "done": {"type": "boolean"}, "response": {"type": "string"},
              "message": {"type": "object", "required": ["role", "content"]}}},
            {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}]},
          "Tool": {"type": "object", "required": ["type", "function"], "additionalProperties": false, "properties": {
            "type": {"const": "function"},
            "function": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
              "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "description": {"type": "string"},
              "strict": {"type": "boolean"},
              "parameters": {"type": "object", "description": "JSON Schema of the arguments; calls are constrained to it"}}}}},
          "ContentPart": {"oneOf": [
            {"type": "object", "required": ["type", "text"], "additionalProperties": false,
             "properties": {"type": {"const": "text"}, "text": {"type": "string"}}},
            {"type": "object", "required": ["type", "image_url"], "additionalProperties": false,
             "properties": {"type": {"const": "image_url"}, "image_url": {"type": "object", "required": ["url"],
               "additionalProperties": false, "properties": {"url": {"type": "string", "minLength": 1},
               "detail": {"enum": ["auto", "low", "high"]}}}}}]},
          "ResponseFormat": {"oneOf": [
            {"type": "object", "required": ["type"], "additionalProperties": false,
             "properties": {"type": {"enum": ["text", "json_object"]}}},
            {"type": "object", "required": ["type", "json_schema"], "additionalProperties": false,
             "properties": {"type": {"const": "json_schema"}, "json_schema": {"type": "object", "required": ["name", "schema"],
               "additionalProperties": false, "properties": {
                 "name": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}, "description": {"type": "string"},
                 "strict": {"type": "boolean"}, "schema": {"type": "object"}}}}}]}
        }
      }
    }
    """#
}
