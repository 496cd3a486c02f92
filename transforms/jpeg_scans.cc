#include "transforms/jpeg_scans.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace imgorigin::transforms {
namespace {

constexpr uint8_t kSos = 0xDA;
constexpr uint8_t kEoi = 0xD9;

// Markers that stand alone, without a length: SOI, TEM and the restart markers.
bool Standalone(uint8_t code) { return code == 0xD8 || code == 0x01 || (code >= 0xD0 && code <= 0xD7); }

}  // namespace

void JpegScanCounter::Feed(std::string_view bytes) {
  size_t i = 0;
  while (i < bytes.size() && state_ != State::kDone) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    switch (state_) {
      case State::kSoi0:
        state_ = byte == 0xFF ? State::kSoi1 : State::kDone;
        break;
      case State::kSoi1:
        state_ = byte == 0xD8 ? State::kMarker : State::kDone;
        break;
      case State::kMarker:
        state_ = byte == 0xFF ? State::kCode : State::kDone;
        break;
      case State::kCode:
      case State::kEntropyFf:
        if (byte == 0xFF) break;  // fill bytes
        if (state_ == State::kEntropyFf && (byte == 0 || (byte >= 0xD0 && byte <= 0xD7))) {
          state_ = State::kEntropy;  // a stuffed 0xFF or a restart marker inside the scan
        } else if (byte == kEoi) {
          state_ = State::kDone;
        } else if (Standalone(byte)) {
          state_ = State::kMarker;
        } else {
          code_ = byte;
          if (byte == kSos) ++scans_;
          state_ = State::kLength0;
        }
        break;
      case State::kLength0:
        remaining_ = uint32_t{byte} << 8;
        state_ = State::kLength1;
        break;
      case State::kLength1:
        remaining_ |= byte;
        if (remaining_ < 2) {
          state_ = State::kDone;
          break;
        }
        remaining_ -= 2;
        state_ = remaining_ > 0 ? State::kSkip : code_ == kSos ? State::kEntropy : State::kMarker;
        break;
      case State::kSkip: {
        const size_t n = std::min<size_t>(remaining_, bytes.size() - i);
        remaining_ -= static_cast<uint32_t>(n);
        i += n;
        if (remaining_ == 0) state_ = code_ == kSos ? State::kEntropy : State::kMarker;
        continue;
      }
      case State::kEntropy: {
        const void* ff = std::memchr(bytes.data() + i, 0xFF, bytes.size() - i);
        if (ff == nullptr) return;
        i = static_cast<size_t>(static_cast<const char*>(ff) - bytes.data()) + 1;
        state_ = State::kEntropyFf;
        continue;
      }
      case State::kDone:
        return;
    }
    ++i;
  }
}

common::Result<void> JpegScanCounter::Check(int max_scans) const {
  if (scans_ <= max_scans) return {};
  return common::Fail(common::ErrorCode::kTooLarge,
                      "source JPEG has " + std::to_string(scans_) + " scans, over the limit of " +
                          std::to_string(max_scans));
}

}  // namespace imgorigin::transforms
