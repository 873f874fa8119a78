# SPDX-License-Identifier: Apache-2.0
# Cross toolchain: Debian 12 host (amd64) -> armhf gateway boards (arm-linux-gnueabihf: 32-bit
# ARMv7, hard float). Needs crossbuild-essential-armhf, the project's -dev packages as :armhf
# (Debian multiarch) and, to run tests, qemu-user-static. scripts/cross-build.sh armhf installs
# all of it and uses this:
#   cmake -S . -B build-cross-armhf -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/arm-linux-gnueabihf.cmake
set(TOWNGW_CROSS_TRIPLET arm-linux-gnueabihf)
set(TOWNGW_CROSS_QEMU qemu-arm-static)
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)
# GCC notes on 32-bit ARM that passing some aggregates (std::pair, iterators) "changed in GCC 7.1"
# (-Wpsabi): ~900 lines per build, relevant only when linking with code built by GCC < 7.1,
# and all of Debian 12 is built with GCC 12.
set(CMAKE_CXX_FLAGS_INIT "-Wno-psabi")
include(${CMAKE_CURRENT_LIST_DIR}/debian-multiarch.cmake)
