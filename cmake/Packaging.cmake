# SPDX-License-Identifier: Apache-2.0
# Debian package of the gateway (issue #9): `cpack -G DEB` in a build directory writes
#   towngw_<version>-<revision>_<arch>.deb      (arch: amd64, arm64 or armhf)
# holding only the install component "gateway": towngwd, towngw, the production example config
# (a conffile), the device profiles, the systemd unit, the udev example and the docs.
# towngw-sim (a simulator, component "Unspecified") is not packaged.
#
#   /usr/sbin/towngwd                          /usr/bin/towngw
#   /etc/towngw/towngw.json (conffile)         /usr/share/towngw/devices/*.json
#   /lib/systemd/system/towngw.service         /usr/share/doc/towngw/{README.md,*.md,copyright}
#   /usr/lib/modules-load.d/towngw.conf        (usbserial, cdc_acm: see config/systemd/)
#   /usr/share/doc/towngw/examples/{towngw.json,lorawan-bins.json,99-towngw-serial.rules}
# Maintainer scripts: scripts/debian/{postinst,prerm,postrm}. /var/lib/towngw and the towngw
# user are created by postinst, not shipped.
#
# Options: -DTOWNGW_DEB_REVISION=N (default 1), -DTOWNGW_DEB_ARCHITECTURE=arm64 (default: the
# host's or the cross target's), -DTOWNGW_DEB_SHLIBDEPS=OFF (explicit Depends instead of
# dpkg-shlibdeps; the default for cross builds against a CMAKE_SYSROOT, see below).

set(TOWNGW_PACKAGE_COMPONENT gateway)
set(TOWNGW_DEB_REVISION "1" CACHE STRING "Debian revision of the towngw package (the -N in 0.1.0-N)")

# --- Debian architecture ---------------------------------------------------------------------
function(towngw_deb_architecture out)
  if(NOT CMAKE_CROSSCOMPILING)
    find_program(TOWNGW_DPKG_EXECUTABLE dpkg)
    if(TOWNGW_DPKG_EXECUTABLE)
      execute_process(COMMAND ${TOWNGW_DPKG_EXECUTABLE} --print-architecture
                      OUTPUT_VARIABLE arch OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE rc ERROR_QUIET)
      if(rc EQUAL 0 AND arch)
        set(${out} "${arch}" PARENT_SCOPE)
        return()
      endif()
    endif()
  endif()
  # Cross build (or no dpkg): the multiarch triplet says most, the processor the rest.
  set(triplet "${CMAKE_LIBRARY_ARCHITECTURE}")
  set(cpu "${CMAKE_SYSTEM_PROCESSOR}")
  if(triplet MATCHES "^aarch64-" OR cpu MATCHES "^(aarch64|arm64|ARM64)$")
    set(arch arm64)
  elseif(triplet MATCHES "^arm-.*gnueabihf$" OR cpu MATCHES "^arm")
    set(arch armhf)  # Debian's ARM 32-bit port for ARMv7 boards with an FPU
  elseif(triplet MATCHES "^x86_64-" OR cpu MATCHES "^(x86_64|amd64|AMD64)$")
    set(arch amd64)
  elseif(triplet MATCHES "^i[3-6]86-" OR cpu MATCHES "^i[3-6]86$")
    set(arch i386)
  else()
    message(WARNING "Packaging: no Debian architecture known for processor '${cpu}' "
                    "(triplet '${triplet}'); set -DTOWNGW_DEB_ARCHITECTURE=...")
    set(arch "${cpu}")
  endif()
  set(${out} "${arch}" PARENT_SCOPE)
endfunction()

towngw_deb_architecture(_towngw_default_deb_arch)
set(TOWNGW_DEB_ARCHITECTURE "${_towngw_default_deb_arch}" CACHE STRING
    "Debian architecture of the package (amd64, arm64, armhf)")

# --- install rules of the packaged files (component "gateway") ---------------------------------
# towngwd and towngw have theirs in firmware-gateway/CMakeLists.txt. /etc and /lib/systemd are
# absolute: a Debian package puts them there whatever the prefix (/usr in the package).
set(TOWNGW_INSTALL_CONFDIR "/etc/towngw" CACHE PATH "Where the configuration file is installed")
set(TOWNGW_INSTALL_UNITDIR "/lib/systemd/system" CACHE PATH "Where the systemd unit is installed")
set(TOWNGW_INSTALL_DATADIR "${CMAKE_INSTALL_DATADIR}/towngw")
set(TOWNGW_INSTALL_DOCDIR "${CMAKE_INSTALL_DATADIR}/doc/towngw")

# The configuration may hold MQTT credentials: never world-readable, not even between dpkg's
# unpack and postinst (which gives it to root:towngw 0640).
install(FILES config/towngw.json
        DESTINATION ${TOWNGW_INSTALL_CONFDIR}
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
file(GLOB _towngw_profiles CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/config/devices/*.json)
install(FILES ${_towngw_profiles}
        DESTINATION ${TOWNGW_INSTALL_DATADIR}/devices
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
install(FILES config/systemd/towngw.service
        DESTINATION ${TOWNGW_INSTALL_UNITDIR}
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
# USB serial drivers loaded at boot, before the unit resolves DeviceAllow=char-ttyUSB/-ttyACM.
install(FILES config/systemd/towngw-modules.conf
        DESTINATION lib/modules-load.d
        RENAME towngw.conf
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
install(FILES config/towngw.json config/examples/lorawan-bins.json
              config/udev/99-towngw-serial.rules
        DESTINATION ${TOWNGW_INSTALL_DOCDIR}/examples
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
file(GLOB _towngw_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${_towngw_docs}
        DESTINATION ${TOWNGW_INSTALL_DOCDIR}
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})
# Debian wants /usr/share/doc/PACKAGE/copyright.
set(_towngw_pkg_dir ${CMAKE_CURRENT_BINARY_DIR}/packaging)
file(WRITE ${_towngw_pkg_dir}/copyright
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: towngw

Files: *
Copyright: the towngw authors
License: Apache-2.0
 On Debian systems the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
")
install(FILES ${_towngw_pkg_dir}/copyright
        DESTINATION ${TOWNGW_INSTALL_DOCDIR}
        COMPONENT ${TOWNGW_PACKAGE_COMPONENT})

# --- control files ---------------------------------------------------------------------------
# dpkg-deb wants every conffile as an absolute path that exists in the package.
file(WRITE ${_towngw_pkg_dir}/conffiles "${TOWNGW_INSTALL_CONFDIR}/towngw.json\n")

# --- CPack -----------------------------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME towngw)
set(CPACK_PACKAGE_VENDOR "towngw")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_CONTACT "towngw maintainers <towngw@example.org>")
# Only the gateway component, as one ordinary (non-component) package. Staged with DESTDIR so
# the absolute destinations (/etc, /lib/systemd) land in the package, never on this machine.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};${TOWNGW_PACKAGE_COMPONENT};/")
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # RelWithDebInfo binaries are ~10x larger than stripped ones
# cpack packages what is built and never compiles: it runs the "preinstall" target, which would
# otherwise build everything out of date first (tests/package runs cpack from ctest, beside
# tests that run the binaries). `make package` still builds first; so does scripts/build.sh.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/packages)

set(CPACK_DEBIAN_PACKAGE_NAME towngw)
set(CPACK_DEBIAN_PACKAGE_VERSION "${PROJECT_VERSION}-${TOWNGW_DEB_REVISION}")
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE "${TOWNGW_DEB_ARCHITECTURE}")
set(CPACK_DEBIAN_FILE_NAME
    "towngw_${PROJECT_VERSION}-${TOWNGW_DEB_REVISION}_${TOWNGW_DEB_ARCHITECTURE}.deb")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/towngw/towngw")
# Synopsis: CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents this text as the extended one.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"towngwd polls water-quality probes, sewage flow meters and waste-bin level
sensors over Modbus RTU (RS-485), Modbus TCP, LoRaWAN (ChirpStack) and the
board's ADC, aggregates every sensor into wall-clock windows, keeps the
results in a local SQLite outbox and publishes them over MQTT (QoS 1).
.
towngw is the operator's and technician's command line: status, live
readings and field calibration.")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/scripts/debian/postinst
    ${PROJECT_SOURCE_DIR}/scripts/debian/prerm
    ${PROJECT_SOURCE_DIR}/scripts/debian/postrm
    ${_towngw_pkg_dir}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)  # scripts 0755, conffiles 0644

# Shared-library dependencies. Natively dpkg-shlibdeps reads them from the binaries. In a cross
# build it works when the target's libraries are installed as multiarch packages
# (libpaho-mqttpp-dev:arm64 ...; DEB_HOST_ARCH set below makes it look in /usr/lib/<triplet> and
# use <triplet>-objdump). Against a sysroot the libraries belong to no installed package, so
# dpkg-shlibdeps cannot name them: then the Depends below (Debian 12's library packages, the
# same that dpkg-shlibdeps finds natively) are used instead.
set(_towngw_shlibdeps_default ON)
if(CMAKE_CROSSCOMPILING AND CMAKE_SYSROOT)
  set(_towngw_shlibdeps_default OFF)
endif()
option(TOWNGW_DEB_SHLIBDEPS "Compute the package's library Depends with dpkg-shlibdeps"
       ${_towngw_shlibdeps_default})
set(TOWNGW_DEB_EXPLICIT_DEPENDS
    "libc6 (>= 2.34), libgcc-s1 (>= 3.0), libmodbus5 (>= 3.1.4), libpaho-mqtt1.3 (>= 1.3.0), libpaho-mqttpp3-1 (>= 1.2.0), libsqlite3-0 (>= 3.6.5), libssl3 (>= 3.0.0), libstdc++6 (>= 11)"
    CACHE STRING "Library Depends of the package when TOWNGW_DEB_SHLIBDEPS is OFF")
if(TOWNGW_DEB_SHLIBDEPS)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, ${TOWNGW_DEB_EXPLICIT_DEPENDS}")
endif()

# Read by cpack at packaging time (not at configure time): in a cross build, dpkg-shlibdeps must
# know the target architecture.
set(CPACK_PROJECT_CONFIG_FILE ${_towngw_pkg_dir}/CPackProjectConfig.cmake)
set(_towngw_cpack_project_config "# Generated by cmake/Packaging.cmake.\n")
if(CMAKE_CROSSCOMPILING)
  string(APPEND _towngw_cpack_project_config
         "if(CPACK_DEBIAN_PACKAGE_SHLIBDEPS)\n"
         "  set(ENV{DEB_HOST_ARCH} \"${TOWNGW_DEB_ARCHITECTURE}\")\n"
         "endif()\n")
endif()
file(WRITE ${CPACK_PROJECT_CONFIG_FILE} "${_towngw_cpack_project_config}")

include(CPack)
