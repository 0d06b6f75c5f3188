// Host stand-ins for the CUDA built-ins `layers.cu` uses. Its kernels use no shared memory
// and no barriers, so running the threads of a launch one after another on the CPU is
// a faithful execution of the same code.
#pragma once

#define __global__
#define __device__
#define __forceinline__ inline

struct gv_dim3 {
    unsigned x, y, z;
};

extern thread_local gv_dim3 threadIdx;
extern thread_local gv_dim3 blockIdx;
extern thread_local gv_dim3 blockDim;
