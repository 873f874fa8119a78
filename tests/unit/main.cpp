// SPDX-License-Identifier: Apache-2.0
// Catch2 main for towngw_unit_tests; the test cases live in the other files of this directory.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
