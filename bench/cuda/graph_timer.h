// Timing for glint_cuda_bench: kernels replayed in a CUDA graph, so that launch costs stay out.
#pragma once
#include <cuda_runtime.h>

#include "core/cuda_runtime.h"

namespace glint::bench {

// Median-free and simple: the mean over `replays` replays of a graph of `launches` launches, in microseconds.
template <typename Launch>
double time_graph(cudaStream_t stream, int launches, int replays, Launch&& launch) {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  for (int i = 0; i < launches; ++i) launch(i);  // warm-up (and one-time setup) outside the capture
  GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
  GLINT_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < launches; ++i) launch(i);
  GLINT_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  GLINT_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  GLINT_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t start, stop;
  GLINT_CUDA_CHECK(cudaEventCreate(&start));
  GLINT_CUDA_CHECK(cudaEventCreate(&stop));
  GLINT_CUDA_CHECK(cudaEventRecord(start, stream));
  for (int r = 0; r < replays; ++r) GLINT_CUDA_CHECK(cudaGraphLaunch(exec, stream));
  GLINT_CUDA_CHECK(cudaEventRecord(stop, stream));
  GLINT_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  GLINT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return 1e3 * double(ms) / double(launches * replays);
}

}  // namespace glint::bench
