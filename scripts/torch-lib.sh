# Sourced by the scripts that run a release mynah-train on a lent GPU machine: the binary's
# rpath names the build machine's .venv, so where libtorch is not found there, point
# LD_LIBRARY_PATH at the torch that machine has (/opt/torch/.venv, else python3's).
#   usage: find_torch_lib BINARY
find_torch_lib() {
  ldd "$1" | grep -q 'libtorch_cpu.so => not found' || return 0
  local torch_lib
  torch_lib=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -n1 || true)
  [ -n "$torch_lib" ] || torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}
