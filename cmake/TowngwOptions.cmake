# SPDX-License-Identifier: Apache-2.0
# One INTERFACE target carries warnings and definitions for every towngw target,
# instead of global add_compile_options.
add_library(towngw_options INTERFACE)
target_compile_options(towngw_options INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                -Wno-sign-conversion)
if(TOWNGW_WERROR)
  target_compile_options(towngw_options INTERFACE -Werror)
endif()
target_include_directories(towngw_options INTERFACE ${CMAKE_BINARY_DIR}/generated)
# Asio: no deprecated APIs, header-only error_code.
target_compile_definitions(towngw_options INTERFACE BOOST_ASIO_NO_DEPRECATED
                                                    BOOST_ERROR_CODE_HEADER_ONLY)
