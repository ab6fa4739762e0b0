import CSupport
import Foundation
import IPC
import WorkerProtocol

// modelhost-worker: one process per loaded model, spawned by the orchestrator's supervisor.
//
//   modelhost-worker --segment NAME --parent-pid PID    serve the rings of shared-memory segment NAME
//   modelhost-worker --model PATH [--plugin-path DIR]   load check: open the model through its plugin and exit
//
// In serve mode the worker asks the kernel to SIGKILL it when the orchestrator dies, then checks that the
// orchestrator did not die before that request took effect. The environment switch MODELHOST_TEST_NO_PDEATHSIG=1
// (tests only) skips the kernel request so tests can create a surviving orphan for the registry to reap.

func argument(_ name: String) -> String? {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count else { return nil }
    return args[i + 1]
}

func fail(_ message: String, status: Int32 = 1) -> Never {
    WorkerLog.write(message)
    exit(status)
}

/// Serves one segment until shutdown or until the orchestrator is gone.
func serve(segmentName: String, parentPID: pid_t) -> Never {
    // The orchestrator routes SIGTERM/SIGINT to signal sources (which may leave them ignored or blocked in the
    // spawning thread, and exec keeps both); a worker must die of them as usual.
    signal(SIGTERM, SIG_DFL)
    signal(SIGINT, SIG_DFL)
    // Descriptors the orchestrator itself inherited without close-on-exec (a test harness's pipes, a shell's
    // files) must not live on in a worker: a held pipe end keeps someone else waiting for an EOF.
    closefrom(3)
    var handled = sigset_t()
    sigemptyset(&handled)
    sigaddset(&handled, SIGTERM)
    sigaddset(&handled, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &handled, nil)
    if ProcessInfo.processInfo.environment["MODELHOST_TEST_NO_PDEATHSIG"] != "1" {
        guard mh_set_parent_death_signal(SIGKILL) == 0 else { fail("prctl(PR_SET_PDEATHSIG) failed: errno \(errno)") }
    }
    // The parent may have died between spawning us and the prctl above; then no signal will ever come.
    guard getppid() == parentPID else { fail("the orchestrator (pid \(parentPID)) is already gone") }

    let channel: RingChannel
    do {
        let segment = try SharedMemorySegment.attach(name: segmentName)
        channel = try RingChannel(segment: segment, peer: .pid(segment.creatorPID))
    } catch {
        fail("cannot attach \(segmentName): \(error)")
    }
    let events = EventSink(channel: channel)

    // The first frame must be the load request.
    var first: Frame?
    while first == nil {
        do {
            first = try channel.receive(deadline: .after(seconds: 5))
        } catch {
            fail("orchestrator gone before the load request: \(error)")
        }
    }
    guard let loadFrame = first else { fail("unreachable") }
    let loaded: LoadedWorker
    do {
        guard case .load(let request) = try WorkerRequest.decode(type: loadFrame.type, payload: loadFrame.payload) else {
            events.send(.error(WorkerFailure(.badRequest, "the first request must be load")),
                        requestID: loadFrame.requestID)
            fail("the first request was not load", status: 2)
        }
        let loadID = loadFrame.requestID
        loaded = try ModelLoader.load(request) { fraction in events.send(.loadProgress(fraction), requestID: loadID) }
        WorkerLog.write("loaded \(request.modelPath) with \(loaded.info.pluginID) \(loaded.info.pluginVersion)")
        events.send(.loaded(loaded.info), requestID: loadFrame.requestID)
        let inbox = Inbox()
        let load = LoadBoard()
        let reason: String
        switch loaded {
        case .decoder(let loaded):
            let scheduler = DecodeScheduler(model: loaded.model, engine: loaded.engine, host: loaded.host,
                                            events: events, inbox: inbox, load: load,
                                            maxSequences: Int(request.maxSequences),
                                            prefixCacheBytes: Int(clamping: request.prefixCacheBytes))
            RequestReader(channel: channel, inbox: inbox, events: events, tokenizer: loaded.engine.tokenizer,
                          load: load) {
                scheduler.interrupt(requestID: $0)
            }.start()
            reason = scheduler.run()
        case .encoder(let loaded):
            // Cancels are taken between encoder calls (each is bounded by the batch budget).
            let scheduler = EncodeScheduler(model: loaded.model, tokenizer: loaded.tokenizer, events: events,
                                            inbox: inbox, load: load)
            RequestReader(channel: channel, inbox: inbox, events: events, tokenizer: loaded.tokenizer,
                          load: load) { _ in }.start()
            reason = scheduler.run()
        }
        WorkerLog.write("stopping: \(reason)")
        channel.close()
        exit(0)
    } catch let failure as WorkerFailure {
        events.send(.error(failure), requestID: loadFrame.requestID)
        channel.close()
        fail("load failed: \(failure)", status: 3)
    } catch {
        events.send(.error(WorkerFailure(.badRequest, "\(error)")), requestID: loadFrame.requestID)
        channel.close()
        fail("bad load request: \(error)", status: 2)
    }
}

/// The load check `modelhost serve` runs before the HTTP layer exists.
func loadCheck(modelPath: String) -> Never {
    do {
        let loaded = try ModelLoader.load(LoadRequest(
            modelPath: modelPath, threads: UInt32(ProcessInfo.processInfo.activeProcessorCount),
            pluginPin: ProcessInfo.processInfo.environment["MODELHOST_PLUGIN_PIN"] ?? "",
            pluginPaths: argument("--plugin-path").map { [$0] } ?? []))
        let info = loaded.info
        print("loaded \(modelPath) with \(info.pluginID) \(info.pluginVersion): vocab \(info.vocabularySize), "
            + "context \(info.contextLength)" + (info.embeddingLength > 0 ? ", embeddings of \(info.embeddingLength)" : ""))
        exit(0)
    } catch {
        fail("\(error)")
    }
}

if let segment = argument("--segment") {
    guard let parent = argument("--parent-pid").flatMap({ pid_t($0) }), parent > 1 else {
        fail("--segment needs --parent-pid PID (the orchestrator's pid)", status: 2)
    }
    serve(segmentName: segment, parentPID: parent)
} else if let model = argument("--model") {
    loadCheck(modelPath: model)
} else {
    fail("usage: modelhost-worker --segment NAME --parent-pid PID | --model PATH [--plugin-path DIR]", status: 2)
}
