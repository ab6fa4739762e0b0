import Foundation
import Hummingbird
import Logging
import struct ModelPull.HubPull

/// `POST /admin/pull`: a pull's progress as server-sent events (`{"status": "downloading", "file", "completed",
/// "total", ...}` at most every 200 ms per file, then `{"status": "success", "model", "files", ...}` or
/// `{"error": "..."}`), or with `stream: false` one JSON answer when it is done. The download goes on if the client
/// hangs up (a later pull finds it complete, or resumes it).
enum PullRoute {
    static func respond(_ spec: String, stream: Bool, backend: any InferenceBackend, logger: Logger) async throws
        -> Response
    {
        let (events, sink) = AsyncStream<JSONValue>.makeStream()
        let work = Task {
            do throws(BackendError) {
                let result = try await backend.pull(spec) { p in
                    sink.yield(["status": "downloading", "file": .string(p.file), "completed": .integer(p.done),
                                "total": .integer(p.total), "file_index": JSONValue(p.fileIndex),
                                "file_count": JSONValue(p.fileCount)])
                }
                logger.notice("pulled \(spec) as \(result.modelID) (\(result.bytesDownloaded) bytes)")
                sink.yield(success(result))
            } catch {
                sink.yield(APIError(error).body)
            }
            sink.finish()
        }
        guard stream else {
            var last: JSONValue = .null
            for await event in events { last = event }
            _ = await work.value
            if case .object(let fields) = last, let error = fields["error"], case .object(let e) = error,
               case .string(let message)? = e["message"] {
                throw APIError.invalid(message, param: "model", code: "pull_failed")
            }
            return .json(last)
        }
        let body = ResponseBody { writer in
            var sse = SSEWriter(writer: writer)
            for await event in events { try await sse.data(event) }
            try await sse.finish()
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func success(_ result: HubPull.Result) -> JSONValue {
        ["status": "success", "model": .string(result.modelID), "files": .array(result.files.map(JSONValue.string)),
         "bytes_downloaded": .integer(result.bytesDownloaded), "bytes_resumed": .integer(result.resumedBytes)]
    }
}
