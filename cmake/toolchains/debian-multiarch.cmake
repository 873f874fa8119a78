# SPDX-License-Identifier: Apache-2.0
# Shared part of the Debian cross toolchains (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake):
# they set TOWNGW_CROSS_TRIPLET, TOWNGW_CROSS_QEMU, CMAKE_SYSTEM_NAME and CMAKE_SYSTEM_PROCESSOR,
# then include this file. Not a toolchain file on its own.
#
# Target libraries come from Debian multiarch: libfoo-dev:<arch> installs into
# /usr/lib/<triplet> (and shares /usr/include), next to the host's amd64 packages. A sysroot
# (target .debs unpacked into a directory) works too: pass -DCMAKE_SYSROOT=DIR.

# Debian's cross compilers (crossbuild-essential-<arch>).
set(CMAKE_C_COMPILER ${TOWNGW_CROSS_TRIPLET}-gcc)
set(CMAKE_CXX_COMPILER ${TOWNGW_CROSS_TRIPLET}-g++)

# Multiarch library directory: find_library/find_package look in /usr/lib/<triplet> (the target's
# libraries), never in the host's /usr/lib/x86_64-linux-gnu.
set(CMAKE_LIBRARY_ARCHITECTURE ${TOWNGW_CROSS_TRIPLET})

# Programs (pkg-config, mosquitto for the integration tests) run on the host; libraries, headers
# and CMake package configs must be the target's. Without a sysroot there is no root to re-root
# into, so ONLY searches the shared multiarch prefix /usr, where CMAKE_LIBRARY_ARCHITECTURE picks
# the target's directory; with CMAKE_SYSROOT it keeps the host's /usr out entirely.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Belt and braces: the (amd64) host's own multiarch directory is never a valid answer.
list(APPEND CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/cmake)

# pkg-config (libmodbus) must read the target's .pc files, not the host's.
if(CMAKE_SYSROOT)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${CMAKE_SYSROOT}")
  set(ENV{PKG_CONFIG_LIBDIR}
      "${CMAKE_SYSROOT}/usr/lib/${TOWNGW_CROSS_TRIPLET}/pkgconfig:${CMAKE_SYSROOT}/usr/share/pkgconfig")
else()
  set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${TOWNGW_CROSS_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
endif()

# Run target binaries (Catch2's test discovery at build time, ctest) under qemu-user. -L is where
# qemu finds the target's dynamic loader, and the loader and libc.so.6 must come from the same
# glibc build:
# - with the multiarch libc6:<arch> installed (a dependency of the :<arch> -dev packages), the
#   loader is /lib/ld-linux-*.so.* and libc /lib/<triplet>/libc.so.6, both from libc6:<arch>, the
#   same glibc the boards run: "-L /" (no remapping). "-L /usr/<triplet>" would take the loader of
#   the cross toolchain's libc6-<arch>-cross (2.36-8cross1 on Debian 12) but libc.so.6 from
#   libc6:<arch> (2.36-9+deb12uN), found first through ld.so.cache; with that mix three unit
#   tests that start threads hung (the guest spinning in libc before the thread's clone).
# - with a sysroot: the sysroot's;  - with the cross libc only: /usr/<triplet>.
find_program(TOWNGW_CROSS_QEMU_EXECUTABLE ${TOWNGW_CROSS_QEMU})
if(TOWNGW_CROSS_QEMU_EXECUTABLE)
  if(CMAKE_SYSROOT)
    set(_towngw_qemu_prefix "${CMAKE_SYSROOT}")
  elseif(EXISTS /usr/lib/${TOWNGW_CROSS_TRIPLET}/libc.so.6 OR EXISTS /lib/${TOWNGW_CROSS_TRIPLET}/libc.so.6)
    set(_towngw_qemu_prefix /)
  else()
    set(_towngw_qemu_prefix /usr/${TOWNGW_CROSS_TRIPLET})
  endif()
  set(CMAKE_CROSSCOMPILING_EMULATOR "${TOWNGW_CROSS_QEMU_EXECUTABLE};-L;${_towngw_qemu_prefix}")
endif()
