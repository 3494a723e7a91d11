"""The LLVM CPU backend: fused graphs compiled with llvmlite to one native entry point."""
