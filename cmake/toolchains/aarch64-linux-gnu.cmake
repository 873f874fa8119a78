# SPDX-License-Identifier: Apache-2.0
# Cross toolchain: Debian 12 host (amd64) -> arm64 gateway boards (aarch64-linux-gnu).
# Needs crossbuild-essential-arm64, the project's -dev packages as :arm64 (Debian multiarch) and,
# to run tests, qemu-user-static. scripts/cross-build.sh arm64 installs all of it and uses this:
#   cmake -S . -B build-cross-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
set(TOWNGW_CROSS_TRIPLET aarch64-linux-gnu)
set(TOWNGW_CROSS_QEMU qemu-aarch64-static)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
