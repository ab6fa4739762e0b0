// The thread pool lives in the plugins' shared KernelThreads module; the Llama kernels' users (the plugin, the bench,
// the tests) get it with `import LlamaKernels` as before.
@_exported import KernelThreads
