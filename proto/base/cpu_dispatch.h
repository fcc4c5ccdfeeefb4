// STRATA_CLONE_FOR_AVX2: compiles a function twice, for AVX2 and for the
// baseline x86-64 the build targets (SSE2), and picks one when the program
// loads, by the CPU it runs on (GCC's and Clang's target_clones, an ifunc).
// For the hot loops over floats that the compiler vectorizes at -O2 (a
// pushed gradient's check, the client's gather; SGD's update through
// STRATA_TARGET_AVX2): built for the baseline they run 4 floats wide. Measured
// in docs/benchmarks.md (issue 16, "Seventh step"). The clones compute the same
// floats: ISO C++ mode keeps the compiler from contracting a * b + c into an
// FMA, and each element's arithmetic is the same whatever the vector width. A
// cloned function is not inlined: give it a whole row or block, not one
// element. Elsewhere (other CPUs, other compilers, or with STRATA_NO_CPU_CLONES
// defined) it expands to nothing.
#ifndef STRATA_PROTO_BASE_CPU_DISPATCH_H_
#define STRATA_PROTO_BASE_CPU_DISPATCH_H_

// STRATA_TARGET_AVX2, for what target_clones cannot clone (a virtual
// function): a second version built for AVX2, picked once by CpuHasAvx2().
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(STRATA_NO_CPU_CLONES)
#define STRATA_CLONE_FOR_AVX2 __attribute__((target_clones("avx2", "default")))
#define STRATA_TARGET_AVX2 __attribute__((target("avx2")))
inline bool CpuHasAvx2() { return __builtin_cpu_supports("avx2"); }
#else
#define STRATA_CLONE_FOR_AVX2
#define STRATA_TARGET_AVX2
inline bool CpuHasAvx2() { return false; }
#endif

#endif  // STRATA_PROTO_BASE_CPU_DISPATCH_H_
