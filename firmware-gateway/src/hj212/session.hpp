// SPDX-License-Identifier: Apache-2.0
// The data segments one HJ 212 data logger sends (docs/hj212.md): uploads of stored frames,
// split with PNUM/PNO when they outgrow the standard's 1024 characters, and the interaction
// replies 9011/9012/9013. Pure: the TCP session that sends them is uplink/hj212_link.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hj212/codec.hpp"

namespace gw::hj212 {

/// Who this gateway is to one platform.
struct Identity {
    std::string st;  ///< system code of uploads ("32"); replies use 91
    std::string pw;
    std::string mn;
    int version{kVersion2017};  ///< Flag version bits
};

/// ST of the interaction replies 9011..9015 (Table 5: system interaction).
inline constexpr std::string_view kInteractionSt = "91";

/// QnRtn (Table 7) and ExeRtn (Table 6) values this gateway sends.
enum class QnRtn : int { Ready = 1, Rejected = 2, PwError = 3, MnError = 4, CrcError = 9 };
enum class ExeRtn : int { Success = 1, Failed = 2, ConditionError = 3, NoData = 100 };

/// Data segments that carry the stored CP area `cp` ("DataTime=…;w01018-Avg=…,…"). One
/// segment when it fits in 1024 characters; otherwise the `;`-items after the first (the
/// DataTime) are spread over packets, each repeating the first item, with PNUM/PNO and Flag.D.
/// Throws std::invalid_argument when `cp` holds something the framing cannot carry.
std::vector<std::string> upload_segments(const Identity& identity, std::string_view qn,
                                         std::string_view cn, std::string_view cp,
                                         bool reply_requested);

/// A reply (9011/9012/9013) or a request answer without a reply flag: `cp` is the data area.
std::string reply_segment(const Identity& identity, std::string_view st, std::string_view qn,
                          std::string_view cn, std::string_view cp);

/// QN "YYYYMMDDhhmmsszzz" of a Unix ms instant in local time (UTC + offset).
std::string make_qn(std::int64_t unix_ms, std::int32_t utc_offset_min);

}  // namespace gw::hj212
