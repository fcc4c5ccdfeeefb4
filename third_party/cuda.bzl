"""strata_cuda_library: a cc_library with a CUDA implementation.

Under --config=cuda (define strata_cuda=1) the `cu_srcs` are compiled by
/usr/local/cuda/bin/nvcc into a static archive for sm_80 and sm_90 and linked
with cudart and cuBLAS; otherwise `cpu_srcs` are compiled instead, so a
CPU-only build never touches CUDA. The nvcc genrule is tagged manual, so
`bazel build //...` without the config does not try to run it.
"""

CUDA_PATH = "/usr/local/cuda"

NVCC_FLAGS = [
    "-O2",
    "-std=c++17",
    "-Xcompiler",
    "-fPIC",
    "-gencode=arch=compute_80,code=sm_80",
    "-gencode=arch=compute_90,code=sm_90",
    "-gencode=arch=compute_90,code=compute_90",
]

CUDA_LINKOPTS = [
    "-L" + CUDA_PATH + "/lib64",
    "-Wl,-rpath," + CUDA_PATH + "/lib64",
    "-lcublas",
    "-lcudart",
]

def strata_cuda_library(name, hdrs, cu_srcs, cpu_srcs = [], cu_hdrs = [], deps = [], visibility = None):
    """Defines cc_library `name`; see the module docstring.

    Args:
      name: the cc_library.
      hdrs: public headers (plain C++, no CUDA types).
      cu_srcs: .cu files compiled by nvcc under --config=cuda.
      cpu_srcs: .cc files compiled when CUDA is off.
      cu_hdrs: private headers the .cu files include.
      deps: cc deps (their headers must be usable from nvcc).
      visibility: visibility of the cc_library.
    """
    archive = "lib" + name + "_cuda.a"
    native.genrule(
        name = name + "_nvcc",
        srcs = cu_srcs + cu_hdrs + hdrs,
        outs = [archive],
        cmd = (CUDA_PATH + "/bin/nvcc -lib " + " ".join(NVCC_FLAGS) +
               " -I. -I$(GENDIR) -o $@ " +
               " ".join(["$(location " + s + ")" for s in cu_srcs])),
        message = "nvcc " + name,
        tags = ["manual"],
    )
    native.cc_library(
        name = name,
        hdrs = hdrs,
        srcs = select({
            "//:cuda": [":" + archive],
            "//conditions:default": cpu_srcs,
        }),
        linkopts = select({
            "//:cuda": CUDA_LINKOPTS,
            "//conditions:default": [],
        }),
        deps = deps,
        visibility = visibility,
    )
