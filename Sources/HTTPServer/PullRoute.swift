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
        let (progress, sink) = AsyncStream<HubPull.Progress>.makeStream()
        let work = Task { () -> Result<HubPull.Result, BackendError> in
            defer { sink.finish() }
            do throws(BackendError) {
                let result = try await backend.pull(spec) { sink.yield($0) }
                logger.notice("pulled \(spec) as \(result.modelID) (\(result.bytesDownloaded) bytes)")
                return .success(result)
            } catch {
                return .failure(error)
            }
        }
        guard stream else {
            switch await work.value {
            case .success(let result): return .json(success(result))
            case .failure(let error): throw APIError(error)
            }
        }
        let body = ResponseBody { writer in
            var sse = SSEWriter(writer: writer)
            for await p in progress {
                try await sse.data(["status": "downloading", "file": .string(p.file), "completed": .integer(p.done),
                                    "total": .integer(p.total), "file_index": JSONValue(p.fileIndex),
                                    "file_count": JSONValue(p.fileCount)])
            }
            switch await work.value {
            case .success(let result): try await sse.data(success(result))
            case .failure(let error): try await sse.data(APIError(error).body)
            }
            try await sse.finish()
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
    }

    static func success(_ result: HubPull.Result) -> JSONValue {
        ["status": "success", "model": .string(result.modelID), "files": .array(result.files.map(JSONValue.string)),
         "bytes_downloaded": .integer(result.bytesDownloaded), "bytes_resumed": .integer(result.resumedBytes)]
    }
}
